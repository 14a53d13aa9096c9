"""The TOML form of an experiment (see :mod:`mnistbench.run.experiment`): reading a file into
plain values, checked for their form, and writing one back.

A parameter value is read as the same text on the command line would be
(:func:`~mnistbench.run.values.parse_value`): a string that is a Python literal or
``none``/``true``/``false`` becomes that value, an array a tuple. Writing does the inverse, so
an experiment written and read back gives the same jobs.
"""

import math
import tomllib
from pathlib import Path

import numpy as np

from mnistbench.classifiers.registry import is_class_path
from mnistbench.errors import ParameterError
from mnistbench.run.spec import encode_value
from mnistbench.run.values import parse_value

CLASS_KEY, GRID_KEY = "class", "grid"  # keys of an [algorithms.NAME] table that are not params


def read_file(path):
    """The parsed TOML document in the file ``path``."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ParameterError(f"cannot read the experiment file {path}: {exc.strerror}") \
            from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path}: not a valid TOML file: {exc}") from None


def read_document(document, source, options):
    """``(algorithm tables, option values)`` of a parsed document: each ``[algorithms.NAME]``
    as ``{name, params, grid, target}``, and the values of the ``options`` keys it gives (a
    ``scheduler`` key is the ``address``), each checked for its type (``options``: ``{key:
    {"types": ..., "words": ...}}``)."""
    where = f"{source}: " if source else ""
    unknown = [key for key in document if key not in {*options, "algorithms", "scheduler"}]
    if unknown:
        raise ParameterError(f"{where}unknown key '{unknown[0]}'; the keys are: "
                             f"{', '.join(sorted({*options, 'algorithms'}))}")
    tables = document.get("algorithms", {})
    if not isinstance(tables, dict):
        raise ParameterError(f"{where}algorithms must be a table of [algorithms.NAME] tables, "
                             f"got {tables!r}")
    if not tables:
        raise ParameterError(f"{where}no algorithm to run: add an [algorithms.NAME] table, "
                             "e.g. [algorithms.knn]")
    algorithms = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ParameterError(f"{where}algorithms.{name} must be a table of parameters")
        algorithms.append(algorithm_from_table(name, table, where))
    values = {key: document[key] for key in options if key in document}
    if "scheduler" in document:  # the Dask scheduler's address, as --scheduler names it
        values["address"] = document["scheduler"]
    for key, value in values.items():
        expected = options[key]["types"]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ParameterError(f"{where}{key} must be {options[key]['words']}, got {value!r}")
    if "shifts" in values:
        values["shifts"] = tuple([values["shifts"]] if isinstance(values["shifts"], str)
                                 else values["shifts"])
    return algorithms, values


def toml_text(options, algorithms):
    """An experiment file: ``options`` (``(key, value)`` pairs) and each of ``algorithms``
    (``(name, target, params, grid)``) as its table."""
    lines = [f"{key} = {toml_value(list(value) if key == 'shifts' else value)}"
             for key, value in options]
    for name, target, params, grid in algorithms:
        lines += ["", f"[algorithms.{toml_key(name)}]"]
        if target:
            lines.append(f"{CLASS_KEY} = {toml_value(target)}")
        lines += [f"{toml_key(param)} = {toml_value(param_text(value))}"
                  for param, value in params.items()]
        if grid:
            lines += ["", f"[algorithms.{toml_key(name)}.{GRID_KEY}]"]
            lines += [f"{toml_key(param)} = "
                      f"[{', '.join(toml_value(param_text(value)) for value in values)}]"
                      for param, values in grid.items()]
    return "\n".join(lines) + "\n"


def algorithm_from_table(name, table, where):
    """An ``[algorithms.NAME]`` table as ``{name, params, grid, target}``, values read as on
    the command line."""
    params = {key: file_value(value) for key, value in table.items()
              if key not in (CLASS_KEY, GRID_KEY)}
    grid = table.get(GRID_KEY, {})
    if not isinstance(grid, dict):
        raise ParameterError(f"{where}algorithms.{name}.grid must be a table of value lists")
    for param, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ParameterError(f"{where}algorithms.{name}.grid.{param} must be a list of at "
                                 "least one value")
    target = table.get(CLASS_KEY)
    if target is not None and not (isinstance(target, str) and is_class_path(target)):
        raise ParameterError(f"{where}algorithms.{name}.class must be \"package.module:Class\", "
                             f"got {target!r}")
    return {"name": name, "params": params, "target": target,
            "grid": {param: [file_value(value) for value in values]
                     for param, values in grid.items()}}


def file_value(value):
    """A TOML value as a parameter: strings as on the command line, arrays as tuples."""
    if isinstance(value, str):
        return parse_value(value)
    if isinstance(value, list):
        return tuple(file_value(item) for item in value)
    return value


def param_text(value):
    """A parameter value in the form :func:`file_value` reads back as it: a tuple as an array,
    a string as itself when it reads back as itself, anything else as its Python literal."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return [param_text(item) for item in value]
    if isinstance(value, str) and parse_value(value) == value:
        return value
    if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
        return value
    return encode_value(value)


def toml_value(value):
    """A TOML literal: strings quoted, numbers and booleans as they are, lists as arrays."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return f"[{', '.join(toml_value(item) for item in value)}]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def toml_key(name):
    """A bare TOML key if ``name`` can be one, else a quoted one."""
    return name if name and all(c.isalnum() or c in "_-" for c in name) else toml_value(name)
