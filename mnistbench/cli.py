"""Command line: parse, check, delegate to :func:`mnistbench.runner.run_benchmark`, print."""

import argparse
import ast
import sys
import time

from mnistbench.errors import MnistbenchError, ParameterError

DATASETS = ("mnist", "fashion", "digits")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser():
    parser = OneLineParser(
        prog="mnistbench",
        description="Benchmark handwritten-digit classifiers side by side: accuracy, macro "
                    "precision/recall/F1, confusion, fit and predict time, latency.")
    parser.add_argument("--algos", default="knn,tree",
                        help="comma-separated algorithm names, or 'all' (default: knn,tree)")
    parser.add_argument("--dataset", default="mnist",
                        help=f"one of {', '.join(DATASETS)} (default: mnist)")
    parser.add_argument("--data-dir", help="folder searched first for the dataset's files")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", help="folder for the run's files "
                                      "(default: results/runs/<UTC time>_<dataset>)")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="ALGO.PARAM=VALUE",
                        help="set a parameter, e.g. knn.k=1,3,5 (repeatable)")
    parser.add_argument("--save-models", metavar="DIR", help="keep each trained model in DIR")
    parser.add_argument("--list", action="store_true",
                        help="list the algorithms with their parameters and defaults, and exit")
    return parser


def parse_assignment(text):
    """``"knn.k=1,3,5"`` -> ``("knn", "k", (1, 3, 5))``; values are Python literals."""
    target, sep, raw = text.partition("=")
    algorithm, dot, param = target.rpartition(".")
    if not sep or not dot or not algorithm or not param:
        raise ParameterError(f"--set takes ALGO.PARAM=VALUE, e.g. knn.k=3; got '{text}'")
    parts = [parse_value(part) for part in raw.split(",")]
    return algorithm, param, tuple(parts) if len(parts) > 1 else parts[0]


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


def main(argv=None):
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except MnistbenchError as exc:
        print(f"mnistbench: error: {exc}", file=sys.stderr)
        return 2


def run(args):
    from mnistbench import registry

    if args.list:
        from mnistbench.report import algorithm_list

        print(algorithm_list({name: registry.get_class(name) for name in registry.ALGORITHMS}))
        return 0
    if args.dataset not in DATASETS:
        raise ParameterError(f"unknown dataset '{args.dataset}'; choose from: "
                             f"{', '.join(DATASETS)}")
    algos = [name.strip() for name in args.algos.split(",") if name.strip()]
    params = {}
    for text in args.assignments:
        algorithm, param, value = parse_assignment(text)
        params.setdefault(algorithm, {})[param] = value

    from mnistbench.report import summary_table
    from mnistbench.results import default_run_dir
    from mnistbench.runner import run_benchmark

    out = args.out or default_run_dir(args.dataset)
    started = time.perf_counter()

    def progress(line):
        print(f"{time.perf_counter() - started:7.1f}s  {line}", file=sys.stderr, flush=True)

    try:
        summary = run_benchmark(algos, dataset=args.dataset, data_dir=args.data_dir,
                                seed=args.seed, params=params, out=out,
                                save_models=args.save_models, progress=progress)
    except KeyboardInterrupt:
        print(f"mnistbench: interrupted; finished jobs are kept in {out}", file=sys.stderr)
        return 130
    print(summary_table(summary))
    print(f"\nresults written to {out}", file=sys.stderr)
    # a failed job, or a model that could not be saved: results are written, but say so
    return 1 if ((summary["status"] != "ok") | summary["error"].notna()).any() else 0
