"""Job specs: what one benchmark job is, its stable id, and how a request (algorithms, a grid of
parameter values, repeats over seeds) expands into jobs.

A job is (algorithm, parameters, dataset, seed, training transform, holdout). Its ``job_id`` is
the algorithm's name and a hash of that content, so the same job has the same id on every
machine, and a resumed or extended run can tell which jobs it already holds.
"""

import ast
import hashlib
import itertools
import json
from dataclasses import dataclass, field

import numpy as np

from mnistbench.classifiers.registry import algorithm_names, check_algorithm, get_classifier
from mnistbench.errors import ParameterError

MAX_SEED = 2**32 - 1  # numpy's and TensorFlow's seeds are 32-bit
NO_TRANSFORM = "none"


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
    transform : str
        Transform applied to the training images; ``"none"`` for the original set.
        (Augmentation, which adds transformed copies, is the adapters' ``augment``.)
    holdout : bool
        Whether the fit leaves out the last 10% of the training set, evaluated as the
        ``holdout`` condition (for choosing a selective-prediction threshold).
    """

    algorithm: str
    params: dict = field(default_factory=dict)
    dataset: str = "mnist"
    seed: int = 0
    transform: str = NO_TRANSFORM
    holdout: bool = False

    @property
    def job_id(self):
        """``<algorithm>-<10 hex digits>``: a hash of the spec, the same on every machine."""
        content = {"algorithm": self.algorithm, "params": encode_params(self.params),
                   "dataset": self.dataset, "seed": self.seed, "transform": self.transform}
        if self.holdout:  # only when set, so the ids of jobs without one stay what they were
            content["holdout"] = True
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        return f"{self.algorithm}-{digest[:10]}"

    def to_dict(self):
        """The spec as JSON-ready values (parameters as Python literals), with its id."""
        return {"job_id": self.job_id, "algorithm": self.algorithm,
                "params": encode_params(self.params), "dataset": self.dataset,
                "seed": self.seed, "transform": self.transform, "holdout": self.holdout}

    @classmethod
    def from_dict(cls, record):
        """Inverse of :meth:`to_dict`."""
        return cls(record["algorithm"], decode_params(record["params"]), record["dataset"],
                   record["seed"], record["transform"], record.get("holdout", False))


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
    """Inverse of :func:`encode_value`."""
    return ast.literal_eval(text)


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
    """``"all"``, ``"knn,tree"`` or ``["knn", "tree"]`` as a checked list of names."""
    if isinstance(algos, str):
        algos = [name.strip() for name in algos.split(",") if name.strip()]
    algos = list(algos)
    if algos == ["all"]:
        return algorithm_names()
    if not algos:
        raise ParameterError(f"no algorithm given; choose from: {', '.join(algorithm_names())} "
                             "(or 'all')")
    for name in algos:
        check_algorithm(name)
    return list(dict.fromkeys(algos))  # a name given twice runs once


def expand_jobs(algos, dataset, seed=0, repeats=1, params=None, grid=None, holdout=False):
    """Expand a request into checked :class:`JobSpec` s, in the order they run.

    Parameters
    ----------
    algos : "all", str or list of str
    dataset : str
    seed : int
        The first seed.
    repeats : int
        Every job runs with seeds ``seed, seed + 1, ..., seed + repeats - 1``.
    params : dict, optional
        ``{algorithm: {parameter: value}}``, one value each (``--set``); the algorithm ``"all"``
        gives a value to every algorithm of the request (an algorithm's own value wins).
    grid : dict, optional
        ``{algorithm: {parameter: [value, ...]}}``: one job per value, the cross product over
        an algorithm's parameters (``--grid``); ``"all"`` as for ``params``.
    holdout : bool
        Every job leaves the last 10% of the training set out of its fit (see
        :class:`JobSpec`).

    Every name and value is checked here, so a typo fails in a second instead of after an hour
    of training.
    """
    algos = algorithm_list(algos)
    params, grid = for_each_algorithm(params or {}, algos), for_each_algorithm(grid or {}, algos)
    check_in_range_int("repeats", repeats, 1, MAX_SEED + 1)
    check_in_range_int("seed", seed, 0, MAX_SEED + 1 - repeats)
    for option, given in (("parameters", params), ("grid values", grid)):
        for name, values in given.items():
            check_algorithm(name)
            if name not in algos:
                raise ParameterError(f"{option} were given for '{name}', which is not among "
                                     f"the algorithms to run ({', '.join(algos)})")
            if "random_state" in values:
                raise ParameterError(f"{name}.random_state is set by --seed and --repeats, not "
                                     "by --set or --grid")
    for name, axes in grid.items():
        both = sorted(set(axes) & set(params.get(name, {})))
        if both:
            raise ParameterError(f"{name}.{both[0]} is given by both --set and --grid")
        for param, values in axes.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ParameterError(f"--grid {name}.{param} needs at least one value")
    jobs = {}
    for name in algos:
        axes = grid.get(name, {})
        for combination in itertools.product(*axes.values()):
            job_params = {**params.get(name, {}), **dict(zip(axes, combination))}
            for job_seed in range(seed, seed + repeats):
                spec = JobSpec(name, job_params, dataset, job_seed, holdout=holdout)
                build_classifier(spec)  # checks names and values, the seed included
                jobs.setdefault(spec.job_id, spec)
    return list(jobs.values())


def for_each_algorithm(given, algos):
    """``{"all": {...}, "knn": {...}}`` -> each of ``algos`` with the ``all`` values, under its
    own."""
    if "all" not in given:
        return given
    spread = {name: {**given["all"], **given.get(name, {})} for name in algos}
    return {**{name: values for name, values in given.items() if name != "all"}, **spread}


def check_in_range_int(name, value, low, high):
    """Return ``value`` if it is an integer in ``[low, high]``, else raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not low <= value <= high:
        raise ParameterError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def build_classifier(spec, verbose=False):
    """The job's adapter with its parameters, seeded, and verbose if asked and able."""
    classifier = get_classifier(spec.algorithm, **spec.params)
    defaults = classifier.get_params()
    extra = {}
    if "random_state" in defaults:
        extra["random_state"] = spec.seed
    if verbose and "verbose" in defaults and "verbose" not in spec.params:
        extra["verbose"] = 1
    classifier.set_params(**extra)
    classifier.check_all_params()  # again: set_params checks nothing
    return classifier
