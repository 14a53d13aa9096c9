"""Generate reference/cli.md from the command line's own ``--help`` of every sub-command, at
build time, so the page cannot drift from the parsers."""

import contextlib
import io
import os

from mkdocs.structure.files import File

PAGE = "reference/cli.md"


def help_text(command):
    """What ``mnistbench COMMAND --help`` prints, at a fixed width."""
    from mnistbench import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli.main([command, "--help"])
    return out.getvalue().rstrip()


def cli_page():
    from mnistbench import cli

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the page has one width
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
