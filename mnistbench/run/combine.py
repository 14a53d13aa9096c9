"""Ensembles of a finished run's jobs, from their stored probabilities: no retraining.

``ensemble_run(RUN_DIR, "cnn")`` combines every finished ``cnn`` job of the run (the seeds of a
``--repeats 5`` run, say) by soft and by majority vote
(:mod:`mnistbench.classifiers.ensemble`), under every evaluation condition all members have, and
writes each vote into the run as a job of its own, ``ensemble`` with parameters ``members`` (as
given) and ``voting``. Writing it again replaces it. Its summary row holds the members' summed
``fit_s``, ``predict_s`` and latencies (what running them all costs; ``latency_calls`` is 0, as
nothing was timed), its seed is the smallest member seed, and ``chosen`` lists the member jobs.
Every member is scored against the ensemble by McNemar's test on the same images.
"""

import json

import numpy as np
import pandas as pd

from mnistbench.analysis.statistics import mcnemar_exact, with_intervals
from mnistbench.classifiers.ensemble import VOTES
from mnistbench.errors import ParameterError
from mnistbench.run.environment import utc_now
from mnistbench.run.experiment import Experiment
from mnistbench.run.job import JobResult, job_versions, scored_tables
from mnistbench.run.loading import load_run, read_job
from mnistbench.run.schema import CLEAN, HOLDOUT, summary_row, tagged_tables
from mnistbench.run.spec import JobSpec
from mnistbench.run.store import RunStore

SUMMED = ("fit_s", "predict_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


def ensemble_run(run_dir, members, voting=("soft", "majority")):
    """Combine finished jobs of the run in ``run_dir`` by vote and write each vote into it.

    Parameters
    ----------
    run_dir : str or pathlib.Path
    members : str or list of str
        Algorithm names (every finished job of that algorithm), configurations as the report
        labels them (``"tree max_depth=5"``) or job ids; a string is a comma-separated list.
        At least two jobs in all.
    voting : sequence of {"soft", "majority"}

    Returns
    -------
    pandas.DataFrame
        One row per vote and condition: the ensemble's ``job_id``, ``accuracy``, the best member
        on the test set (``best_member``, ``best_accuracy``) and McNemar's test of the ensemble
        against it (``ensemble_only``, ``member_only``: images only one of them got right;
        ``p_value``), and ``members``, the number of member jobs.

    Raises
    ------
    ParameterError
        For a name that matches no finished job, fewer than two member jobs, an unknown vote,
        or members that were not scored on the same images and classes.
    """
    tokens = [token.strip() for token in members.split(",")] if isinstance(members, str) \
        else list(members)
    voting = [voting] if isinstance(voting, str) else list(voting)
    for vote in voting:
        if vote not in VOTES:
            raise ParameterError(f"voting must be one of {', '.join(VOTES)}; got {vote!r}")
    store = RunStore.open(run_dir)
    try:
        run = load_run(run_dir)
        jobs = member_jobs(run, tokens)
        conditions, classes = shared_conditions(run, jobs)
        outputs = member_outputs(run, jobs, conditions)
        rows = []
        for vote in dict.fromkeys(voting):
            result = ensemble_result(run, jobs, tokens, vote, outputs, classes)
            store.write_job(result)
            store.info.setdefault("ensembles", []).append(
                {"job_id": result.spec.job_id, "members": jobs, "voting": vote,
                 "created_at": result.record["ended_at"]})
            rows += comparison_rows(run, jobs, result, outputs)
        store.rebuild_tables(derived=True)
        store.save_info()
    finally:
        store.release()
    return pd.DataFrame(rows)


def member_jobs(run, tokens):
    """The finished jobs ``tokens`` name (job ids, algorithms or configurations), in run
    order."""
    ok = with_intervals(run.summary[run.summary["status"] == "ok"])
    chosen = []
    for token in tokens:
        matched = ok[(ok["job_id"] == token) | (ok["algorithm"] == token)
                     | (ok["configuration"] == token)]["job_id"].tolist()
        if not matched:
            raise ParameterError(
                f"no finished job, algorithm or configuration '{token}' in {run.directory}; "
                f"its algorithms are: {', '.join(dict.fromkeys(ok['algorithm'])) or 'none'}")
        chosen += [job_id for job_id in matched if job_id not in chosen]
    if len(chosen) < 2:
        raise ParameterError(f"an ensemble needs at least two finished jobs; "
                             f"'{','.join(tokens)}' names {len(chosen)} ({', '.join(chosen)})")
    return chosen


def shared_conditions(run, jobs):
    """The conditions every member was evaluated under (``test`` first) and their classes."""
    records = [read_job(run.directory, job_id) for job_id in jobs]
    classes = records[0]["classes"]
    for job_id, record in zip(jobs, records):
        if record["classes"] != classes:
            raise ParameterError(f"job {job_id} has classes {record['classes']}, not "
                                 f"{classes} as {jobs[0]}: its votes cannot be combined")
    conditions = [name for name in records[0]["conditions"]
                  if all(name in record["conditions"] for record in records)]
    if CLEAN not in conditions:
        raise ParameterError(f"the jobs {', '.join(jobs)} were not all scored on the "
                             f"'{CLEAN}' condition")
    return [CLEAN] + [name for name in conditions if name != CLEAN], np.asarray(classes)


def member_outputs(run, jobs, conditions):
    """``{condition: (true labels, [each member's probabilities], [each member's correct
    answers])}``, from the predictions table (the labels checked to be the same for every
    member) and the stored probabilities."""
    outputs = {}
    for condition in conditions:
        rows = run.predictions[run.predictions["condition"] == condition]
        truth, correct = None, []
        for job_id in jobs:
            answers = rows[rows["job_id"] == job_id].sort_values("index")
            true = answers["true"].to_numpy()
            if truth is None:
                truth = true
            elif len(true) != len(truth) or (true != truth).any():
                raise ParameterError(f"jobs {jobs[0]} and {job_id} were not scored on the same "
                                     f"'{condition}' images")
            correct.append(answers["predicted"].to_numpy() == true)
        outputs[condition] = (truth, [run.probabilities(job_id, condition) for job_id in jobs],
                              correct)
    return outputs


def ensemble_result(run, jobs, tokens, vote, outputs, classes):
    """The ensemble's :class:`~mnistbench.run.runner.JobResult`, as a job of the run."""
    summary = run.summary.set_index("job_id").loc[jobs]
    started = utc_now()
    spec = JobSpec("ensemble", {"members": ",".join(tokens), "voting": vote},
                   run.info["dataset"], int(summary["seed"].min()))
    combined = {condition: VOTES[vote](probabilities)
                for condition, (_, probabilities, _) in outputs.items()}
    target = Experiment.from_json(run.info["request"]).target_accuracy \
        if HOLDOUT in combined else None
    summaries, tables = scored_tables(
        {condition: (truth, classes[combined[condition].argmax(axis=1)], combined[condition])
         for condition, (truth, _, _) in outputs.items()}, classes, target)
    first = summary.iloc[0]
    record = summary_row(
        spec, started, dataset_checksum=first["dataset_checksum"],
        n_train=int(first["n_train"]), n_test=int(first["n_test"]), **summaries[CLEAN],
        status="ok", resolved=json.dumps({"members": jobs, "voting": vote}),
        chosen=json.dumps({"members": jobs}),
        **{column: float(summary[column].sum()) for column in SUMMED},
        latency_calls=0, versions=json.dumps(job_versions()), ended_at=utc_now())
    record["images_per_s"] = record["n_test"] / record["predict_s"]
    return JobResult(spec, record, tagged_tables(spec, tables), {
        condition: probabilities.astype(np.float32)
        for condition, probabilities in combined.items()}, {
        "classes": classes.tolist(), "members": jobs,
        "conditions": {condition: {**summaries[condition],
                                   "predict_s": record["predict_s"]} for condition in combined}})


def comparison_rows(run, jobs, result, outputs):
    """One row per condition: the ensemble against its best member on the test set, each
    judged by the answers in the predictions table."""
    test_correct = outputs[CLEAN][2]
    best = int(np.argmax([correct.mean() for correct in test_correct]))  # the first of equals
    predictions = result.tables["predictions"]
    rows = []
    for condition, (_, _, correct) in outputs.items():
        answers = predictions[predictions["condition"] == condition].sort_values("index")
        ensemble_correct = (answers["predicted"] == answers["true"]).to_numpy()
        test = mcnemar_exact(ensemble_correct, correct[best])
        rows.append({"job_id": result.spec.job_id, "voting": result.spec.params["voting"],
                     "condition": condition, "members": len(jobs),
                     "accuracy": float(ensemble_correct.mean()), "best_member": jobs[best],
                     "best_accuracy": float(correct[best].mean()),
                     "ensemble_only": test["a_only"], "member_only": test["b_only"],
                     "p_value": test["p_value"]})
    return rows
