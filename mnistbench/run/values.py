"""Parameter values as written on the command line and in experiment files: ``knn.k=1,3,5``,
``none``, ``(1,3)``."""

import ast

import numpy as np

from mnistbench.errors import ParameterError


def parse_assignment(text, option="--set"):
    """``"knn.k=1,3,5"`` -> ``("knn", "k", [1, 3, 5])``; values are Python literals, split at the
    commas outside brackets and quotes, so ``"(1,3),(5,7)"`` is two tuples."""
    target, sep, raw = text.partition("=")
    algorithm, dot, param = target.rpartition(".")
    if not sep or not dot or not algorithm or not param or not raw.strip():
        raise ParameterError(f"{option} takes ALGO.PARAM=VALUE, e.g. knn.k=3; got '{text}'")
    return algorithm, param, [parse_value(part) for part in split_values(raw)]


def split_values(text):
    """``text`` split at the commas that are outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, ""
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return parts + [current]


def parse_value(text):
    """A Python literal if ``text`` is one (``none``/``true``/``false`` too), else the string."""
    text = text.strip()
    lowered = {"none": None, "true": True, "false": False}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def assignments(texts, option):
    """``--set``/``--grid`` texts as ``{algorithm: {parameter: value(s)}}``: a ``--set`` comma
    list is one tuple, a ``--grid`` one the list of values."""
    result = {}
    for text in texts or ():
        algorithm, param, values = parse_assignment(text, option)
        if option == "--set":
            values = tuple(values) if len(values) > 1 else values[0]
        result.setdefault(algorithm, {})[param] = values
    return result


def in_range(name, value, low, high):
    """Return ``value`` if it is an integer in ``[low, high]``, else raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not low <= value <= high:
        raise ParameterError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)
