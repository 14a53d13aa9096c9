"""Errors a user can cause and fix; the CLI turns them into one line and exit code 2 (1 for a
run stopped after it started)."""

import errno
import os

# what to do about the filesystem errors a user meets, by errno
FILESYSTEM_ADVICE = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space",
    errno.EROFS: "choose a folder you can write to",
    errno.EACCES: "choose a folder you can write to",
    errno.EPERM: "choose a folder you can write to",
    errno.ENAMETOOLONG: "choose a shorter name or a shallower folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file of that name is in the way",
    errno.ENOENT: "the folder was removed or never existed",
}


class MnistbenchError(Exception):
    """Base class for errors caused by user input (names, values, files)."""

    exit_code = 2


class DataError(MnistbenchError):
    """A data file is missing, malformed or fails its checksum."""


class ParameterError(MnistbenchError, ValueError):
    """An unknown name or an invalid value for an algorithm, dataset or option."""


class RunStopped(MnistbenchError):
    """A run that had started stopped on a fault around it (a full disk, a folder removed):
    its finished jobs are kept and ``--resume`` finishes it once the cause is gone."""

    exit_code = 1


class MnistbenchWarning(UserWarning):
    """Something a user should know that does not stop the command (a damaged job left out);
    the CLI prints it as one line."""


def filesystem_problem(exc):
    """An :class:`OSError` as a few words naming the path (where it has one) and the problem,
    e.g. ``"results/x/run.json: No space left on device (free some space)"``."""
    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else type(exc).__name__)
    advice = FILESYSTEM_ADVICE.get(exc.errno)
    said = reason + (f" ({advice})" if advice else "")
    if exc.filename is None:
        return said
    path = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
    return f"{path}: {said}"
