"""The bad-input table: hostile or mistaken inputs to the Python API, to saved files, to the
web app, to the command line and in run folders, each checked for a clear refusal and for
nothing lost.

Every case names what it does, the exception type, HTTP status or exit code it must end in, and
the state that must come through unchanged: the files of a folder (compared byte for byte) or a
fitted model's predictions. A case *holds* when it raises that type with a one-line message (the
app answers that status with a one-line ``detail``; the command exits with that code, its
standard error holding exactly one line of ours, ``mnistbench...``, and no traceback) and the
state is unchanged. Anything else is counted as a *traceback* (another exception type, a server
error, a Python traceback), *silent* (accepted without a word) or *data-loss* (the state
changed).

The command line runs in this process (:func:`mnistbench.cli.main`), so the table stays fast;
filesystem faults a user meets (a read-only folder, a full disk) are injected, so that they do
not need root (``tests/test_filesystem_faults.py`` fills a real disk where it can).

Run by pytest, one test per case; run as ``python tests/test_bad_inputs.py``, it prints the
counts per category.
"""

import base64
import builtins
import contextlib
import errno
import fcntl
import functools
import gzip
import io
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from conftest import idx_bytes, write_idx
from mnistbench.classifiers.persistence import MANIFEST, load_model, save_model
from mnistbench.classifiers.registry import get_classifier
from mnistbench.datasets import load_dataset
from mnistbench.datasets.readers import IDX_PARTS, parse_idx, read_npz
from mnistbench.datasets.transforms import apply_transform
from mnistbench.errors import DataError, ParameterError

CATEGORIES = ("python-api", "saved-files", "web-app", "cli", "run-folder")


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    action: Callable  # world -> anything; raises, or returns the app's response
    expected: Union[type, int, "Exit"]  # the exception type, the HTTP status, the exit code
    state: Callable = lambda world: None  # world -> what must not change
    prepare: Callable = lambda world: None  # world -> None: the files the action meets


@dataclass(frozen=True)
class Exit:
    """A command's exit code (what a command-line case expects), and what it wrote."""

    code: int
    stderr: str = ""


@dataclass(frozen=True)
class Outcome:
    kind: str  # held, traceback, silent
    lost: bool  # the guarded state changed
    message: str


class World:
    """What the cases act on, built once: tiny fitted models, a folder for files, the app."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.digits = load_dataset("digits")
        X, y = self.digits.X_train[:400], self.digits.y_train[:400]
        self.X, self.y = X, y
        self.tree = get_classifier("tree", random_state=0).fit(X, y)
        self.knn = get_classifier("knn", k=3).fit(X, y)
        self.mlp = get_classifier("mlp", epochs=5, random_state=0).fit(X, y)
        self.saved = {name: save_model(model, self.folder / "saved" / name)
                      for name, model in (("tree", self.tree), ("mlp", self.mlp))}
        rng = np.random.default_rng(0)
        page_model = get_classifier("tree", random_state=0).fit(
            rng.integers(0, 256, (60, 28, 28), dtype=np.uint8), np.arange(60) % 10)
        from fastapi.testclient import TestClient

        from mnistbench.app.server import create_app

        self.client = TestClient(create_app({"tree": page_model}))

    @functools.cached_property
    def run(self):
        """A finished digits run, tree and knn, with its report: copied by run-folder cases."""
        folder = self.folder / "run"
        finished = command("--algos", "tree,knn", "--dataset", "digits", "--out", folder)
        assert finished.code == 0, finished.stderr
        return folder

    @property
    def run_jobs(self):
        return sorted(path.name for path in (self.run / "jobs").iterdir())

    def fresh(self, name):
        """A new empty folder ``name`` for one case."""
        folder = self.folder / "cases" / name
        folder.mkdir(parents=True)
        return folder

    def copy_of(self, name):
        """A case's own copy of the saved model ``name``, to damage."""
        import shutil

        target = self.folder / "copies" / f"{name}-{len(list(self.folder.glob('copies/*')))}"
        shutil.copytree(self.saved[name], target)
        return target


def files_of(folder):
    """``{relative path: bytes}`` of every file under ``folder``: what must survive a refusal."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def run_case(case, world):
    """Perform ``case`` on ``world`` and judge it."""
    world.last = None
    case.prepare(world)
    before = case.state(world)
    try:
        result, error = case.action(world), None
    except Exception as exc:  # judged below: the type and message are what the table checks
        result, error = None, exc
    lost = not same_state(before, case.state(world))
    if isinstance(case.expected, Exit):  # a command
        if error is not None:
            return Outcome("traceback", lost, f"{type(error).__name__}: {error}")
        ours = [line for line in result.stderr.splitlines() if line.startswith("mnistbench")]
        if "Traceback" in result.stderr or "Exception in thread" in result.stderr:
            return Outcome("traceback", lost, result.stderr)
        held = result.code == case.expected.code and len(ours) == 1
        kind = "held" if held else "silent" if result.code == 0 and not ours else "traceback"
        return Outcome(kind, lost, f"exit {result.code}: {result.stderr.strip()}")
    if isinstance(case.expected, int):  # a web request
        if error is not None:
            return Outcome("traceback", lost, f"{type(error).__name__}: {error}")
        detail = result.json().get("detail") if result.status_code >= 400 else None
        held = result.status_code == case.expected and one_line(detail)
        kind = "held" if held else "traceback" if result.status_code >= 500 else "silent"
        return Outcome(kind, lost, f"{result.status_code}: {detail}")
    if error is None:
        return Outcome("silent", lost, f"accepted, returned {type(result).__name__}")
    held = isinstance(error, case.expected) and one_line(str(error))
    return Outcome("held" if held else "traceback", lost, f"{type(error).__name__}: {error}")


def one_line(message):
    return isinstance(message, str) and message.strip() != "" and "\n" not in message.strip() \
        and "Traceback" not in message


def same_state(before, after):
    if isinstance(before, np.ndarray):
        return np.array_equal(before, after)
    return before == after


def predictions(model):
    return lambda world: getattr(world, model).predict_proba(world.digits.X_test[:50])


# ---- python-api: adapters and public functions --------------------------------------------

def refit(model, X=None, y=None):
    """Fit the world's fitted ``model`` again on bad data: it must stay as it was."""
    def action(world):
        X_bad = world.X if X is None else X(world)
        y_bad = world.y if y is None else y(world)
        return getattr(world, model).fit(X_bad, y_bad)
    return action


def with_pixel(value, dtype=np.float64):
    def images(world):
        X = world.X.astype(dtype)
        X[3, 2, 2] = value
        return X
    return images


def fit_new(name, **params):
    return lambda world: get_classifier(name, **params).fit(world.X, world.y)


def predict_on(model, X, method="predict"):
    return lambda world: getattr(getattr(world, model), method)(X(world))


API = [
    ("fit NaN pixel", refit("tree", with_pixel(np.nan)), ValueError, predictions("tree")),
    ("fit infinite pixel", refit("tree", with_pixel(np.inf)), ValueError, predictions("tree")),
    ("fit negative pixel", refit("knn", with_pixel(-1)), ValueError, predictions("knn")),
    ("fit pixel above 255", refit("knn", with_pixel(256)), ValueError, predictions("knn")),
    ("fit int64 pixel above 255", refit("tree", with_pixel(300, np.int64)), ValueError,
     predictions("tree")),
    ("fit empty images", refit("tree", lambda w: w.X[:0], lambda w: w.y[:0]), ValueError,
     predictions("tree")),
    ("fit string pixels", refit("tree", lambda w: w.X.astype(str)), ValueError,
     predictions("tree")),
    ("fit complex pixels", refit("tree", lambda w: w.X.astype(complex)), ValueError,
     predictions("tree")),
    ("fit 1-D images", refit("tree", lambda w: w.X.ravel()), ValueError, predictions("tree")),
    ("fit a scalar", refit("tree", lambda w: 7), ValueError, predictions("tree")),
    ("fit colour images", refit("tree", lambda w: np.repeat(w.X[..., None], 3, axis=3)),
     ValueError, predictions("tree")),
    ("fit five-axis images", refit("tree", lambda w: w.X[:, None, None]), ValueError,
     predictions("tree")),
    ("fit sparse pixels", refit("tree", lambda w: __import__("scipy.sparse").sparse.csr_matrix(
        w.X.reshape(len(w.X), -1))), TypeError, predictions("tree")),
    ("fit fewer labels than images", refit("tree", y=lambda w: w.y[:-1]), ValueError,
     predictions("tree")),
    ("fit one class", refit("tree", y=lambda w: np.zeros_like(w.y)), ValueError,
     predictions("tree")),
    ("fit continuous labels", refit("knn", y=lambda w: w.y + 0.5), ValueError,
     predictions("knn")),
    ("fit NaN label", refit("tree", y=lambda w: np.where(w.y == 3, np.nan, w.y)), ValueError,
     predictions("tree")),
    ("fit one-hot labels", refit("tree", y=lambda w: np.eye(10)[w.y]), ValueError,
     predictions("tree")),
    ("fit no labels", refit("tree", y=lambda w: None), ValueError, predictions("tree")),
    ("tree max_depth=-1", fit_new("tree", max_depth=-1), ParameterError, None),
    ("tree max_depth='deep'", fit_new("tree", max_depth="deep"), ParameterError, None),
    ("tree random_state=-1", fit_new("tree", random_state=-1), ParameterError, None),
    ("forest random_state=2**40", fit_new("forest", random_state=2**40), ParameterError, None),
    ("knn k=0", fit_new("knn", k=0), ParameterError, None),
    ("knn k=[]", fit_new("knn", k=[]), ParameterError, None),
    ("knn k over the training set", fit_new("knn", k=10**6), ParameterError, None),
    ("knn validation_fraction=1", fit_new("knn", validation_fraction=1), ParameterError, None),
    ("linear C=0", fit_new("linear", C=0), ParameterError, None),
    ("linear C=NaN", fit_new("linear", C=float("nan")), ParameterError, None),
    ("mlp epochs=0", fit_new("mlp", epochs=0), ParameterError, None),
    ("mlp preset unknown", fit_new("mlp", preset="huge"), ParameterError, None),
    ("tf-softmax learning_rate='fast'", fit_new("tf-softmax", learning_rate="fast"),
     ParameterError, None),
    ("tf-mlp batch_size=2.5", fit_new("tf-mlp", batch_size=2.5), ParameterError, None),
    ("svm C=-1", fit_new("svm", C=-1), ParameterError, None),
    ("augment unknown", fit_new("tree", augment="sideways"), ParameterError, None),
    ("ensemble voting unknown", fit_new("ensemble", voting="loudest"), ParameterError, None),
    ("ensemble members unknown", fit_new("ensemble", members=("tree", "nope")), ParameterError,
     None),
    ("unknown algorithm", lambda w: get_classifier("nope"), ParameterError, None),
    ("unknown parameter", lambda w: get_classifier("tree", depth=3), ParameterError, None),
    ("module that does not exist", lambda w: get_classifier("no.such.module:Model"),
     ParameterError, None),
    ("class that is no classifier",
     lambda w: get_classifier("sklearn.linear_model:LinearRegression"), ParameterError, None),
    ("predict before fit", lambda w: get_classifier("tree").predict(w.X), NotFittedError, None),
    ("predict 4x16 images", predict_on("tree", lambda w: w.X.reshape(-1, 4, 16)), ValueError,
     predictions("tree")),
    ("predict 2x4x8 images", predict_on("knn", lambda w: w.X.reshape(-1, 2, 4, 8)), ValueError,
     predictions("knn")),
    ("predict 28x28 images", predict_on("tree", lambda w: np.zeros((2, 28, 28), np.uint8)),
     ValueError, predictions("tree")),
    ("predict rows of 63 pixels", predict_on("tree", lambda w: np.zeros((2, 63))), ValueError,
     predictions("tree")),
    ("predict NaN pixel", predict_on("knn", with_pixel(np.nan), "predict_proba"), ValueError,
     predictions("knn")),
    ("predict no images", predict_on("tree", lambda w: w.X[:0]), ValueError,
     predictions("tree")),
    ("predict string pixels", predict_on("tree", lambda w: [["a"] * 64]), ValueError,
     predictions("tree")),
    ("predict ragged rows", predict_on("tree", lambda w: [[0] * 64, [0] * 3]), ValueError,
     predictions("tree")),
    ("score with too few labels", lambda w: w.tree.score(w.X, w.y[:-2]), ValueError,
     predictions("tree")),
    ("unknown dataset", lambda w: load_dataset("mnist2"), ParameterError, None),
    ("unknown transform", lambda w: apply_transform("twirl", w.X), ParameterError, None),
    ("save an unfitted model", lambda w: save_model(get_classifier("tree"), w.fresh("unfit")),
     NotFittedError, None),
]

# ---- saved-files: saved models and dataset files -------------------------------------------


def damaged_model(name, damage):
    """``(prepare, action)``: load a copy of the saved model ``name`` damaged by
    ``damage(folder)``; the damaged files must still be there, unchanged, afterwards."""
    def prepare(world):
        world.last = world.copy_of(name)
        damage(world.last)
    return prepare, lambda world: load_model(world.last)


def last_folder(world):
    folder = getattr(world, "last", None)
    return files_of(folder) if folder is not None and folder.exists() else None


def manifest_with(**changes):
    def damage(folder):
        manifest = json.loads((folder / MANIFEST).read_text())
        (folder / MANIFEST).write_text(json.dumps({**manifest, **changes}))
    return damage


def write(name, data):
    return lambda folder: (folder / name).write_bytes(data)


def truncate(name, keep=0.5):
    def damage(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:int(len(data) * keep)])
    return damage


def remove(name):
    return lambda folder: (folder / name).unlink()


def data_dir_with(files):
    """``(prepare, action)``: load MNIST from a fresh folder holding ``files(folder)``'s
    writes."""
    def prepare(world):
        world.last = world.fresh(f"data-{len(list(world.folder.glob('cases/*')))}")
        files(world.last)
    return prepare, lambda world: load_dataset("mnist", data_dir=world.last)


def idx_parts(images=(60, 28, 28), damage=lambda part, data: data):
    """Writes of the four IDX parts of a small dataset, each passed through ``damage``."""
    rng = np.random.default_rng(1)
    shapes = {"train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": images[:1],
              "t10k-images-idx3-ubyte": images, "t10k-labels-idx1-ubyte": images[:1]}

    def files(folder):
        for part, shape in shapes.items():
            data = idx_bytes(rng.integers(0, 10, shape, dtype=np.uint8))
            (folder / f"{part}.gz").write_bytes(gzip.compress(damage(part, data)))
    return files


def user_folder(world):
    """A folder of the user's own: one file, ``notes.txt``."""
    world.last = world.fresh(f"user-{len(list(world.folder.glob('cases/*')))}")
    (world.last / "notes.txt").write_text("mine")


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


SAVED = [
    ("load a folder that does not exist", lambda w: load_model(w.folder / "nowhere"),
     DataError),
    ("load a folder without a manifest", lambda w: load_model(w.fresh("empty")), DataError),
    ("load a file, not a folder", lambda w: load_model(w.saved["tree"] / MANIFEST), DataError),
    ("manifest truncated", damaged_model("tree", truncate(MANIFEST)), DataError),
    ("manifest empty", damaged_model("tree", write(MANIFEST, b"")), DataError),
    ("manifest binary garbage", damaged_model("tree", write(MANIFEST, bytes(range(256)))),
     DataError),
    ("manifest a JSON list", damaged_model("tree", write(MANIFEST, b"[1, 2]")), DataError),
    ("manifest of another format", damaged_model("tree", manifest_with(format="keras")),
     DataError),
    ("manifest from a newer version", damaged_model("tree", manifest_with(version=2)),
     DataError),
    ("manifest names an unknown class",
     damaged_model("tree", manifest_with(**{"class": "os:system"})), DataError),
    ("manifest names a file outside", damaged_model("tree", manifest_with(files=["../x"])),
     DataError),
    ("manifest params not a dict", damaged_model("tree", manifest_with(params=[1])), DataError),
    ("estimator file missing", damaged_model("tree", remove("estimator.joblib")), DataError),
    ("estimator file truncated", damaged_model("tree", truncate("estimator.joblib")),
     DataError),
    ("estimator file garbage", damaged_model("tree", write("estimator.joblib", b"\x80junk")),
     DataError),
    ("estimator file of another object",
     damaged_model("tree", lambda f: __import__("joblib").dump({"a": 1}, f / "estimator.joblib")),
     DataError),
    ("network classes missing", damaged_model("mlp", remove("classes.npy")), DataError),
    ("network classes truncated", damaged_model("mlp", truncate("classes.npy")), DataError),
    ("network record not JSON", damaged_model("mlp", write("fitted.json", b"{oops")),
     DataError),
    ("save into a folder of the user's files",
     (user_folder, lambda w: save_model(w.tree, w.last)), DataError),
    ("save onto the user's file",
     (user_folder, lambda w: save_model(w.tree, w.last / "notes.txt")), DataError),
    ("data dir that does not exist", lambda w: load_dataset("mnist", data_dir=w.folder / "no"),
     DataError),
    ("data dir that is a file",
     lambda w: load_dataset("mnist", data_dir=w.saved["tree"] / MANIFEST), DataError),
    ("data dir with two of four IDX files", data_dir_with(
        lambda f: [write_idx(f / f"{part}.gz", np.zeros(3, np.uint8)) for part in IDX_PARTS[:2]]),
     DataError),
    ("IDX files with the wrong MD5", data_dir_with(idx_parts()), DataError),
    ("IDX file truncated", data_dir_with(idx_parts(damage=lambda p, d: d[:len(d) // 2])),
     DataError),
    ("IDX file with a bad magic number",
     data_dir_with(idx_parts(damage=lambda p, d: b"\x01\x02" + d[2:])), DataError),
    ("IDX .gz that is not gzip", data_dir_with(lambda f: [
        (f / f"{part}.gz").write_bytes(b"\x1f\x8bnot gzip") for part in IDX_PARTS]), DataError),
    ("IDX .gz file empty", data_dir_with(lambda f: [
        (f / f"{part}.gz").write_bytes(b"") for part in IDX_PARTS]), DataError),
    ("mnist.npz truncated", data_dir_with(lambda f: (f / "mnist.npz").write_bytes(
        npz_bytes(x_train=np.zeros((5, 28, 28), np.uint8))[:100])), DataError),
    ("mnist.npz without its arrays", data_dir_with(lambda f: (f / "mnist.npz").write_bytes(
        npz_bytes(images=np.zeros(3)))), DataError),
    ("mnist.npz not a zip", data_dir_with(lambda f: (f / "mnist.npz").write_text("hello")),
     DataError),
    ("IDX bytes with a bad magic number", lambda w: parse_idx(b"\x01\x02\x08\x01" + bytes(8)),
     DataError),
    ("IDX bytes shorter than their header says",
     lambda w: parse_idx(idx_bytes(np.zeros((4, 3, 3), np.uint8))[:-5]), DataError),
    ("npz with object arrays", lambda w: read_npz(object_npz(w)), DataError),
]


def object_npz(world):
    path = world.fresh("object-npz") / "mnist.npz"
    np.savez(path, x_train=np.array([object()] * 3, dtype=object), y_train=np.zeros(3),
             x_test=np.zeros(3), y_test=np.zeros(3))
    return path


# ---- web-app: hostile requests to POST /predict --------------------------------------------

JSON = {"Content-Type": "application/json"}


def png_base64(grey):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(grey, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def post(path="/predict", method="post", **request):
    return lambda world: getattr(world.client, method)(path, **request)


def post_json(value):
    return post(json={"image": value})


def post_bytes(body, headers=JSON):
    return post(content=body, headers=headers)


WEB = [
    ("not JSON", post_bytes(b"{image: oops"), 400),
    ("empty body", post_bytes(b""), 400),
    ("bytes that are not UTF-8", post_bytes(b'{"image": "\xff\xfe"}'), 400),
    ("text/plain", post_bytes(b'{"image": [[0]]}', {"Content-Type": "text/plain"}), 415),
    ("no content type", post_bytes(b'{"image": [[0]]}', {}), 415),
    ("form encoded", post(data={"image": "1"}), 415),
    ("multipart upload", post(files={"image": ("d.png", b"\x89PNG")}), 415),
    ("a JSON array", post(json=[[0, 1]]), 422),
    ("a JSON string", post(json="image"), 422),
    ("missing image", post(json={"picture": [[0]]}), 422),
    ("extra key", post(json={"image": [[0] * 28] * 28, "more": 1}), 422),
    ("image null", post_json(None), 422),
    ("image a number", post_json(7), 422),
    ("image an object", post_json({"rows": 28}), 422),
    ("1-D image", post_json([0] * 784), 422),
    ("3-D image", post_json([[[0]] * 28] * 28), 422),
    ("empty image", post_json([]), 422),
    ("empty rows", post_json([[]]), 422),
    ("ragged rows", post_json([[0] * 28] * 27 + [[0] * 5]), 422),
    ("string pixels", post_json([["0"] * 28] * 28), 422),
    ("boolean pixels", post_json([[True] * 28] * 28), 422),
    ("null pixels", post_json([[None] * 28] * 28), 422),
    ("pixel above 255", post_json([[0] * 27 + [256]] * 28), 422),
    ("negative pixel", post_json([[-1] + [0] * 27] * 28), 422),
    ("NaN pixel", post_bytes(b'{"image": [[NaN' + b", 0" * 27 + b"]]}"), 422),
    ("Infinity pixel", post_bytes(b'{"image": [[Infinity]]}'), 422),
    ("-Infinity pixel", post_bytes(b'{"image": [[-Infinity]]}'), 422),
    ("huge integer pixel", post_json([[10 ** 30] * 28] * 28), 422),
    ("2x2 image", post_json([[1, 2], [3, 4]]), 422),
    ("27x28 image", post_json([[0] * 28] * 27), 422),
    ("1x784 image", post_json([[0] * 784]), 422),
    ("not base64", post_json("%%% not base64 %%%"), 422),
    ("base64 of a GIF", post_json(base64.b64encode(b"GIF89a" + bytes(100)).decode()), 422),
    ("data URL of a GIF", post_json("data:image/gif;base64,R0lGODlh"), 422),
    ("truncated PNG", post_json(png_base64(
        np.random.default_rng(0).integers(0, 256, (60, 60)))[:400]), 422),
    ("PNG under 28x28", post_json(png_base64(np.full((10, 10), 255))), 422),
    ("PNG too large decoded", post_json(png_base64(np.zeros((3000, 3000)))), 422),
    ("body over 1 MB", post_json([[0] * 1000] * 600), 413),
    ("Content-Length over the limit", post_bytes(b"x" * 10, {
        **JSON, "Content-Length": "10000000"}), 413),
    ("deeply nested JSON", post_bytes(b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
     400),
    ("GET /predict", post(method="get"), 405),
    ("an unknown path", post("/predict/now"), 404),
]


# ---- cli and run-folder: the command line, in this process ---------------------------------


def command(*argv):
    """Run ``mnistbench ARGV`` in this process; its :class:`Exit` (code, standard error)."""
    import warnings

    from mnistbench.cli import main

    stderr, shown = io.StringIO(), warnings.showwarning
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main([str(arg) for arg in argv])
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code
    finally:
        warnings.showwarning = shown
    return Exit(code, stderr.getvalue())


@dataclass(frozen=True)
class Command:
    """A command-line case: ``argv(folder)`` run in a fresh ``folder`` that ``setup(world,
    folder)`` filled, under ``fault(folder)`` (a context: an injected filesystem fault); the
    files of ``kept(world, folder)`` must come through unchanged."""

    name: str
    argv: Callable
    code: int = 2
    setup: Callable = lambda world, folder: None
    fault: Callable = lambda folder: contextlib.nullcontext()
    kept: Callable = lambda world, folder: files_of(folder)

    def case(self, category):
        def prepare(world):
            world.last = world.fresh(f"{category}-{len(list(world.folder.glob('cases/*')))}")
            self.setup(world, world.last)

        def action(world):
            with self.fault(world.last):
                return command(*self.argv(world.last))
        return Case(category, self.name, action, Exit(self.code),
                    lambda world: self.kept(world, world.last), prepare)


def run_args(*argv):
    """A digits run of ``argv`` into the case's folder (``out``), so nothing lands elsewhere."""
    return lambda folder: ["--dataset", "digits", "--out", folder / "out", "--no-report", *argv]


def experiment(text):
    """``(setup, argv)``: run the experiment file ``text``."""
    data = text if isinstance(text, bytes) else text.encode()
    return (lambda world, folder: (folder / "experiment.toml").write_bytes(data),
            lambda folder: [folder / "experiment.toml", "--out", folder / "out", "--no-report"])


def file_case(name, text):
    setup, argv = experiment(text)
    return Command(name, argv, setup=setup)


CLI = [
    Command("unknown algorithm", run_args("--algos", "nope")),
    Command("unknown parameter", run_args("--algos", "tree", "--set", "tree.depth=3")),
    Command("unknown dataset", lambda f: ["--dataset", "mnist2", "--out", f / "out"]),
    Command("unknown option", run_args("--colour", "red")),
    Command("--set without '='", run_args("--algos", "tree", "--set", "tree")),
    Command("--set for an algorithm not run", run_args("--algos", "tree", "--set", "knn.k=3")),
    Command("--set a negative depth", run_args("--algos", "tree", "--set", "tree.max_depth=-1")),
    Command("--set random_state", run_args("--algos", "tree", "--set", "tree.random_state=3")),
    Command("--set knn.k above the training images",
            run_args("--algos", "knn", "--set", "knn.k=1000000000")),
    Command("--grid knn.k above the training images",
            run_args("--algos", "knn", "--grid", "knn.k=1,5000")),
    Command("--grid with no values", run_args("--algos", "tree", "--grid", "tree.max_depth=")),
    Command("--grid and --set on one parameter", run_args(
        "--algos", "tree", "--set", "tree.max_depth=3", "--grid", "tree.max_depth=4,5")),
    Command("--seed not a number", run_args("--algos", "tree", "--seed", "abc")),
    Command("--seed negative", run_args("--algos", "tree", "--seed", "-1")),
    Command("--seed past 32 bits", run_args("--algos", "tree", "--seed", str(2 ** 32))),
    Command("--repeats 0", run_args("--algos", "tree", "--repeats", "0")),
    Command("--repeats of 100 million without --yes",
            run_args("--algos", "tree", "--repeats", "100000000")),
    Command("--jobs 0", run_args("--algos", "tree", "--jobs", "0")),
    Command("--timeout 0", run_args("--algos", "tree", "--timeout", "0")),
    Command("--timeout not a number", run_args("--algos", "tree", "--timeout", "soon")),
    Command("--target-accuracy 1.5", run_args("--algos", "tree", "--target-accuracy", "1.5")),
    Command("--shifts unknown", run_args("--algos", "tree", "--shifts", "twirl")),
    Command("--backend unknown", run_args("--algos", "tree", "--backend", "spark")),
    Command("--backend dask without a scheduler", run_args("--algos", "tree", "--backend",
                                                           "dask")),
    Command("--scheduler on the local backend", run_args("--algos", "tree", "--scheduler",
                                                         "tcp://x:1")),
    Command("--resume with --out", lambda f: ["--resume", f, "--out", f / "out"]),
    Command("serve on port 70000", lambda f: ["serve", "--port", "70000"]),
    Command("compare with one run", lambda f: ["compare", f]),
    Command("ensemble without --members", lambda f: ["ensemble", f]),
    Command("a mistyped sub-command", lambda f: ["reprot", f]),
    Command("experiment file missing", lambda f: [f / "nowhere.toml", "--out", f / "out"]),
    Command("experiment file is a folder", lambda f: [f, "--out", f / "out"]),
    file_case("experiment file not TOML", "dataset = \n"),
    file_case("experiment file binary", bytes(range(128, 256))),
    file_case("experiment file empty", ""),
    file_case("experiment file unknown key", 'dataset = "digits"\ncolour = 1\n[algorithms.tree]\n'),
    file_case("experiment file seed a string", 'dataset = "digits"\nseed = "zero"\n'
                                               "[algorithms.tree]\n"),
    file_case("experiment file repeats a list", 'dataset = "digits"\nrepeats = [1]\n'
                                                "[algorithms.tree]\n"),
    file_case("experiment file unknown algorithm", 'dataset = "digits"\n[algorithms.nope]\n'),
    file_case("experiment file algorithms not a table", 'dataset = "digits"\nalgorithms = 3\n'),
    file_case("experiment file algorithm a number", 'dataset = "digits"\n[algorithms]\n'
                                                    "tree = 3\n"),
    file_case("experiment file unknown parameter", 'dataset = "digits"\n[algorithms.tree]\n'
                                                   "depth = 3\n"),
    file_case("experiment file grid not a list", 'dataset = "digits"\n'
                                                 "[algorithms.tree.grid]\nmax_depth = 3\n"),
    file_case("experiment file class not module:Class", 'dataset = "digits"\n'
                                                        '[algorithms.mine]\nclass = "oops"\n'),
]


# run folders: a finished digits run (tree and knn, with its report), copied for each case


def with_run(damage=lambda run: None):
    """Setup: a copy of the world's finished run at ``folder/run``, damaged by
    ``damage(run)``."""
    def setup(world, folder):
        shutil.copytree(world.run, folder / "run")
        damage(folder / "run")
    return setup


def finished_jobs(world, folder):
    """The files of the run's job folders that were finished before the case (more may be
    added: a run that goes on)."""
    return {job: files_of(folder / "run" / "jobs" / job) for job in world.run_jobs}


def leftovers(folder):
    """Temporary files and half-written job folders under ``folder``."""
    return sorted(str(path) for path in folder.rglob("*")
                  if path.name.endswith(".tmp") or path.name.startswith(".partial-"))


def no_leftovers(world, folder):
    return leftovers(folder)


def finished_jobs_and_leftovers(world, folder):
    return finished_jobs(world, folder), leftovers(folder)


def edit_run_json(**changes):
    def damage(run):
        info = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**info, **changes}))
    return damage


def in_run(name, data):
    return lambda run: (run / name).write_bytes(data)


def in_job(damage):
    """``damage(job folder)`` applied to the run's first job."""
    return lambda run: damage(sorted((run / "jobs").iterdir())[0])


def user_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "figures").mkdir()
    for name in ("summary.csv", "report.html"):
        (folder / name).write_text("mine\n")


def outside(folder, code=errno.EROFS):
    """Every write under ``folder`` fails with ``code`` (a read-only mount, a full quota),
    injected so that root meets it too."""
    real = {"os_open": os.open, "mkdir": os.mkdir, "open": builtins.open, "io_open": io.open}
    folder = os.path.abspath(folder)

    def inside(path):
        path = os.path.abspath(os.fsdecode(path))
        return path == folder or path.startswith(folder + os.sep)

    def refuse(path):
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    def os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            refuse(path)
        return real["os_open"](path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if inside(path):
            refuse(path)
        return real["mkdir"](path, *args, **kwargs)

    def opener(name):
        def open_(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+") \
                    and inside(file):
                refuse(file)
            return real[name](file, mode, *args, **kwargs)
        return open_
    return patched({(os, "open"): os_open, (os, "mkdir"): mkdir,
                    (builtins, "open"): opener("open"), (io, "open"): opener("io_open")})


@contextlib.contextmanager
def patched(replacements):
    """Set ``{(module, attribute): value}`` for the duration."""
    saved = {target: getattr(*target) for target in replacements}
    for (module, name), value in replacements.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


def full_disk(after):
    """The disk fills after ``after`` more files are written: every later ``fsync`` (each
    file a run writes is synced before it is renamed into place) fails with ENOSPC."""
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)
    return patched({(os, "fsync"): fsync})


def report_on_a_full_disk(run):
    """The disk fills once the run has ended, as its report is written."""
    import mnistbench.report.page as page

    real = page.write_report

    def write_report(run_dir):
        with full_disk(after=0):
            return real(run_dir)
    return patched({(page, "write_report"): write_report})


def folder_removed_after_first_job(run):
    """The run's folder is removed (by a hand, a cleaner) once its first job is written."""
    from mnistbench.run.store import RunStore

    real = RunStore.write_job

    def write_job(self, *args, **kwargs):
        real(self, *args, **kwargs)
        shutil.rmtree(run, ignore_errors=True)
    return patched({(RunStore, "write_job"): write_job})


@contextlib.contextmanager
def locked(run):
    """Another process writes the run: its ``.lock`` is held."""
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def digits_png(folder):
    (folder / "figures").mkdir(exist_ok=True)
    (folder / "figures" / "samples.png").write_bytes(b"\x89PNG\r\n\x1a\nmy own picture")


RUN_FOLDER = [
    Command("--out a folder of the user's files",
            lambda f: ["--algos", "tree", "--dataset", "digits", "--out", f / "W"],
            setup=lambda w, f: user_files(f / "W")),
    Command("--out holding one hidden file", run_args("--algos", "tree"),
            setup=lambda w, f: ((f / "out").mkdir(), (f / "out" / ".notes").write_text("x"))),
    Command("--out a file", lambda f: ["--algos", "tree", "--dataset", "digits", "--out",
                                       f / "notes.txt"],
            setup=lambda w, f: (f / "notes.txt").write_text("mine\n")),
    Command("--out under a file", lambda f: ["--algos", "tree", "--dataset", "digits", "--out",
                                             f / "notes.txt" / "run"],
            setup=lambda w, f: (f / "notes.txt").write_text("mine\n")),
    Command("--out a name past the system's limit",
            lambda f: ["--algos", "tree", "--dataset", "digits", "--out", f / ("a" * 300)]),
    Command("--out a depth past the system's limit",
            lambda f: ["--algos", "tree", "--dataset", "digits", "--out",
                       f.joinpath(*["deep" * 50] * 25)]),
    Command("--out in a read-only folder", run_args("--algos", "tree"), fault=outside),
    Command("--out where permission is denied", run_args("--algos", "tree"),
            fault=lambda f: outside(f, errno.EACCES)),
    Command("--out a run that holds a run",
            lambda f: ["--algos", "tree", "--dataset", "digits", "--out", f / "run"],
            setup=with_run()),
    Command("--save-models a file",
            lambda f: run_args("--algos", "tree", "--save-models", f / "notes.txt")(f),
            setup=lambda w, f: (f / "notes.txt").write_text("mine\n")),
    Command("--save-models under a file",
            lambda f: run_args("--algos", "tree", "--save-models", f / "notes.txt" / "m")(f),
            setup=lambda w, f: (f / "notes.txt").write_text("mine\n")),
    Command("--save-models a name past the system's limit",
            lambda f: run_args("--algos", "tree", "--save-models", f / ("m" * 300))(f)),
    Command("--save-models read-only",
            lambda f: run_args("--algos", "tree", "--save-models", f / "models")(f),
            fault=lambda f: outside(f / "models")),
    Command("--save-models where permission is denied",
            lambda f: run_args("--algos", "tree", "--save-models", f / "models")(f),
            fault=lambda f: outside(f / "models", errno.EACCES)),
    Command("report on a run where permission is denied", lambda f: ["report", f / "run"],
            setup=with_run(), fault=lambda f: outside(f, errno.EACCES)),
    Command("report on a run in a read-only folder", lambda f: ["report", f / "run"],
            setup=with_run(), fault=outside),
    Command("ensemble on a run in a read-only folder", lambda f: [
        "ensemble", f / "run", "--members", "tree,knn"], setup=with_run(), fault=outside),
    Command("--resume on a run in a read-only folder", lambda f: ["--resume", f / "run"],
            setup=with_run(), fault=outside),
    Command("--resume of a run that another process writes", lambda f: ["--resume", f / "run"],
            setup=with_run(), fault=lambda f: locked(f / "run")),
    Command("disk full as a new run begins", run_args("--algos", "tree"),
            fault=lambda f: full_disk(after=0)),
    Command("disk full while a resumed run writes a job", lambda f: [
        "--resume", f / "run", "--repeats", "3", "--no-report"], code=1, setup=with_run(),
            fault=lambda f: full_disk(after=3), kept=finished_jobs),
    Command("disk full as a resumed run ends", lambda f: ["--resume", f / "run", "--no-report"],
            code=1, setup=with_run(), fault=lambda f: full_disk(after=1), kept=finished_jobs),
    Command("disk full while the report is written", lambda f: [
        "--algos", "tree", "--dataset", "digits", "--out", f / "run"], code=1,
            fault=lambda f: report_on_a_full_disk(f / "run"), kept=no_leftovers),
    Command("disk full while ensemble writes its votes", lambda f: [
        "ensemble", f / "run", "--members", "tree,knn"], setup=with_run(),
            fault=lambda f: full_disk(after=2), kept=finished_jobs_and_leftovers),
    Command("the run's folder removed while it runs",
            run_args("--algos", "tree", "--repeats", "3"), code=1,
            setup=lambda w, f: (f / "mine.txt").write_text("mine\n"),
            fault=lambda f: folder_removed_after_first_job(f / "out")),
    Command("report over the user's report.html", lambda f: ["report", f / "run"],
            setup=with_run(in_run("report.html", b"<html>my notes</html>"))),
    Command("report over the user's figure", lambda f: ["report", f / "run"],
            setup=with_run(digits_png)),
    Command("ensemble over the user's report.md", lambda f: [
        "ensemble", f / "run", "--members", "tree,knn"],
            setup=with_run(in_run("report.md", b"# my notes\n"))),
    Command("report of a folder without run.json", lambda f: ["report", f / "run"],
            setup=with_run(lambda run: (run / "run.json").unlink())),
    Command("report of a truncated run.json", lambda f: ["report", f / "run"],
            setup=with_run(lambda run: (run / "run.json").write_bytes(
                (run / "run.json").read_bytes()[:100]))),
    Command("report of a run.json of garbage", lambda f: ["report", f / "run"],
            setup=with_run(in_run("run.json", bytes(range(256))))),
    Command("report of a run.json that is a list", lambda f: ["report", f / "run"],
            setup=with_run(in_run("run.json", b"[1, 2]"))),
    Command("report of a run from a newer version", lambda f: ["report", f / "run"],
            setup=with_run(edit_run_json(version=99))),
    Command("report of a run of another format", lambda f: ["report", f / "run"],
            setup=with_run(edit_run_json(format="other"))),
    Command("report of a folder that does not exist", lambda f: ["report", f / "nowhere"]),
    Command("report of a file", lambda f: ["report", f / "notes.txt"],
            setup=lambda w, f: (f / "notes.txt").write_text("mine\n")),
    Command("report of a run with a truncated job", lambda f: ["report", f / "run"], code=0,
            setup=with_run(in_job(truncate("probabilities.npz"))), kept=finished_jobs),
    Command("report of a run with a corrupt job.json", lambda f: ["report", f / "run"], code=0,
            setup=with_run(in_job(write("job.json", b"{oops"))), kept=finished_jobs),
    Command("report of a run whose job lost its checksums", lambda f: ["report", f / "run"],
            code=0, setup=with_run(in_job(remove("checksums.json"))), kept=finished_jobs),
    Command("compare with a folder that holds no run", lambda f: ["compare", f / "run", f],
            setup=with_run()),
    Command("compare runs on different datasets", lambda f: [
        "compare", f / "run", f / "other", "--fail-if-worse"],
            setup=lambda w, f: (with_run()(w, f), shutil.copytree(w.run, f / "other"),
                                edit_run_json(dataset="mnist")(f / "other"))),
    Command("compare runs on different files", lambda f: ["compare", f / "run", f / "other"],
            setup=lambda w, f: (with_run()(w, f), shutil.copytree(w.run, f / "other"),
                                edit_run_json(dataset_checksum="0" * 64)(f / "other"))),
    Command("ensemble of a folder that holds no run", lambda f: [
        "ensemble", f, "--members", "tree"]),
    Command("ensemble with an unknown member", lambda f: [
        "ensemble", f / "run", "--members", "nope"], setup=with_run()),
    Command("ensemble with an unknown vote", lambda f: [
        "ensemble", f / "run", "--members", "tree,knn", "--voting", "loudest"],
            setup=with_run()),
    Command("--resume of a folder that holds no run", lambda f: ["--resume", f]),
    Command("--resume of a run from a newer version", lambda f: ["--resume", f / "run"],
            setup=with_run(edit_run_json(version=99))),
    Command("--resume on another dataset", lambda f: [
        "--resume", f / "run", "--dataset", "fashion"], setup=with_run()),
    Command("--resume with other shifts", lambda f: [
        "--resume", f / "run", "--shifts", "rot180"], setup=with_run()),
    Command("--resume with knn.k above the training images", lambda f: [
        "--resume", f / "run", "--set", "knn.k=100000"], setup=with_run()),
]


def app_still_answers(world):
    """The app's answer to a blank 28x28 digit: any request must leave it as it was."""
    response = world.client.post("/predict", json={"image": [[0] * 28] * 28})
    return response.status_code, response.json()["models"][0]["probabilities"]


def all_cases():
    cases = [Case("python-api", name, action, expected, state or (lambda world: None))
             for name, action, expected, state in API]
    for name, action, expected in SAVED:
        prepare, action = action if isinstance(action, tuple) else (lambda world: None, action)
        cases.append(Case("saved-files", name, action, expected, last_folder, prepare))
    cases += [Case("web-app", name, action, status, app_still_answers)
              for name, action, status in WEB]
    cases += [command.case("cli") for command in CLI]
    cases += [command.case("run-folder") for command in RUN_FOLDER]
    return cases


CASES = all_cases()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("bad-inputs"))


@pytest.mark.parametrize("case", CASES, ids=[f"{case.category}: {case.name}" for case in CASES])
def test_a_bad_input_is_refused_in_one_sentence_and_loses_nothing(case, world):
    outcome = run_case(case, world)
    assert outcome.kind == "held" and not outcome.lost, outcome


def test_the_table_is_large_and_every_name_is_unique():
    assert len(CASES) >= 200
    assert Counter(case.category for case in CASES)["cli"] + Counter(
        case.category for case in CASES)["run-folder"] >= 80
    assert len({(case.category, case.name) for case in CASES}) == len(CASES)


def test_the_judge_tells_a_traceback_silence_and_loss_apart(world, tmp_path):
    (tmp_path / "kept").write_text("x")

    def overwrite(world):
        (tmp_path / "kept").write_text("y")
        raise DataError("refused")

    state = lambda world: files_of(tmp_path)  # noqa: E731
    assert run_case(Case("t", "ok", lambda w: 1 / 0, ZeroDivisionError), world).kind == "held"
    assert run_case(Case("t", "type", lambda w: [][1], ValueError), world).kind == "traceback"
    assert run_case(Case("t", "two lines", lambda w: exec("raise ValueError('a\\nb')"),
                         ValueError), world).kind == "traceback"
    assert run_case(Case("t", "silent", lambda w: None, ValueError), world).kind == "silent"
    lost = run_case(Case("t", "lost", overwrite, DataError, state), world)
    assert lost.kind == "held" and lost.lost
    ok = run_case(Case("t", "web", post_json([[0] * 28] * 28), 422), world)
    assert ok.kind == "silent"
    said = "mnistbench: error: refused\n"
    assert run_case(Case("t", "exit", lambda w: Exit(2, said), Exit(2)), world).kind == "held"
    assert run_case(Case("t", "code", lambda w: Exit(1, said), Exit(2)), world).kind \
        == "traceback"
    assert run_case(Case("t", "lines", lambda w: Exit(2, said * 2), Exit(2)), world).kind \
        == "traceback"
    traceback = "Traceback (most recent call last):\n" + said
    assert run_case(Case("t", "trace", lambda w: Exit(2, traceback), Exit(2)), world).kind \
        == "traceback"
    assert run_case(Case("t", "quiet", lambda w: Exit(0, ""), Exit(2)), world).kind == "silent"


def counts(outcomes):
    """``{category: Counter(cases, held, tracebacks, silent, data-loss)}``."""
    table = {category: Counter() for category in CATEGORIES}
    for case, outcome in outcomes:
        row = table[case.category]
        row["cases"] += 1
        row["held"] += outcome.kind == "held" and not outcome.lost
        row["tracebacks"] += outcome.kind == "traceback"
        row["silent"] += outcome.kind == "silent"
        row["data-loss"] += outcome.lost
    return table


def main():
    columns = ("cases", "held", "tracebacks", "silent", "data-loss")
    with tempfile.TemporaryDirectory() as folder:
        world = World(folder)
        outcomes = [(case, run_case(case, world)) for case in CASES]
    for case, outcome in outcomes:
        if outcome.kind != "held" or outcome.lost:
            print(f"{case.category}: {case.name}: {outcome.kind}"
                  f"{', data lost' if outcome.lost else ''} ({outcome.message})")
    table = counts(outcomes)
    table["total"] = sum(table.values(), Counter())
    print(f"{'category':<12}" + "".join(f"{column:>11}" for column in columns))
    for category, row in table.items():
        print(f"{category:<12}" + "".join(f"{row[column]:>11}" for column in columns))
    return 0 if table["total"]["held"] == table["total"]["cases"] else 1


if __name__ == "__main__":
    sys.exit(main())
