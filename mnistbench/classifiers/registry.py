"""Public algorithm names mapped to ``"module:Class"``, imported only when asked for.

Adding an algorithm is one new module in :mod:`mnistbench.classifiers` and one line here.
"""

import importlib

from mnistbench.errors import ParameterError

ALGORITHMS = {
    "knn": "mnistbench.classifiers.knn:KNN",
    "tree": "mnistbench.classifiers.tree:DecisionTree",
    "mlp": "mnistbench.classifiers.mlp:MLP",
    "tf-softmax": "mnistbench.classifiers.tf_softmax:TFSoftmax",
    "tf-mlp": "mnistbench.classifiers.tf_mlp:TFMLP",
    "cnn": "mnistbench.classifiers.cnn:CNN",
}


def algorithm_names():
    """Registered algorithm names, in registry order."""
    return list(ALGORITHMS)


def check_algorithm(name):
    """Return ``name`` if it is registered, else raise ParameterError listing the valid names."""
    if name not in ALGORITHMS:
        raise ParameterError(
            f"unknown algorithm '{name}'; choose from: {', '.join(ALGORITHMS)} (or 'all')")
    return name


def get_class(name):
    """Import and return the adapter class registered as ``name``."""
    module, _, cls = ALGORITHMS[check_algorithm(name)].partition(":")
    return getattr(importlib.import_module(module), cls)


def get_classifier(name, **params):
    """Build the adapter ``name`` with ``params``, checking names and values now, not at fit.

    Raises
    ------
    ParameterError
        For an unknown algorithm, an unknown parameter or an invalid value.
    """
    cls = get_class(name)
    defaults = cls().get_params()
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ParameterError(f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)} for '{name}'; valid: {', '.join(defaults)}")
    classifier = cls(**params)
    classifier.check_all_params()
    return classifier
