"""The experiment: what a run is asked to do, in one object that parses, checks, serialises and
expands itself.

An experiment file is TOML (:mod:`mnistbench.run.experiment_file`; every key is described in
``docs/guide/experiments.md``)::

    dataset = "digits"
    repeats = 2
    [algorithms.knn]              # an algorithm at its defaults
    [algorithms.tree]
    max_depth = 10                # = --set tree.max_depth=10
    [algorithms.mlp.grid]
    batch_size = [32, 200]        # = --grid mlp.batch_size=32,200

The command line, :func:`~mnistbench.run.runner.run_benchmark` and experiment files all build an
:class:`Experiment`, and a file gives the same jobs, with the same ids, as the flags it stands
for. ``run.json`` keeps it resolved (:meth:`Experiment.to_json`); :meth:`Experiment.jobs`
expands it lazily, so the first job of any grid starts at once.
"""

from dataclasses import dataclass, field, fields, replace

from mnistbench.datasets.sources import DATASET_NAMES
from mnistbench.errors import ParameterError
from mnistbench.run.algorithms import Algorithm, algorithms_of, checked_algorithm
from mnistbench.run.conditions import parse_shifts
from mnistbench.run.experiment_file import read_document, read_file, toml_text
from mnistbench.run.spec import (JobSpec, NamedEstimator, decode_params, decode_value,
                                 encode_params, encode_value, owned, spread_all)
from mnistbench.run.values import assignments, in_range

MAX_SEED = 2**32 - 1  # numpy's and TensorFlow's seeds are 32-bit
MAX_JOBS_AT_ONCE = 1024
BACKENDS = ("local", "dask", "ray")
LARGE = 10_000  # jobs in a request that needs to be confirmed (--yes)


def key(default, types, words):
    """An option of the experiment, with the types a file may give it and how to say them."""
    return field(default=default, metadata={"types": types, "words": words})


@dataclass(frozen=True)
class Experiment:
    """What a run does: its algorithms and data, seeds, evaluation conditions, where jobs run.

    Attributes mirror the file's keys; see the module docstring and ``docs/guide/
    experiments.md``. ``n_jobs``, ``backend``, ``address`` and ``timeout`` say how one attempt
    runs and do not change the jobs; ``source`` is the file it was read from, for messages.
    """

    algorithms: tuple = ()
    dataset: str = key("mnist", str, "a string")
    data_dir: str = key(None, str, "a string (a folder)")
    seed: int = key(0, int, "an integer")
    repeats: int = key(1, int, "an integer")
    shifts: tuple = key((), (list, str), "a list of condition names")
    target_accuracy: float = key(None, (int, float), "a number")
    save_models: str = key(None, str, "a string (a folder)")
    n_jobs: int = key(1, int, "an integer")
    backend: str = key("local", str, "a string")
    address: str = key(None, str, "a string")
    timeout: float = key(None, (int, float), "a number of seconds")
    source: str = field(default=None, compare=False)

    @classmethod
    def from_options(cls, algos=None, params=None, grid=None, **options):
        """An experiment from :func:`~mnistbench.run.runner.run_benchmark`'s arguments:
        ``algos`` as :func:`~mnistbench.run.spec.algorithm_list` takes them, ``params`` and
        ``grid`` as ``{algorithm: {parameter: value(s)}}`` (``"all"`` for every algorithm, a
        ``"module:Class"`` keyed by its class name alone), the other options as they are."""
        given = {key: value for key, value in options.items() if value is not None}
        if "shifts" in given:
            given["shifts"] = shift_names(given["shifts"])
        return cls(algorithms_of("knn,tree" if algos is None else algos, params, grid), **given)

    @classmethod
    def from_file(cls, path):
        """The experiment declared in the TOML file ``path``, checked for its form (values are
        checked by :meth:`checked`)."""
        return cls.from_document(read_file(path), str(path))

    @classmethod
    def from_document(cls, document, source=None):
        """An experiment from a parsed TOML document (see the module docstring); ``source``
        names it in messages."""
        tables, values = read_document(document, source, options())
        return cls(tuple(Algorithm(**table) for table in tables), source=source, **values)

    @classmethod
    def from_args(cls, args):
        """The experiment of a parsed ``mnistbench run`` command line: its file
        (``args.experiment``) if it names one, with the flags given beside it overriding the
        file, else the flags alone."""
        options = args_options(args)
        experiment = cls.from_file(args.experiment).overridden_by(options) \
            if args.experiment else cls.from_options(**options)
        for flag, value, backend in (("--scheduler", args.scheduler, "dask"),
                                     ("--address", args.address, "ray")):
            if value is not None and experiment.backend != backend:
                raise ParameterError(f"{flag} is for --backend {backend}")
        return experiment

    def overridden_by(self, options, extend=False):
        """This experiment with ``options`` (as :meth:`from_options` takes them; None: not
        given) in place of its own: ``params`` and ``grid`` values are merged into each
        algorithm's, ``algos`` replaces the algorithms (adds to them with ``extend``)."""
        given = {key: value for key, value in options.items()
                 if value is not None and key not in ("algos", "params", "grid")}
        if options.get("algos") is not None:
            own = {algorithm.name: algorithm for algorithm in self.algorithms}
            chosen = [own.get(algorithm.name, algorithm)
                      for algorithm in algorithms_of(options["algos"])]
            if extend:
                chosen = list(self.algorithms) + [algorithm for algorithm in chosen
                                                  if algorithm.name not in own]
        else:
            chosen = list(self.algorithms)
        names = [algorithm.name for algorithm in chosen]
        params = owned(spread_all(options.get("params") or {}, names), names, "--set")
        grid = owned(spread_all(options.get("grid") or {}, names), names, "--grid")
        chosen = [replace(algorithm, params={**algorithm.params, **params.get(algorithm.name, {})},
                          grid={**algorithm.grid, **grid.get(algorithm.name, {})})
                  for algorithm in chosen]
        if "shifts" in given:
            given["shifts"] = shift_names(given["shifts"])
        return replace(self, algorithms=tuple(chosen), **given)

    def extended_by(self, options):
        """This experiment (a run's, being resumed) with ``options`` added: algorithms, more
        seeds (``repeats``), other ``params`` and ``grid`` values, another ``data_dir`` or
        ``save_models`` folder. The dataset, the conditions and the target accuracy cannot
        change: the jobs already finished were scored on them."""
        unknown = sorted(set(options) - {"algos", "params", "grid"}
                         - {item.name for item in fields(self)})
        if unknown:
            raise TypeError(f"resume_benchmark() got unexpected options: {', '.join(unknown)}")
        if options.get("dataset") not in (None, self.dataset):
            raise ParameterError(f"this run is on {self.dataset}; a run holds one dataset, so "
                                 f"start a new run for {options['dataset']}")
        extended = self.overridden_by(options, extend=True)
        for key, what in (("shifts", "conditions"), ("target_accuracy", "target accuracy")):
            if options.get(key) is not None and getattr(extended.checked(), key) != getattr(
                    self.checked(), key):
                now = getattr(self, key)
                raise ParameterError(f"this run's finished jobs were evaluated with {what} "
                                     f"{(','.join(now) if key == 'shifts' else now) or 'none'}; "
                                     f"start a new run for {options[key] or 'none'}")
        return extended

    def checked(self):
        """This experiment, every value checked and put in its resolved form (shifts named one
        by one, grid values each once); raise ParameterError naming the key (and the file) of
        the first one that is wrong. Every job's parameters are checked here, before anything
        runs, so a typo fails in a second instead of after an hour of training."""
        where = f"{self.source}: " if self.source else ""
        try:
            return self._checked()
        except ParameterError as exc:
            raise ParameterError(f"{where}{exc}") from None

    def _checked(self):
        if self.dataset not in DATASET_NAMES:
            raise ParameterError(f"dataset: unknown dataset '{self.dataset}'; choose from: "
                                 f"{', '.join(DATASET_NAMES)}")
        in_range("repeats", self.repeats, 1, MAX_SEED + 1)
        in_range("seed", self.seed, 0, MAX_SEED + 1 - self.repeats)
        if self.target_accuracy is not None and not (
                isinstance(self.target_accuracy, (int, float)) and 0 < self.target_accuracy < 1):
            raise ParameterError(f"the target accuracy must be a number between 0 and 1, both "
                                 f"excluded, got {self.target_accuracy!r}")
        self.check_execution()
        shifts = tuple(parse_shifts(list(self.shifts), self.dataset, self.data_dir))
        algorithms = tuple(checked_algorithm(algorithm, self.dataset, self.seed)
                           for algorithm in self.algorithms)
        if not algorithms:
            raise ParameterError("no algorithm to run")
        return replace(self, shifts=shifts, algorithms=algorithms)

    def check_execution(self):
        """Check where and how jobs run: the backend, jobs at once, address, time limit."""
        if self.backend not in BACKENDS:
            raise ParameterError(f"backend: unknown backend '{self.backend}'; choose from: "
                                 f"{', '.join(BACKENDS)}")
        in_range("jobs", self.n_jobs, 1, MAX_JOBS_AT_ONCE)
        if self.timeout is not None and (isinstance(self.timeout, bool) or not isinstance(
                self.timeout, (int, float)) or not self.timeout > 0):
            raise ParameterError(f"the timeout must be a number of seconds above 0, got "
                                 f"{self.timeout!r}")
        if self.n_jobs != 1 and self.backend != "local":
            raise ParameterError(f"the number of jobs at once is for the local backend; on a "
                                 f"{self.backend} cluster, its workers decide it")
        if self.address is not None and self.backend == "local":
            raise ParameterError("a cluster address (--scheduler, --address) is for the dask "
                                 "and ray backends, not local")
        if self.backend == "dask" and not self.address:
            raise ParameterError("the dask backend needs the address of a running Dask "
                                 "scheduler (--scheduler ADDRESS), e.g. tcp://10.0.0.5:8786")

    def jobs(self):
        """Every job, lazily, in the order they run: algorithm by algorithm, grid combination
        by combination, seed by seed."""
        for algorithm in self.algorithms:
            for params in algorithm.combinations():
                for seed in range(self.seed, self.seed + self.repeats):
                    yield JobSpec(algorithm.name, params, self.dataset, seed,
                                  self.target_accuracy is not None, algorithm.target)

    def job_count(self):
        """How many jobs :meth:`jobs` yields, without expanding them."""
        return self.repeats * sum(algorithm.size() for algorithm in self.algorithms)

    def to_json(self):
        """The experiment as JSON-ready values (parameters as Python literals), for
        ``run.json``."""
        record = {name: getattr(self, name) for name in options()}
        record.update(shifts=list(self.shifts), algorithms={})
        for algorithm in self.algorithms:
            record["algorithms"][algorithm.name] = {
                "params": encode_params(algorithm.params),
                "grid": {param: [encode_value(value) for value in values]
                         for param, values in algorithm.grid.items()},
                **({"target": algorithm.target} if algorithm.target else {})}
        return record

    @classmethod
    def from_json(cls, record):
        """Inverse of :meth:`to_json`; also reads the request of runs written before
        experiments (``algos``, ``params``, ``grid`` keyed by algorithm)."""
        if "algos" in record:
            return from_request(record)
        algorithms = tuple(Algorithm(name, decode_params(table["params"]),
                                     {param: [decode_value(text) for text in values]
                                      for param, values in table["grid"].items()},
                                     table.get("target"))
                           for name, table in record["algorithms"].items())
        options = {key: value for key, value in record.items() if key != "algorithms"}
        return cls(algorithms, **{**options, "shifts": tuple(options["shifts"])})

    def to_toml(self):
        """The experiment as the TOML file that declares it (what ``--print-experiment``
        prints): the request's keys, and where and how jobs run where not the default."""
        defaults = Experiment()
        options = [(key, value) for key, value in self.to_json().items()
                   if key in ("dataset", "seed", "repeats") or key != "algorithms"
                   and value not in (None, []) and value != getattr(defaults, key)]
        return toml_text(options, [(algorithm.name, algorithm.target, algorithm.params,
                                    algorithm.grid) for algorithm in self.algorithms])


def args_options(args):
    """The options a parsed ``mnistbench run`` command line gives, as :meth:`Experiment.
    from_options` takes them (None where a flag is not given)."""
    return {"algos": args.algos, "params": assignments(args.assignments, "--set"),
            "grid": assignments(args.grid, "--grid"), "dataset": args.dataset,
            "data_dir": args.data_dir, "seed": args.seed, "repeats": args.repeats,
            "shifts": args.shifts, "target_accuracy": args.target_accuracy,
            "save_models": args.save_models, "n_jobs": args.jobs, "backend": args.backend,
            "address": args.scheduler or args.address, "timeout": args.timeout}


def options():
    """``{key: its field's metadata}``: the experiment's options, its keys besides
    ``algorithms``."""
    return {item.name: item.metadata for item in fields(Experiment) if item.metadata}


def shift_names(shifts):
    """``"rot180, blur"`` or a list, as a tuple of names (checked by :meth:`Experiment.
    checked`)."""
    return tuple(token.strip() for token in (shifts.split(",") if isinstance(shifts, str)
                                             else shifts))


def from_request(request):
    """The experiment of a run written before experiments, from its recorded request."""
    entries = [NamedEstimator.from_dict(entry) if isinstance(entry, dict) else entry
               for entry in request["algos"]]
    params = {name: decode_params(values) for name, values in request["params"].items()}
    grid = {name: {param: [decode_value(text) for text in values]
                   for param, values in axes.items()} for name, axes in request["grid"].items()}
    return Experiment.from_options(entries, params, grid, dataset=request["dataset"],
                                   data_dir=request["data_dir"], seed=request["seed"],
                                   repeats=request["repeats"], shifts=request.get("shifts"),
                                   target_accuracy=request.get("target_accuracy"),
                                   save_models=request["save_models"])
