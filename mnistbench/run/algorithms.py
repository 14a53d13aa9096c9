"""The algorithms of an experiment: each a name, its parameters (one value each), its grid
(several values each; one job per combination) and, for an estimator of your own, its class.
"""

import itertools
import math
from dataclasses import dataclass, field, replace

from mnistbench.classifiers.registry import check_algorithm
from mnistbench.errors import ParameterError
from mnistbench.run.spec import (JobSpec, NamedEstimator, algorithm_list, build_classifier,
                                 encode_value, entry_name, owned, spread_all)


@dataclass(frozen=True)
class Algorithm:
    """One ``[algorithms.NAME]`` table: a name, its parameters (one value each), its grid (a
    list of values each; one job per combination) and, for an estimator of your own given as
    an instance, its class as ``target`` (``"module:Class"``)."""

    name: str
    params: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    target: str = None

    def combinations(self):
        """The parameters of each job, grid combination by combination."""
        for values in itertools.product(*self.grid.values()):
            yield {**self.params, **dict(zip(self.grid, values))}

    def size(self):
        return math.prod(len(values) for values in self.grid.values())


def algorithms_of(algos, params=None, grid=None):
    """:class:`Algorithm` s of ``algos`` (see :func:`~mnistbench.run.spec.algorithm_list`) with
    ``params`` and ``grid`` (``{algorithm: {parameter: value(s)}}``)."""
    entries = algorithm_list(algos)
    names = [entry_name(entry) for entry in entries]
    params = owned(spread_all(params or {}, names), names, "--set")
    grid = owned(spread_all(grid or {}, names), names, "--grid")
    return tuple(Algorithm(
        entry_name(entry), {**(entry.params if isinstance(entry, NamedEstimator) else {}),
                            **params.get(entry_name(entry), {})},
        {param: list(values) if isinstance(values, (list, tuple)) else values
         for param, values in grid.get(entry_name(entry), {}).items()},
        entry.target if isinstance(entry, NamedEstimator) else None) for entry in entries)


def checked_algorithm(algorithm, dataset, seed):
    """``algorithm`` checked (its name, its parameters: every grid value once, with the
    other axes at their first value) with each grid value once."""
    name = algorithm.name
    if algorithm.target is None:
        check_algorithm(name)
    for param in [*algorithm.params, *algorithm.grid]:
        if param == "random_state":
            raise ParameterError(f"{name}.random_state is set by --seed and --repeats, not by "
                                 "--set or --grid")
    both = sorted(set(algorithm.params) & set(algorithm.grid))
    if both:
        raise ParameterError(f"{name}.{both[0]} is given by both --set and --grid")
    grid = {}
    for param, values in algorithm.grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ParameterError(f"--grid {name}.{param} needs at least one value")
        grid[param] = list({encode_value(value): value for value in values}.values())
    first = {param: values[0] for param, values in grid.items()}
    for param, values in [(None, [None]), *grid.items()]:
        for value in values:
            params = {**algorithm.params, **first, **({} if param is None else {param: value})}
            build_classifier(JobSpec(name, params, dataset, seed, target=algorithm.target))
    return replace(algorithm, grid=grid)
