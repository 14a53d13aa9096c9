"""The models the server answers with: loaded once from saved-model folders, or trained here."""

from pathlib import Path

from mnistbench.classifiers.persistence import MANIFEST, load_model
from mnistbench.errors import DataError

# trained when no saved models are given: the quick ones (about 1.5 minutes on MNIST, 2 cores)
FAST = ("knn", "tree", "mlp", "tf-mlp", "cnn")
PIXELS = 28 * 28  # what the page and the API give the models


def saved_models(directory):
    """Every model saved under ``directory`` (as ``--save-models`` writes them, one sub-folder
    per job, or one saved model itself), as a dict of folder name -> model, each loaded once."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"no saved models at {directory}: it is not a folder")
    folders = [directory] if (directory / MANIFEST).is_file() else sorted(
        folder for folder in directory.iterdir() if (folder / MANIFEST).is_file())
    if not folders:
        raise DataError(f"{directory} holds no saved model (no sub-folder with {MANIFEST}); "
                        "save some with 'mnistbench run --save-models DIR'")
    models = {folder.name: load_model(folder) for folder in folders}
    for name, model in models.items():
        if model.n_features_in_ != PIXELS:
            raise DataError(f"the model in {directory / name} was fitted on images of "
                            f"{model.n_features_in_} pixels; the page sends 28x28 ({PIXELS})")
    return models


def run_models(run_dir):
    """The models a run saved (its ``--save-models`` folder, read from its ``run.json``), from
    whatever folder this is called (see :func:`saved_models_folder`)."""
    from mnistbench.run.store import read_info

    folder = read_info(run_dir).get("request", {}).get("save_models")
    if not folder:
        raise DataError(f"the run in {run_dir} saved no models; run it with --save-models DIR, "
                        "or serve saved models with --models DIR")
    return saved_models(saved_models_folder(run_dir, folder))


def saved_models_folder(run_dir, stored):
    """The folder that the path ``stored`` in the run ``run_dir`` names.

    An absolute path is taken as it is. A relative one was stored as it was typed, relative to
    the folder the run was started from, which the run did not record; it is looked for in the
    run's folder, then in each folder above it, nearest first, so that ``--out R
    --save-models M`` and ``--out R --save-models R/M`` are both found from any folder.

    Raises
    ------
    DataError
        If none of those folders holds it.
    """
    stored = Path(stored)
    if stored.is_absolute():
        return stored
    run_dir = Path(run_dir).resolve()
    for base in (run_dir, *run_dir.parents):
        if (base / stored).is_dir():
            return base / stored
    raise DataError(f"the run in {run_dir} saved its models to '{stored}', relative to the "
                    "folder it was started from, and no such folder is in the run's folder or "
                    "above it; serve them with --models DIR")


def trained_models(names=FAST, progress=print):
    """The adapters ``names`` with their defaults, trained on MNIST's training set."""
    from mnistbench.classifiers.registry import get_classifier
    from mnistbench.datasets import load_dataset

    data = load_dataset("mnist")
    models = {}
    for name in names:
        progress(f"training {name} on MNIST's {len(data.X_train):,} training images")
        models[name] = get_classifier(name).fit(data.X_train, data.y_train)
    return models
