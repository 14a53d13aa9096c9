"""Whatever a caller passes, fit and predict give a result or a ValueError/TypeError: never a
crash of the process, never a half-fitted or changed estimator (property-based, Hypothesis)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mnistbench.classifiers.registry import algorithm_names, get_class

FAST = {"mlp": {"epochs": 2}, "tf-softmax": {"epochs": 1},
        "tf-mlp": {"epochs": 1}, "cnn": {"epochs": 1, "batch_size": 4},
        "forest": {"n_estimators": 3}, "boosting": {"n_estimators": 3},
        "linear": {"max_iter": 10}, "ensemble": {"members": ("tree", "linear")}}
DTYPES = [np.uint8, np.int8, np.int64, np.uint64, np.float16, np.float32, np.float64, np.bool_,
          np.complex128, np.object_, np.str_]


@st.composite
def arrays(draw, rows=None, features=None):
    """Arrays of 0 to 4 dimensions, few elements, any of ``DTYPES``, whose values are all in
    one range: valid pixels (0-255, or 0-1 floats) or anything the dtype holds. With
    ``features``, valid images of that shape."""
    valid = features is not None
    dtype = np.dtype(draw(st.sampled_from(DTYPES[:8] if valid else DTYPES)))
    rows = draw(st.integers(0, 12)) if rows is None else rows
    dims = (rows, *features) if valid else draw(st.sampled_from(
        [(), (rows,), (rows, 1), (rows, 3), (rows, 2, 2), (rows, 2, 3), (rows, 3, 3, 1),
         (rows, 0)]))
    if dtype.kind == "f":
        width = dtype.itemsize * 8
        elements = draw(st.sampled_from([st.floats(0, 1, width=width),
                                         st.floats(0, 255, width=width)]
                                        + ([] if valid else [st.floats(width=width)])))
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        elements = st.integers(0 if valid else max(info.min, -300),
                               min(info.max, 255 if valid else 300))
    elif dtype.kind == "O":
        elements = st.one_of(st.integers(0, 255), st.floats(), st.none(), st.text(max_size=2))
    elif dtype.kind == "U":
        dtype = np.dtype("U2")
        elements = st.text(max_size=2)
    else:
        elements = None
    return draw(hnp.arrays(dtype, dims, elements=elements))


@st.composite
def labels(draw, rows, valid):
    """``rows`` labels of two or three classes (numbers or strings), or (not ``valid``)
    anything: the wrong length or shape, one class, continuous values."""
    if valid:
        n_classes = draw(st.integers(2, 3))
        classes = draw(st.sampled_from([np.arange(n_classes), np.array(list("abc"))[:n_classes]]))
        return classes[draw(st.permutations([i % n_classes for i in range(rows)]))]
    shape = draw(st.sampled_from([(rows,), (rows, 1), (rows + 1,), (rows, 2)]))
    return draw(st.one_of(hnp.arrays(np.int64, shape, elements=st.integers(0, 2)),
                          hnp.arrays(np.dtype("U1"), shape, elements=st.sampled_from("ab")),
                          hnp.arrays(np.float64, shape)))


FEATURES = st.sampled_from([(4,), (2, 2), (3,), (5,), (3, 3), (1,)])


@pytest.mark.parametrize("name", algorithm_names())
@settings(max_examples=16, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fit_and_predict_give_a_result_or_a_value_or_type_error(name, data):
    cls = get_class(name)
    seed = {"random_state": 0} if "random_state" in cls().get_params() else {}
    classifier = cls(**FAST.get(name, {}), **seed)
    valid = data.draw(st.booleans(), label="valid")  # half the time, images that can fit
    features = data.draw(FEATURES) if valid else None
    X = data.draw(arrays(rows=data.draw(st.integers(6, 12)) if valid else None,
                         features=features), label="X")
    rows = X.shape[0] if X.ndim else 0
    y = data.draw(labels(rows, valid), label="y")
    unfitted = dict(vars(classifier))
    try:
        classifier.fit(X, y)
    except (ValueError, TypeError):
        assert vars(classifier) == unfitted  # a failed fit leaves nothing behind
        return
    fitted = dict(vars(classifier))
    X_new = data.draw(st.one_of(arrays(rows=1, features=features),
                                arrays(rows=3, features=features), arrays()), label="X_new")
    for method in (classifier.predict, classifier.predict_proba):
        try:
            result = method(X_new)
        except (ValueError, TypeError):
            continue
        assert len(result) == len(X_new)
        assert vars(classifier) == fitted  # predict changes nothing


@pytest.mark.parametrize("name", ["tree", "knn", "linear"])
def test_one_row_of_8_bit_pixels_without_its_image_axis_is_a_value_error(name):
    """The cheap path for 8-bit images read ``X.shape[1]`` of a 1-D array: an IndexError."""
    model = get_class(name)().fit(np.zeros((6, 4), np.uint8), np.array([0, 1] * 3))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.array([0], np.uint8))
