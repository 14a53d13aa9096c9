"""Errors a user can cause and fix; the CLI turns them into one line and exit code 2."""


class MnistbenchError(Exception):
    """Base class for errors caused by user input (names, values, files)."""


class DataError(MnistbenchError):
    """A data file is missing, malformed or fails its checksum."""


class ParameterError(MnistbenchError, ValueError):
    """An unknown name or an invalid value for an algorithm, dataset or option."""
