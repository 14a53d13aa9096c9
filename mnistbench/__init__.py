"""mnistbench: benchmark handwritten-digit classifiers side by side, fairly and fast.

The public API is imported lazily so that ``import mnistbench`` (and ``mnistbench --help``)
stays fast and never pulls in TensorFlow.
"""

import importlib

_API = {
    "Dataset": "mnistbench.datasets",
    "load_dataset": "mnistbench.datasets",
    "algorithm_names": "mnistbench.classifiers.registry",
    "ensemble_run": "mnistbench.run.combine",
    "Experiment": "mnistbench.run.experiment",
    "get_classifier": "mnistbench.classifiers.registry",
    "load_model": "mnistbench.classifiers.persistence",
    "save_model": "mnistbench.classifiers.persistence",
    "load_run": "mnistbench.run.loading",
    "resume_benchmark": "mnistbench.run.runner",
    "run_benchmark": "mnistbench.run.runner",
    "run_experiment": "mnistbench.run.runner",
    "SelectiveClassifier": "mnistbench.analysis.selective",
    "predict_or_refuse": "mnistbench.analysis.selective",
    "apply_transform": "mnistbench.datasets.transforms",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'mnistbench' has no attribute '{name}'")
    return getattr(importlib.import_module(_API[name]), name)


def __dir__():
    return sorted(list(globals()) + __all__)
