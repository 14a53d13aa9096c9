"""The same CNN on each Keras backend, on the full MNIST: accuracy, fit time, batch predict time,
single-image latency, and McNemar's test between backends for each seed.

    python benchmarks/compare_backends.py --backends tensorflow,jax --seeds 0,1,2 \\
        --out results/backends.json

Each job (one backend, one seed) runs in a fresh interpreter started with ``KERAS_BACKEND``
(Keras reads it once per process), jobs alternating between backends seed by seed, so that a
change in the machine's load falls on every backend alike. The load averages before and after
each job are recorded with it. The JSON holds every job and, per backend, the summary the docs
table shows.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LATENCY_CALLS = 200
WARMUP_ROWS = 256


def run_job(backend, seed, preset, predictions):
    """Fit ``cnn`` on the full MNIST in this process; its timings, saving its test predictions
    to ``predictions`` (.npy)."""
    from mnistbench.classifiers.cnn import CNN
    from mnistbench.datasets import load_dataset

    data = load_dataset("mnist")
    model = CNN(preset=preset, backend=backend, random_state=seed)
    model.import_backend()
    start = time.perf_counter()
    model.fit(data.X_train, data.y_train)
    fit_s = time.perf_counter() - start
    model.predict(data.X_test[:WARMUP_ROWS])
    start = time.perf_counter()
    predicted = model.predict(data.X_test)
    predict_s = time.perf_counter() - start
    latencies = []
    for image in data.X_test[:LATENCY_CALLS]:
        start = time.perf_counter()
        model.predict(image[None])
        latencies.append(time.perf_counter() - start)
    np.save(predictions, predicted)
    return {"backend": model.backend_, "device": model.device_, "seed": seed,
            "precision": model.chosen_params_["precision"], "fit_s": fit_s,
            "predict_s": predict_s, "latency_p50_ms": float(np.median(latencies) * 1e3),
            "accuracy": float(np.mean(predicted == data.y_test))}


def run_in_child(backend, seed, preset, folder):
    """:func:`run_job` in a fresh interpreter with ``KERAS_BACKEND=backend``; its record, with
    the load averages around it."""
    predictions = Path(folder) / f"{backend}-{seed}.npy"
    environment = {**os.environ, "KERAS_BACKEND": backend}
    before = os.getloadavg()
    finished = subprocess.run([sys.executable, __file__, "--job", backend, str(seed), preset,
                               str(predictions)], env=environment, capture_output=True,
                              text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"{backend} seed {seed} failed:\n{finished.stderr[-3000:]}")
    record = json.loads(finished.stdout.strip().splitlines()[-1])
    record.update(load_before=before, load_after=os.getloadavg())
    return record, np.load(predictions)


def summarise(jobs, predictions, y_test):
    """Per backend: accuracy mean with its Student-t interval over seeds, mean times; and for
    each seed, McNemar's p between each backend and the first."""
    from mnistbench.analysis.statistics import mcnemar_exact, seed_interval

    backends = list(dict.fromkeys(job["backend"] for job in jobs))
    table = {}
    for backend in backends:
        mine = [job for job in jobs if job["backend"] == backend]
        mean, sd, half = seed_interval([job["accuracy"] for job in mine])
        table[backend] = {
            "device": mine[0]["device"], "precision": mine[0]["precision"], "seeds": len(mine),
            "accuracy": mean, "accuracy_sd": sd, "accuracy_half_width": half,
            **{name: float(np.mean([job[name] for job in mine]))
               for name in ("fit_s", "predict_s", "latency_p50_ms")}}
        if backend != backends[0]:
            table[backend]["mcnemar_p_vs_" + backends[0]] = [
                mcnemar_exact(predictions[(backends[0], job["seed"])] == y_test,
                              predictions[(backend, job["seed"])] == y_test)["p_value"]
                for job in mine]
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args(argv)
    from mnistbench.datasets import load_dataset
    from mnistbench.run.environment import environment

    y_test = load_dataset("mnist").y_test
    jobs, predictions = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in map(int, arguments.seeds.split(",")):
            for backend in arguments.backends.split(","):
                record, predictions[(backend, seed)] = run_in_child(backend, seed,
                                                                    arguments.preset, folder)
                jobs.append(record)
                print(json.dumps(record), flush=True)
                result = {"command": " ".join(["python", *sys.argv]),
                          "machine": {**environment(), "machine": platform.machine()},
                          "preset": arguments.preset, "jobs": jobs,
                          "summary": summarise(jobs, predictions, y_test)}
                arguments.out.write_text(json.dumps(result, indent=1))  # kept as jobs end


if __name__ == "__main__":
    if sys.argv[1:2] == ["--job"]:
        backend, seed, preset, predictions = sys.argv[2:6]
        print(json.dumps(run_job(backend, int(seed), preset, predictions)))
    else:
        main()
