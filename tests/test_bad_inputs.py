"""The bad-input table: hostile or mistaken inputs to the Python API, to saved files and to the
web app, each checked for a clear refusal and for nothing lost.

Every case names what it does, the exception type (or HTTP status) it must end in, and the state
that must come through unchanged: the files of a folder (compared byte for byte) or a fitted
model's predictions. A case *holds* when it raises that type with a one-line message (or the
app answers that status with a one-line ``detail``) and the state is unchanged. Anything else is
counted as a *traceback* (another exception type, a server error), *silent* (accepted without a
word) or *data-loss* (the state changed).

Run by pytest, one test per case; run as ``python tests/test_bad_inputs.py``, it prints the
counts per category. The command line and run folders get their own categories on the run core.
"""

import base64
import gzip
import io
import json
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

CATEGORIES = ("python-api", "saved-files", "web-app")


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    action: Callable  # world -> anything; raises, or returns the app's response
    expected: Union[type, int]  # the exception type, or the HTTP status
    state: Callable = lambda world: None  # world -> what must not change
    prepare: Callable = lambda world: None  # world -> None: the files the action meets


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
    assert len(CASES) >= 70
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
