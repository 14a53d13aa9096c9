"""Saving fitted classifiers to a directory and loading them back.

A saved model is a directory holding ``mnistbench-model.json`` (format version, registry name,
class and parameters, and the list of state files) next to the state itself:

- neural networks (``mlp``, ``tf-*``, ``cnn``): their classes in ``classes.npy`` and training
  record in ``fitted.json``, plus the network in its framework's own format: Keras' native
  ``model.keras`` for the CNN, ``weights.npz`` for the TensorFlow networks, joblib for
  scikit-learn's MLP;
- every other adapter, and any scikit-learn classifier of your own in its wrapper: the whole
  fitted estimator in ``estimator.joblib``.

Loading joblib files unpickles them, which can run arbitrary code: only load models from a
source you trust. The Keras and NumPy files are read without unpickling.
"""

import json
from pathlib import Path

from sklearn.utils.validation import check_is_fitted

from mnistbench.datasets.readers import read_json
from mnistbench.errors import DataError

MANIFEST = "mnistbench-model.json"
FORMAT = "mnistbench-model"
VERSION = 1
ESTIMATOR_FILE = "estimator.joblib"
WRAPPER = "mnistbench.classifiers.external:ExternalClassifier"
FIELDS = {"version": int, "algorithm": (str, type(None)), "class": str, "params": dict,
          "files": list}  # manifest key -> type


def save_model(model, path):
    """Save the fitted adapter ``model`` into the directory ``path`` (created if needed), as
    ``mnistbench.save_model(model, path)``; :func:`load_model` reads it back.

    An existing directory must be empty or hold a model saved here before, which is replaced.

    Returns
    -------
    pathlib.Path
        The directory.
    """
    from mnistbench.classifiers.registry import registered

    check_is_fitted(model)
    directory = Path(path)
    clear_directory(directory)
    class_path = f"{type(model).__module__}:{type(model).__qualname__}"
    names = [name for name, target in registered().items() if target == class_path]
    if hasattr(model, "_save_network"):
        files = model._save_network(directory)
    else:
        import joblib

        joblib.dump(model, directory / ESTIMATOR_FILE)
        files = [ESTIMATOR_FILE]
    manifest = {"format": FORMAT, "version": VERSION, "algorithm": names[0] if names else None,
                "class": class_path, "params": model.get_params(), "files": files}
    # written last: a directory whose save was interrupted does not load
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1, default=repr))
    return directory


def load_model(path):
    """Load a model saved by :func:`save_model` from the directory ``path``.

    Files saved with joblib (k-NN, tree, scikit-learn MLP) are unpickled, which can run
    arbitrary code: load only models from a trusted source.

    Raises
    ------
    DataError
        If ``path`` does not hold a model saved by mnistbench, or its files are damaged.
    """
    from mnistbench.classifiers.external import ExternalClassifier
    from mnistbench.classifiers.registry import get_class, registered

    directory = Path(path)
    manifest = read_manifest(directory)
    if manifest["class"] == WRAPPER:  # a scikit-learn classifier of your own, wrapped
        cls = ExternalClassifier
    elif registered().get(manifest["algorithm"]) == manifest["class"]:
        cls = get_class(manifest["algorithm"])
    else:
        raise DataError(f"{directory} holds a model of {manifest['class']}, which is not a "
                        "registered mnistbench algorithm")
    missing = [name for name in manifest["files"] if not (directory / name).is_file()]
    if missing:
        raise DataError(f"saved model {directory} is incomplete: {', '.join(missing)} missing")
    try:
        if hasattr(cls, "_load_network"):
            model = cls(**manifest["params"])
            model._load_network(directory)
        else:
            import joblib

            model = joblib.load(directory / ESTIMATOR_FILE)
    except Exception as exc:  # any failure to read a user's file is a data problem
        raise DataError(f"saved model {directory} could not be read ({type(exc).__name__}: "
                        f"{exc})") from exc
    if type(model) is not cls:
        raise DataError(f"saved model {directory} holds a {type(model).__name__}, not the "
                        f"{cls.__name__} its {MANIFEST} names")
    return model


def read_manifest(directory):
    """The checked manifest of the model saved in ``directory``."""
    path = directory / MANIFEST
    if not directory.exists():
        raise DataError(f"no saved model at {directory}: it does not exist")
    if not path.is_file():
        raise DataError(f"{directory} is not a saved mnistbench model (no {MANIFEST} in it)")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not all(isinstance(manifest.get(key), kind) for key, kind in FIELDS.items()) \
            or not all(isinstance(name, str) and name not in ("", ".", "..")
                       and Path(name).name == name for name in manifest["files"]):
        raise DataError(f"{path} is not an mnistbench model manifest")
    if manifest["version"] != VERSION:
        raise DataError(f"{directory} was saved in model format version {manifest['version']}; "
                        f"this mnistbench reads version {VERSION}")
    return manifest


def clear_directory(directory):
    """Make ``directory`` ready for a new model: create it, or empty a previous save."""
    if directory.exists() and not directory.is_dir():
        raise DataError(f"cannot save a model to {directory}: it is a file, not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    contents = list(directory.iterdir())
    if not contents:
        return
    if not (directory / MANIFEST).is_file():
        raise DataError(f"cannot save a model to {directory}: the directory is not empty and "
                        "holds no saved model")
    old = read_manifest(directory)
    for name in [MANIFEST, *old["files"]]:
        (directory / name).unlink(missing_ok=True)
