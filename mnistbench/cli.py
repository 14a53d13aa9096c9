"""Command line: parse, delegate to :mod:`mnistbench.run.runner`, print."""

import argparse
import os
import sys
import time
import warnings

from mnistbench.errors import (MnistbenchError, MnistbenchWarning, ParameterError,
                               RunStopped, filesystem_problem)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


SUBCOMMANDS = ("run", "report", "compare", "ensemble", "list", "serve")


def build_parser():
    """The ``run`` sub-command's parser, which is also the top level's."""
    parser = OneLineParser(
        prog="mnistbench [run]",
        description="Benchmark handwritten-digit classifiers side by side: accuracy with its "
                    "interval, macro precision/recall/F1, confusion, fit and predict time, "
                    "latency, and every test image's class probabilities; then write the run's "
                    "report.",
        epilog="Other sub-commands: 'mnistbench report RUN_DIR' (re)writes a run's report, "
               "'mnistbench compare RUN_A RUN_B' compares two runs, 'mnistbench ensemble RUN_DIR "
               "--members ALGO' combines a run's jobs by vote, 'mnistbench list' lists the "
               "algorithms, 'mnistbench serve' opens a page to draw digits on; each has its own "
               "--help.")
    parser.add_argument("experiment", nargs="?", metavar="EXPERIMENT.toml",
                        help="an experiment file: what to run, every option a key (see "
                             "docs/guide/experiments.md); the options given beside it override "
                             "its keys")
    parser.add_argument("--algos", help="comma-separated algorithm names or 'all' (default: "
                                        "knn,tree); any scikit-learn classifier as "
                                        "package.module:ClassName, its parameters set with "
                                        "--set ClassName.param=value")
    parser.add_argument("--dataset", help="one of mnist, fashion, digits (default: mnist)")
    parser.add_argument("--data-dir", help="folder searched first for the dataset's files")
    parser.add_argument("--seed", type=int, help="random seed (default: 0)")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="run every job with seeds SEED .. SEED+N-1 (default: 1)")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="ALGO.PARAM=VALUE",
                        help="set a parameter, e.g. knn.k=1,3,5 (a comma list is one tuple; "
                             "repeatable)")
    parser.add_argument("--grid", action="append", default=[], metavar="ALGO.PARAM=V1,V2,...",
                        help="one job per value, e.g. tree.max_depth=10,20,None (a tuple is "
                             "written \"(1,3)\"; several --grid options give the cross product)")
    parser.add_argument("--shifts", metavar="NAMES",
                        help="also evaluate every fitted model, without refitting, on shifted "
                             "copies of the test set: a comma list of transforms (see "
                             "'mnistbench list'), 'all', mixed-NAME (clean + shifted), mnist-c "
                             "or mnist-c/CORRUPTION (MNIST-C files in --data-dir)")
    parser.add_argument("--target-accuracy", type=float, metavar="A",
                        help="choose a confidence threshold reaching accuracy A on the answered "
                             "images, e.g. 0.995: jobs fit without the last 10%% of the training "
                             "set and choose it there; selective.csv gives what it yields on each "
                             "test condition")
    parser.add_argument("--out", help="folder for the run's files "
                                      "(default: results/runs/<UTC time>_<dataset>)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="finish the run in RUN_DIR (after a crash, kill or Ctrl-C): its "
                             "unfinished and failed jobs run, finished ones are kept; --algos, "
                             "--repeats, --set or --grid given with it add jobs to the run")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="run N jobs at once on this machine, each in a process of its own "
                             "with its share of the cores (default: 1, one after another; the "
                             "table notes that concurrent jobs' times are not comparable with "
                             "a serial run's)")
    parser.add_argument("--backend", choices=("local", "dask", "ray"),
                        help="where jobs run: this machine (local, the default), a Dask cluster "
                             "(with --scheduler) or a Ray cluster (--address; a local Ray "
                             "runtime without it); pip install 'mnistbench[dask]' or '[ray]'")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="the Dask scheduler's address, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--address", metavar="ADDRESS",
                        help="the Ray cluster's address, e.g. ray://10.0.0.5:10001 or auto")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="run each job in a process of its own, ended if the job runs "
                             "longer, and record it as a row with status timeout; the run goes "
                             "on")
    parser.add_argument("--save-models", metavar="DIR",
                        help="keep each trained model in DIR/<job id>")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the report (report.html, report.md, figures/, pairs.csv)")
    parser.add_argument("--print-experiment", action="store_true",
                        help="print the experiment file this command line stands for, and exit")
    parser.add_argument("--yes", action="store_true",
                        help="run an experiment of more than 10,000 jobs (refused without it)")
    parser.add_argument("--list", action="store_true",
                        help="list the algorithms with their parameters and defaults, and exit "
                             "(the same as 'mnistbench list')")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log messages (hidden by default)")
    return parser


def build_report_parser():
    parser = OneLineParser(prog="mnistbench report",
                           description="Write a run's report from its folder: report.html (one "
                                       "self-contained page), report.md with figures/*.png, and "
                                       "pairs.csv with the McNemar tests.")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    return parser


def build_compare_parser():
    parser = OneLineParser(prog="mnistbench compare",
                           description="What changed from run A to run B, configuration by "
                                       "configuration: accuracy with intervals, fit and latency "
                                       "ratios, McNemar's test where both scored the same "
                                       "images.")
    parser.add_argument("run_a", metavar="RUN_A")
    parser.add_argument("run_b", metavar="RUN_B")
    parser.add_argument("--fail-if-worse", action="store_true",
                        help="exit 1 if a configuration is significantly less accurate in B")
    return parser


def build_ensemble_parser():
    parser = OneLineParser(prog="mnistbench ensemble",
                           description="Combine finished jobs of a run by soft and by majority "
                                       "vote from their stored probabilities (no retraining), "
                                       "under every condition they share; each vote is written "
                                       "into the run as a job of its own and compared with the "
                                       "best member by McNemar's test.")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--members", required=True, metavar="NAMES",
                        help="comma-separated algorithms (all their finished jobs: the seeds of "
                             "a --repeats run), configurations or job ids")
    parser.add_argument("--voting", default="soft,majority",
                        help="soft, majority or both (default: soft,majority)")
    parser.add_argument("--no-report", action="store_true",
                        help="skip rewriting the run's report")
    return parser


def build_list_parser():
    return OneLineParser(prog="mnistbench list", description="List the algorithms with their "
                                                             "parameters, defaults and presets, "
                                                             "and the image transforms (for "
                                                             "--shifts and augment=).")


def build_serve_parser():
    parser = OneLineParser(prog="mnistbench serve",
                           description="A local web page to draw a digit on: every model's "
                                       "digit, probabilities and latency as you draw, and the "
                                       "JSON API behind it (POST /predict, documented at /docs).")
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--models", metavar="DIR",
                        help="serve the models saved in DIR (by 'mnistbench run --save-models')")
    models.add_argument("--run", metavar="RUN_DIR", help="serve the models that run saved")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    return parser


def main(argv=None):
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in SUBCOMMANDS else "run"
    parser, handler = {"run": (build_parser, run), "report": (build_report_parser, report),
                       "compare": (build_compare_parser, compare),
                       "ensemble": (build_ensemble_parser, ensemble),
                       "list": (build_list_parser, list_algorithms),
                       "serve": (build_serve_parser, serve)}[command]
    args = parser().parse_args(argv)
    warnings.showwarning = one_line_warning
    try:
        return handler(args)
    except MnistbenchError as exc:
        print(f"mnistbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a folder that cannot be written, a full disk: the user's to fix
        print(f"mnistbench: error: {filesystem_problem(exc)}", file=sys.stderr)
        return 2


def one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Our own warnings (a damaged job left out) as one line; others as Python shows them."""
    if issubclass(category, MnistbenchWarning):
        print(f"mnistbench: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def list_algorithms(args=None):
    from mnistbench.classifiers import registry
    from mnistbench.report.console import algorithm_list, transform_list

    # plugins are listed by their "module:Class", not imported: listing them costs nothing
    print(algorithm_list({**{name: registry.get_class(name) for name in registry.ALGORITHMS},
                          **registry.plugin_algorithms()}))
    print(f"\n{transform_list()}")
    return 0


def report(args):
    print(write_run_report(args.run_dir))
    return 0


def write_run_report(run_dir):
    """The run's report, written only where it replaces no file of the user's."""
    from mnistbench.report.page import write_report
    from mnistbench.run.loading import read_info
    from mnistbench.run.folders import check_report_files

    read_info(run_dir)  # "not a run" before "files in the way"
    check_report_files(run_dir)
    return write_report(run_dir)


def compare(args):
    from mnistbench.report.compare import compare_runs

    table, worse = compare_runs(args.run_a, args.run_b)
    print(table)
    if worse:
        print(f"significantly worse in {args.run_b}: {', '.join(worse)}", file=sys.stderr)
    return 1 if worse and args.fail_if_worse else 0


def ensemble(args):
    from mnistbench.report.console import ensemble_table
    from mnistbench.run.combine import ensemble_run
    from mnistbench.run.folders import check_report_files

    if not args.no_report:  # before the votes are written: the report must be able to follow
        check_report_files(args.run_dir)
    table = ensemble_run(args.run_dir, args.members, [vote.strip() for vote in
                                                      args.voting.split(",") if vote.strip()])
    print(ensemble_table(table))
    if not args.no_report:
        print(f"report: {write_run_report(args.run_dir)}", file=sys.stderr)
    return 0


def serve(args):
    import errno
    import socket

    from mnistbench.app import models

    if not 0 < args.port < 65536:
        raise ParameterError(f"--port must be from 1 to 65535; got {args.port}")
    try:
        sock = socket.create_server((args.host, args.port))
    except OSError as exc:
        reason = "the port is in use; choose another --port" if exc.errno == errno.EADDRINUSE \
            else exc.strerror
        raise ParameterError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    with sock:
        if args.models:
            served = models.saved_models(args.models)
        elif args.run:
            served = models.run_models(args.run)
        else:
            started = time.perf_counter()
            print(f"no --models or --run given: training {', '.join(models.FAST)} on MNIST "
                  "first (a minute or a few)", file=sys.stderr, flush=True)
            served = models.trained_models(progress=lambda line: print(
                f"{time.perf_counter() - started:7.1f}s  {line}", file=sys.stderr, flush=True))
        import uvicorn

        from mnistbench.app.server import create_app

        print(f"serving {', '.join(served)} on http://{args.host}:{args.port}/ (API: "
              f"http://{args.host}:{args.port}/docs); Ctrl-C stops", file=sys.stderr, flush=True)
        config = uvicorn.Config(create_app(served), limit_concurrency=32, log_level="warning")
        uvicorn.Server(config).run(sockets=[sock])
    return 0


def run(args):
    if args.verbose:  # the neural adapters hide TensorFlow's logging unless this is set
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    if args.list:
        return list_algorithms()
    from mnistbench.run.experiment import Experiment, args_options
    from mnistbench.run.folders import check_report_files
    from mnistbench.run.store import default_run_dir

    if args.resume:
        if args.out:
            raise ParameterError("--resume continues the run in its own folder; leave out --out")
        if args.experiment or args.print_experiment:
            raise ParameterError("--resume reads the run's own experiment; give no experiment "
                                 "file, and add jobs with --algos, --repeats, --set or --grid")
        out = args.resume
        if not args.no_report:
            check_report_files(out)
    else:
        experiment = Experiment.from_args(args)
        if args.print_experiment:
            print(experiment.checked().to_toml(), end="")
            return 0
        out = args.out or default_run_dir(experiment.dataset)

    from mnistbench.report.console import shift_summary, summary_table
    from mnistbench.run.runner import resume_benchmark, run_experiment

    started = time.perf_counter()

    def progress(line):
        print(f"{time.perf_counter() - started:7.1f}s  {line}", file=sys.stderr, flush=True)

    try:
        if args.resume:
            changes = args_options(args)
            attempt = {key: changes.pop(key) for key in ("n_jobs", "backend", "address",
                                                         "timeout")}
            summary = resume_benchmark(out, progress=progress, yes=args.yes, **changes, **{
                key: value for key, value in attempt.items() if value is not None})
        else:
            summary = run_experiment(experiment, out, progress, args.yes)
    except KeyboardInterrupt:
        print(f"mnistbench: interrupted; finished jobs are kept in {out}; finish the run with "
              f"--resume {out}", file=sys.stderr)
        return 130
    print(summary_table(summary))
    shifts = shift_summary(out)
    if shifts:
        print(f"\n{shifts}")
    print(f"\nresults written to {out}", file=sys.stderr)
    if not args.no_report:
        try:
            print(f"report: {write_run_report(out)}", file=sys.stderr)
        except OSError as exc:  # a full disk: the run's results are written, its report not
            raise RunStopped(f"the run is complete but its report could not be written: "
                             f"{filesystem_problem(exc)}; write it with 'mnistbench report "
                             f"{out}'") from None
    # a failed job, or a model that could not be saved: results are written, but say so
    return 1 if ((summary["status"] != "ok") | summary["error"].notna()).any() else 0
