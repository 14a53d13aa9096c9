"""Job specs: what one benchmark job is, its stable id, and how a request (algorithms, a grid of
parameter values, repeats over seeds) expands into jobs.

A job is (algorithm, parameters, dataset, seed, holdout). Its ``job_id`` is the algorithm's name
and a hash of that content, so the same job has the same id on every machine, and a resumed or
extended run can tell which jobs it already holds. (:mod:`mnistbench.run.experiment` expands a
request into jobs.)

An algorithm is a registered name, a ``"package.module:Class"``, or an estimator instance of
your own with a name, ``("my-svc", SVC(C=3))``: that becomes a :class:`NamedEstimator`, its
class and the parameters it was given other than their defaults, so its jobs have stable ids
and each job builds a fresh copy.
"""

import ast
import hashlib
import inspect
import json
import re
from dataclasses import dataclass, field

import numpy as np

from mnistbench.classifiers.base import is_classifier
from mnistbench.classifiers.registry import (algorithm_names, check_algorithm, get_classifier,
                                             is_class_path, registered)
from mnistbench.errors import ParameterError

# jobs once had a training transform, always "none"; it stays in the hash so ids stay the same
RETIRED_TRANSFORM = "none"


@dataclass(frozen=True)
class JobSpec:
    """One benchmark job.

    Attributes
    ----------
    algorithm : str
        Registered algorithm name.
    params : dict
        Parameter overrides (``--set`` and ``--grid`` values); the preset and the adapter's
        defaults supply the rest.
    dataset : str
    seed : int
        Passed as ``random_state`` to adapters that have one.
    holdout : bool
        Whether the fit leaves out the last 10% of the training set, evaluated as the
        ``holdout`` condition (for choosing a selective-prediction threshold).
    target : str, optional
        ``"module:Class"`` of an estimator given as an instance: ``algorithm`` is then the name
        it was given.
    """

    algorithm: str
    params: dict = field(default_factory=dict)
    dataset: str = "mnist"
    seed: int = 0
    holdout: bool = False
    target: str = None

    @property
    def job_id(self):
        """``<algorithm>-<10 hex digits>``: a hash of the spec, the same on every machine
        (characters other than letters, digits, ``_``, ``.`` and ``-`` in the name become
        ``-``, so the id is a folder name everywhere)."""
        content = {"algorithm": self.algorithm, "params": encode_params(self.params),
                   "dataset": self.dataset, "seed": self.seed, "transform": RETIRED_TRANSFORM}
        if self.holdout:  # only when set, so the ids of jobs without one stay what they were
            content["holdout"] = True
        if self.target is not None:
            content["target"] = self.target
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:10]
        return f"{re.sub(r'[^A-Za-z0-9_.-]', '-', self.algorithm)}-{digest}"

    def encoded_params(self):
        """The parameters as Python literals (see :func:`encode_params`)."""
        return encode_params(self.params)

    def to_dict(self):
        """The spec as JSON-ready values (parameters as Python literals), with its id."""
        return {"job_id": self.job_id, "algorithm": self.algorithm,
                "params": encode_params(self.params), "dataset": self.dataset,
                "seed": self.seed, "holdout": self.holdout,
                **({"target": self.target} if self.target is not None else {})}

    @classmethod
    def from_dict(cls, record):
        """Inverse of :meth:`to_dict` (a record's ``transform``, from older runs, is ignored)."""
        return cls(record["algorithm"], decode_params(record["params"]), record["dataset"],
                   record["seed"], record.get("holdout", False), record.get("target"))


@dataclass(frozen=True)
class NamedEstimator:
    """An estimator instance given to the runner with a name: its class as ``target``
    (``"module:Class"``) and the parameters it was given other than their defaults."""

    name: str
    target: str
    params: dict = field(default_factory=dict)

    @classmethod
    def from_instance(cls, name, estimator):
        """``NamedEstimator`` of ``estimator``, checked; ``random_state`` is left to the job's
        seed."""
        if not isinstance(name, str) or not name or "," in name:
            raise ParameterError(f"an estimator's name must be a non-empty string without "
                                 f"commas, got {name!r}")
        if name in registered() or is_class_path(name):
            raise ParameterError(f"'{name}' names an algorithm already; give your estimator "
                                 "another name")
        if not is_classifier(estimator):
            raise ParameterError(f"'{name}' is not a scikit-learn classifier: {estimator!r}")
        signature = inspect.signature(type(estimator).__init__).parameters
        given = {key: value for key, value in estimator.get_params(deep=False).items()
                 if key != "random_state" and (key not in signature or repr(value) != repr(
                     signature[key].default))}
        return cls(name, f"{type(estimator).__module__}:{type(estimator).__qualname__}", given)

    def to_dict(self):
        return {"name": self.name, "target": self.target, "params": encode_params(self.params)}

    @classmethod
    def from_dict(cls, record):
        return cls(record["name"], record["target"], decode_params(record["params"]))


def encode_params(params):
    """``{"k": (1, 3)}`` -> ``{"k": "(1, 3)"}``: each value as the Python literal it was, so a
    tuple stays a tuple through JSON."""
    return {name: encode_value(value) for name, value in sorted(params.items())}


def decode_params(encoded):
    """Inverse of :func:`encode_params`."""
    return {name: decode_value(text) for name, text in encoded.items()}


def encode_value(value):
    """A parameter value as the Python literal that reads back as it."""
    return repr(to_builtin(value))


def decode_value(text):
    """Inverse of :func:`encode_value`.

    Raises
    ------
    ParameterError
        For a value that was not a Python literal (an estimator given as a parameter, say).
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ParameterError(f"the parameter value {text} cannot be read back: it is not a "
                             "Python literal") from None


def to_builtin(value):
    """``value`` with numpy scalars and arrays turned into plain Python values."""
    if isinstance(value, dict):
        return {str(key): to_builtin(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_builtin(item) for item in value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def algorithm_list(algos):
    """``"all"``, ``"knn,tree"`` or a list of names (registered, or ``"module:Class"``) and
    ``(name, estimator)`` pairs (or bare estimators, named by their class), as a checked list of
    names and :class:`NamedEstimator` s, each name once."""
    if isinstance(algos, str):
        algos = [name.strip() for name in algos.split(",") if name.strip()]
    algos = list(algos)
    if algos == ["all"]:
        return algorithm_names()
    if not algos:
        raise ParameterError(f"no algorithm given; choose from: {', '.join(algorithm_names())} "
                             "(or 'all')")
    entries = {}
    for entry in algos:
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
            entry = NamedEstimator.from_instance(*entry)
        elif not isinstance(entry, (str, NamedEstimator)):
            entry = NamedEstimator.from_instance(type(entry).__name__, entry)
        if isinstance(entry, str):
            check_algorithm(entry)
        entries.setdefault(entry_name(entry), entry)  # a name given twice runs once
    return list(entries.values())


def entry_name(entry):
    """The name an entry of :func:`algorithm_list` runs under."""
    return entry.name if isinstance(entry, NamedEstimator) else entry


def owner(key, names):
    """The algorithm among ``names`` that options given for ``key`` belong to: ``key`` itself,
    or the one ``"module:Class"`` whose class is named ``key`` (``--set ClassName.param=v``)."""
    if key in names:
        return key
    matches = [name for name in names if is_class_path(name) and name.rpartition(":")[2] == key]
    return matches[0] if len(matches) == 1 else key


def spread_all(given, names):
    """``{"all": {...}, "knn": {...}}`` -> each of ``names`` with the ``all`` values, under its
    own."""
    if "all" not in given:
        return given
    spread = {name: {**given["all"], **given.get(name, {})} for name in names}
    return {**{name: values for name, values in given.items() if name != "all"}, **spread}


def owned(given, names, option):
    """``given`` keyed by the algorithm each key names among ``names`` (a ``"module:Class"`` by
    its class name too); a key that names none of them raises ParameterError."""
    result = {}
    for key, values in given.items():
        name = owner(key, names)
        if name not in names:
            check_algorithm(name)
            raise ParameterError(f"{option} values were given for '{key}', which is not among "
                                 f"the algorithms to run ({', '.join(names)})")
        result[name] = {**result.get(name, {}), **values}
    return result


def build_classifier(spec, verbose=False):
    """The job's adapter with its parameters, seeded, and verbose if asked and able."""
    classifier = get_classifier(spec.target or spec.algorithm, **spec.params)
    defaults = classifier.get_params()
    extra = {}
    # a wrapped estimator of your own takes the seed as its estimator's random_state
    for seed_param in ("random_state", "estimator__random_state"):
        if seed_param in defaults:
            extra[seed_param] = spec.seed
            break
    if verbose and "verbose" in defaults and "verbose" not in spec.params:
        extra["verbose"] = 1
    classifier.set_params(**extra)
    classifier.check_all_params()  # again: set_params checks nothing
    return classifier
