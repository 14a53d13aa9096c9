"""Errors a user can cause and fix; the CLI turns them into one line and exit code 2."""


class MnistbenchError(Exception):
    """Base class for errors caused by user input (names, values, files)."""


class DataError(MnistbenchError):
    """A data file is missing, malformed or fails its checksum."""


class ParameterError(MnistbenchError, ValueError):
    """An unknown name or an invalid value for an algorithm, dataset or option."""


class MnistbenchWarning(UserWarning):
    """Something a user should know that does not stop the command (a damaged job left out);
    the CLI prints it as one line."""
