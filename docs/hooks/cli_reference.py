"""Generate reference/cli.md from the command line's own ``--help`` of every sub-command, at
build time, so the page cannot drift from the parsers."""

import contextlib
import io
import os
from unittest import mock

from mkdocs.structure.files import File

PAGE = "reference/cli.md"
WIDTH = 76  # characters of code that fit the Material theme's text column


def help_text(command):
    """What ``mnistbench COMMAND --help`` prints, wrapped to the width of the page's text."""
    from mnistbench import cli

    out = io.StringIO()
    # argparse wraps to the terminal's width, read from COLUMNS
    with mock.patch.dict(os.environ, {"COLUMNS": str(WIDTH)}), \
            contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli.main([command, "--help"])
    return out.getvalue().rstrip()


def cli_page():
    from mnistbench import cli

    sections = [f"## `mnistbench {command}`\n\n```text\n{help_text(command)}\n```\n"
                for command in cli.SUBCOMMANDS]
    return ("# Command line\n\n"
            "`python -m mnistbench` and the console script `mnistbench` are the same command. "
            f"Its sub-commands are {', '.join(f'`{c}`' for c in cli.SUBCOMMANDS)}; `run` is the "
            "default, so `mnistbench --algos knn` is `mnistbench run --algos knn`. This page is "
            "each sub-command's `--help`, generated from the parsers when the site was built.\n\n"
            + "\n".join(sections))


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=cli_page()))
    return files
