"""k-nearest neighbours, exact, with a k-sweep that computes neighbours once at the largest k."""

import numpy as np

from mnistbench.classifiers.base import DigitClassifier, check_in_range
from mnistbench.datasets import holdout_split
from mnistbench.errors import ParameterError

BLOCK_ROWS = 512  # queries per block: 512 x 60,000 float32 distances = 123 MB
PARTITION_ROWS = 64  # rows per argpartition call: its 64 x 60,000 index array is 31 MB
EXTRA_CANDIDATES = 16  # float32 candidates beyond k, re-ranked with exact distances
UNIT_ROUNDOFF = 2.0 ** -24


class KNN(DigitClassifier):
    """k-nearest neighbours (Euclidean, uniform votes); with several k, picks one on a holdout.

    Parameters
    ----------
    k : int or sequence of int
        Neighbour count, or the counts to sweep. A sweep fits on the training data minus its
        last ``validation_fraction``, scores every k on that holdout from one neighbour search
        at the largest k, keeps the best (the smallest on ties) in ``k_``, and then predicts
        from the whole training set. ``sweep_`` holds the holdout accuracy of each k.
    validation_fraction : float
        Share of the training data held out for the sweep.

    Notes
    -----
    Candidates come from one float32 matrix product per block of queries; the best
    ``k + 16`` of them are re-ranked with exact float64 distances, ties broken by training
    index, and a rounding-error bound proves no other training image could enter the top k
    (queries that fail the proof are searched exhaustively in float64). Votes tie to the
    smallest label, as in scikit-learn, so predictions equal ``KNeighborsClassifier``'s.
    """

    def __init__(self, k=(1, 3, 5, 7, 9, 11, 13, 15), validation_fraction=0.1):
        self.k = k
        self.validation_fraction = validation_fraction

    def check_params(self):
        ks = np.atleast_1d(self.k)
        if ks.size == 0 or ks.ndim != 1:
            raise ParameterError(f"k must be a positive integer or a list of them, got {self.k!r}")
        check_in_range("validation_fraction", self.validation_fraction, 0, 1, kind=float)
        return sorted({check_in_range("k", value, 1) for value in ks.tolist()})

    def _fit(self, X, y):
        ks = self.check_params()
        if ks[-1] > len(X):
            raise ParameterError(f"k={ks[-1]} exceeds the {len(X)} training images")
        self.sweep_ = self._sweep(X, y, ks) if len(ks) > 1 else []
        # max() keeps the first of equal accuracies: the smallest k
        self.k_ = max(self.sweep_, key=lambda row: row["val_accuracy"])["k"] if self.sweep_ \
            else ks[0]
        self.chosen_params_ = {"k": self.k_}
        self.index_ = Index(X, y)

    def _sweep(self, X, y, ks):
        X_fit, y_fit, X_val, y_val = holdout_split(X, y, self.validation_fraction)
        if ks[-1] > len(X_fit):
            raise ParameterError(f"k={ks[-1]} exceeds the {len(X_fit)} images left after the "
                                 "validation holdout")
        labels = neighbour_labels(Index(X_fit, y_fit), X_val, ks[-1])
        accuracies = (vote_counts(labels, len(self.classes_), ks).argmax(axis=2)
                      == y_val[:, None]).mean(axis=0)
        return [{"k": k, "val_accuracy": float(a)} for k, a in zip(ks, accuracies)]

    def _votes(self, X):
        labels = neighbour_labels(self.index_, X, self.k_)
        return vote_counts(labels, len(self.classes_), [self.k_])[:, 0, :]

    def _predict_proba(self, X):
        return self._votes(X) / self.k_

    def _predict(self, X):
        return self._votes(X).argmax(axis=1)


class Index:
    """Training images kept for exact search: a float32 copy for the matrix product, the
    originals for re-ranking."""

    def __init__(self, X, y):
        self.X = np.ascontiguousarray(X)
        self.y = np.asarray(y)
        self.X32 = self.X.astype(np.float32)
        self.sq_norms = np.einsum("ij,ij->i", self.X32, self.X32)
        self.max_norm = float(np.sqrt(self.sq_norms.max(initial=0.0)))


def neighbour_labels(index, X, k):
    """Labels of the ``k`` nearest training images of each row of ``X``, nearest first."""
    return index.y[nearest_neighbours(index, X, k)]


def nearest_neighbours(index, X, k):
    """Indices of the exact ``k`` nearest training images, ordered by (distance, index)."""
    out = np.empty((len(X), k), dtype=np.intp)
    for start in range(0, len(X), BLOCK_ROWS):
        out[start:start + BLOCK_ROWS] = _block_neighbours(index, X[start:start + BLOCK_ROWS], k)
    return out


def _block_neighbours(index, Q, k):
    n_train = len(index.X)
    Q32 = Q.astype(np.float32)
    # ||t||^2 - 2 q.t = ||q - t||^2 - ||q||^2: the query's own norm does not change its ranking;
    # scaling by -2 is exact, so folding it into Q saves a pass over the block
    approx = (-2 * Q32) @ index.X32.T
    approx += index.sq_norms
    m = min(k + EXTRA_CANDIDATES, n_train)
    candidates = top_candidates(approx, m)
    exact = exact_sq_distances(Q, index.X, candidates)
    order = np.lexsort((candidates, exact), axis=1)
    nearest = np.take_along_axis(candidates, order[:, :k], axis=1)
    if m < n_train:
        boundary = np.take_along_axis(approx, candidates, axis=1).max(axis=1)
        kth = np.take_along_axis(exact, order[:, k - 1:k], axis=1)[:, 0]
        q_norms = np.sqrt(np.einsum("ij,ij->i", Q32, Q32, dtype=np.float64))
        # float32 error of ||t||^2 - 2 q.t, bounded by gamma_{d+2} (||t||^2 + 2 ||q|| ||t||)
        d = Q.shape[1] + 2
        gamma = d * UNIT_ROUNDOFF / (1 - d * UNIT_ROUNDOFF)
        bound = gamma * (index.max_norm ** 2 + 2 * q_norms * index.max_norm)
        # every non-candidate t has approx >= boundary, so its true distance exceeds kth
        unproven = np.flatnonzero(kth - q_norms ** 2 >= boundary - 2 * bound)
        for row in unproven:
            everyone = np.arange(n_train)[None, :]
            full = exact_sq_distances(Q[row:row + 1], index.X, everyone)[0]
            nearest[row] = np.lexsort((everyone[0], full))[:k]
    return nearest


def top_candidates(approx, m):
    """Column indices of the ``m`` smallest values of each row, in no particular order."""
    n_rows, n_train = approx.shape
    if m >= n_train:
        return np.broadcast_to(np.arange(n_train), (n_rows, n_train))
    out = np.empty((n_rows, m), dtype=np.intp)
    # argpartition returns a full-width index array: a few rows at a time keeps it small
    for start in range(0, n_rows, PARTITION_ROWS):
        rows = slice(start, start + PARTITION_ROWS)
        out[rows] = np.argpartition(approx[rows], m - 1, axis=1)[:, :m]
    return out


def exact_sq_distances(Q, X, candidates):
    """Squared distances in float64 from each row of ``Q`` to ``X[candidates[row]]``."""
    out = np.empty(candidates.shape, dtype=np.float64)
    step = max(1, 2 ** 22 // (candidates.shape[1] * X.shape[1]))  # ~32 MB of float64 at a time
    for start in range(0, len(Q), step):
        rows = slice(start, start + step)
        diff = X[candidates[rows]].astype(np.float64) - Q[rows, None, :].astype(np.float64)
        out[rows] = np.einsum("ijk,ijk->ij", diff, diff)
    return out


def vote_counts(labels, n_classes, ks):
    """Votes per class among the first k neighbours, shape (N, len(ks), n_classes)."""
    counts = np.zeros((len(labels), n_classes), dtype=np.int32)
    out = np.empty((len(labels), len(ks), n_classes), dtype=np.int32)
    rows = np.arange(len(labels))
    done = 0
    for j, k in enumerate(ks):
        for column in range(done, k):
            counts[rows, labels[:, column]] += 1
        done = k
        out[:, j] = counts
    return out
