"""Where a run may write: never over a file of the user's.

A new run starts only in a new or empty folder (:func:`check_new_run_folder`), a models folder
is checked before the first job (:func:`writable_folder`), and a report replaces only the files
an earlier report wrote (:func:`check_report_files`). Each refusal is one
:class:`~mnistbench.errors.ParameterError` naming the path and the cause, before anything is
written.
"""

import contextlib
import os
import tempfile
from pathlib import Path

from mnistbench.errors import ParameterError, filesystem_problem
from mnistbench.run.loading import LOCK_FILE, RUN_FILE, run_state


def check_new_run_folder(directory):
    """Refuse ``directory`` for a new run unless it is absent or empty: a run never writes
    among a user's files (a folder holding a run is pointed to ``--resume``)."""
    directory = Path(directory)
    try:
        found = folder_entries(directory)
    except OSError as exc:  # a name past the system's limit, a folder that cannot be read
        raise ParameterError(f"--out {filesystem_problem(exc)}") from None
    if found is None:
        raise ParameterError(f"{directory} is a file, not a folder; choose another --out")
    if RUN_FILE in found:
        raise ParameterError(f"{directory} already holds a run ({run_state(directory)}); "
                             f"finish or extend it with --resume {directory}, or choose another "
                             "--out")
    found = [name for name in found if name != LOCK_FILE]  # left by a start that failed
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ParameterError(f"{directory} already holds files ({shown}); a run writes into a "
                             "new or empty folder, so choose another --out")


def folder_entries(directory):
    """The sorted names in ``directory``: ``[]`` if it does not exist, None if it is a file;
    OSError if it cannot be listed (a folder above it is a file, a name too long)."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        if Path(directory).is_file():
            return None
        raise  # a folder above it is a file


def writable_folder(directory, flag):
    """Check that the folder ``directory`` can be made if need be and hold a file; an error
    names ``flag`` (``--save-models``), the path and the cause. Folders made to check are
    removed again: the models folder may lie inside the run's own, which must start empty."""
    directory = Path(directory)
    made = []
    try:
        made = [folder for folder in (directory, *directory.parents) if not folder.exists()]
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except FileExistsError:
        raise ParameterError(f"{flag} {directory} is a file, not a folder") from None
    except OSError as exc:
        raise ParameterError(f"{flag} {filesystem_problem(exc)}") from None
    finally:
        for folder in made:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


# what the report writes into a run's folder, and how each file of ours begins: a file of that
# name that does not is a user's, and the report is refused rather than replace it
REPORT_FILES = {"report.html": b"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>"
                               b"mnistbench run:",
                "report.md": b"# mnistbench run:"}
FIGURES = "figures"
FIGURE_MARK = b"Software\x00Matplotlib"  # in the first chunks of every PNG matplotlib writes


def check_report_files(directory):
    """Refuse to write the report of the run in ``directory`` over a file that is not an
    earlier report's: ``report.html``, ``report.md`` or a PNG in ``figures/`` that a user put
    there (an earlier mnistbench could start a run among a user's files)."""
    directory = Path(directory)
    foreign = [name for name, mark in REPORT_FILES.items()
               if (directory / name).is_file() and not starts_with(directory / name, mark)]
    figures = directory / FIGURES
    if figures.exists() and not figures.is_dir():
        foreign.append(FIGURES)
    elif figures.is_dir():
        foreign += [f"{FIGURES}/{path.name}" for path in sorted(figures.glob("*.png"))
                    if FIGURE_MARK not in read_head(path, 200)]
    if foreign:
        raise ParameterError(f"{directory} holds {', '.join(foreign)} that the report would "
                             "replace and that an earlier report did not write; move "
                             f"{'them' if len(foreign) > 1 else 'it'} away first")


def read_head(path, size):
    with open(path, "rb") as file:
        return file.read(size)


def starts_with(path, mark):
    return read_head(path, len(mark)) == mark
