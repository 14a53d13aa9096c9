"""Public algorithm names mapped to ``"module:Class"``, imported only when asked for.

Adding an algorithm is one new module in :mod:`mnistbench.classifiers` and one line here. Other
packages add theirs as entry points in the group ``mnistbench.algorithms`` (name = "module:Class"
in their packaging metadata), read without importing them; a plugin cannot replace a built-in
name. Any importable scikit-learn classifier can also be named directly as ``"module:Class"``;
one that is not a :class:`~mnistbench.classifiers.base.DigitClassifier` is wrapped in
:class:`~mnistbench.classifiers.external.ExternalClassifier`.
"""

import functools
import importlib
import importlib.metadata
import inspect

from mnistbench.errors import ParameterError

ALGORITHMS = {
    "knn": "mnistbench.classifiers.knn:KNN",
    "tree": "mnistbench.classifiers.tree:DecisionTree",
    "mlp": "mnistbench.classifiers.mlp:MLP",
    "tf-softmax": "mnistbench.classifiers.tf_softmax:TFSoftmax",
    "tf-mlp": "mnistbench.classifiers.tf_mlp:TFMLP",
    "cnn": "mnistbench.classifiers.cnn:CNN",
    "linear": "mnistbench.classifiers.linear:Linear",
    "svm": "mnistbench.classifiers.svm:SVM",
    "forest": "mnistbench.classifiers.forest:Forest",
    "boosting": "mnistbench.classifiers.boosting:Boosting",
    "ensemble": "mnistbench.classifiers.ensemble:Ensemble",
}
PLUGIN_GROUP = "mnistbench.algorithms"


@functools.cache
def plugin_algorithms():
    """``{name: "module:Class"}`` of the installed plugins' entry points, built-in names left
    out; read from packaging metadata, nothing imported."""
    found = {}
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        if entry.name not in ALGORITHMS:
            found.setdefault(entry.name, entry.value)
    return found


def registered():
    """Every algorithm name (built-in, then plugins) with its ``"module:Class"``."""
    return {**ALGORITHMS, **plugin_algorithms()}


def algorithm_names():
    """Registered algorithm names, built-in ones first."""
    return list(registered())


def is_class_path(name):
    """Whether ``name`` names a class directly, as ``"package.module:Class"``."""
    module, colon, cls = name.partition(":")
    return bool(colon and module and cls)


def check_algorithm(name):
    """Return ``name`` if it is registered or a ``"module:Class"``, else raise ParameterError
    listing the valid names."""
    if name not in registered() and not is_class_path(name):
        raise ParameterError(
            f"unknown algorithm '{name}'; choose from: {', '.join(registered())} (or 'all', or "
            "any scikit-learn classifier as package.module:ClassName)")
    return name


def get_class(name):
    """Import and return the class registered as ``name``, or named by ``"module:Class"``.

    Raises
    ------
    ParameterError
        If the name is unknown, or its module cannot be imported or has no such class.
    """
    target = registered().get(check_algorithm(name), name)
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ParameterError(f"cannot import module '{module_name}' for algorithm '{name}' "
                             f"({exc})") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ParameterError(f"module '{module_name}' has no class '{class_name}' (algorithm "
                             f"'{name}')")
    return cls


def get_classifier(name, **params):
    """Build the adapter ``name`` with ``params``, checking names and values now, not at fit.

    A scikit-learn classifier that is not one of ours comes wrapped in
    :class:`~mnistbench.classifiers.external.ExternalClassifier`, ``params`` being its own.

    Raises
    ------
    ParameterError
        For an unknown algorithm, a class that is not a scikit-learn classifier, an unknown
        parameter or an invalid value.
    """
    from mnistbench.classifiers.base import DigitClassifier, is_classifier

    cls = get_class(name)
    valid = parameter_names(cls)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ParameterError(f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)} for '{name}'; valid: {', '.join(valid)}")
    try:
        built = cls(**params)
    except Exception as exc:  # a third-party __init__ that refuses these parameters
        raise ParameterError(f"cannot build '{name}' ({type(exc).__name__}: {exc})") from None
    if not is_classifier(built):
        raise ParameterError(f"'{name}' is not a scikit-learn classifier (it needs fit, predict "
                             "and the estimator tags of scikit-learn's ClassifierMixin)")
    if isinstance(built, DigitClassifier):
        classifier = built
    else:
        from mnistbench.classifiers.external import ExternalClassifier

        classifier = ExternalClassifier(built)
    classifier.check_all_params()
    return classifier


def parameter_names(cls):
    """The names ``cls.__init__`` takes, sorted (scikit-learn's ``get_params`` order)."""
    signature = inspect.signature(cls.__init__).parameters.values()
    return sorted(p.name for p in signature if p.name != "self"
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
