"""k-nearest neighbours, exact, with a k-sweep that computes neighbours once at the largest k."""

import numpy as np

from mnistbench.classifiers.base import DigitClassifier, check_fraction, check_in_range
from mnistbench.errors import ParameterError

BLOCK_ROWS = 512  # queries per block: 512 x 60,000 float32 distances = 123 MB
PARTITION_ROWS = 64  # rows per candidate selection: 64 x 60,000 float32 fit in a 32 MB cache
SAMPLE_SHARE = 16  # candidate thresholds come from this share of the training images
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
        from the whole training set. ``sweep_`` holds the holdout accuracy of each k; a k
        larger than the images left after the holdout is not scored.
    validation_fraction : float
        Share of the training data held out for the sweep.
    augment, augment_holdout
        Training-set augmentation (see :class:`~mnistbench.classifiers.base.DigitClassifier`);
        the final index holds the augmented copies of the whole training set.

    Notes
    -----
    Candidates come from one float32 matrix product per block of queries (the training
    images' squared norms ride along as one more column) and a threshold read off a sample of
    it; the best ``k + 16`` are re-ranked with exact distances (integers for 8-bit images,
    float64 otherwise), ties broken by training index, and a rounding-error bound proves no
    other training image could enter the top k (queries that fail the proof are searched
    exhaustively). Votes tie to the smallest label, as in scikit-learn, so predictions equal
    ``KNeighborsClassifier``'s. On MNIST the whole sweep costs less than one bare float32
    ``X_test @ X_train.T``, which has to write all 600 million distances to memory.
    """

    HOLDOUT = True

    def __init__(self, k=(1, 3, 5, 7, 9, 11, 13, 15), validation_fraction=0.1, augment="none",
                 augment_holdout=False):
        self.k = k
        self.validation_fraction = validation_fraction
        self.augment = augment
        self.augment_holdout = augment_holdout

    def check_params(self):
        ks = np.atleast_1d(self.k)
        if ks.size == 0 or ks.ndim != 1:
            raise ParameterError(f"k must be a positive integer or a list of them, got {self.k!r}")
        check_fraction("validation_fraction", self.validation_fraction)
        return sorted({check_in_range("k", value, 1) for value in ks.tolist()})

    def _fit(self, X, y):
        ks = self.check_params()
        if ks[0] > len(X):
            raise ParameterError(f"k={ks[0]} exceeds the {len(X)} training images")
        self.sweep_ = self._sweep(X, y, ks) if len(ks) > 1 else []
        # max() keeps the first of equal accuracies: the smallest k
        self.k_ = max(self.sweep_, key=lambda row: row["val_accuracy"])["k"] if self.sweep_ \
            else ks[0]
        self.chosen_params_ = {"k": self.k_}
        self.index_ = Index(*self._augmented(X, y))

    def memory_estimate(self, n_fit, n_predict, n_features, n_classes):
        # queries come in blocks: the holdout's while fitting, then the test set's
        rows = min(BLOCK_ROWS, max(n_predict, int(n_fit * self.validation_fraction)))
        return {"the float32 search index": 4 * n_fit * (n_features + 1) + 8 * n_fit,
                f"a block of {rows} x {n_fit:,} float32 distances": 4 * rows * n_fit,
                "exact re-ranking of the candidates": 2 ** 25}

    def _sweep(self, X, y, ks):
        X_fit, y_fit, X_val, y_val = self._holdout(X, y)
        if ks[0] > len(X_fit):
            raise ParameterError(f"k={ks[0]} exceeds the {len(X_fit)} images left after the "
                                 "validation holdout")
        ks = [k for k in ks if k <= len(X_fit)]
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
    """Training images kept for exact search.

    ``T`` holds them as float32 rows in a fixed shuffled order, each followed by its squared
    norm, so one matrix product with ``[-2 q, 1]`` gives ``||t||^2 - 2 q.t`` (the shuffle makes
    the first columns of every block of distances a random sample of the training set);
    ``order`` maps those rows back to training indices; ``X`` keeps the originals for exact
    re-ranking. ``T`` keeps only the ``pixels`` that are non-zero in some training image (717
    of MNIST's 784): the others add the same ``q_i^2`` to a query's distance to every training
    image, which changes no ranking.
    """

    def __init__(self, X, y):
        self.X = np.ascontiguousarray(X)
        self.y = np.asarray(y)
        n = len(self.X)
        self.pixels = np.flatnonzero(self.X.any(axis=0))
        d = len(self.pixels)
        self.order = np.random.default_rng(0).permutation(n)
        self.T = np.empty((n, d + 1), dtype=np.float32)
        self.T[:, :d] = self.X[np.ix_(self.order, self.pixels)]
        sq_norms = np.einsum("ij,ij->i", self.T[:, :d], self.T[:, :d], dtype=np.float64)
        self.T[:, d] = sq_norms  # rounded to float32: the error bound allows for it
        self.max_norm = float(np.sqrt(sq_norms.max(initial=0.0)))


def neighbour_labels(index, X, k):
    """Labels of the ``k`` nearest training images of each row of ``X``, nearest first."""
    return index.y[nearest_neighbours(index, X, k)]


def nearest_neighbours(index, X, k):
    """Indices of the exact ``k`` nearest training images, ordered by (distance, index)."""
    out = np.empty((len(X), k), dtype=np.intp)
    d = index.T.shape[1] - 1
    query = np.empty((min(BLOCK_ROWS, len(X)), d + 1), dtype=np.float32)
    query[:, d] = 1
    for start in range(0, len(X), BLOCK_ROWS):
        Q = X[start:start + BLOCK_ROWS]
        # scaling by -2 is exact, so the product gives ||t||^2 - 2 q.t in one pass
        np.multiply(Q[:, index.pixels], np.float32(-2), out=query[:len(Q), :d],
                    casting="unsafe")
        out[start:start + len(Q)] = _block_neighbours(index, Q, query[:len(Q)], k)
    return out


def _block_neighbours(index, Q, query, k):
    """The exact ``k`` nearest neighbours of the rows of ``Q`` (``query`` is ``[-2 Q, 1]`` in
    float32)."""
    n_train = len(index.X)
    # ||t||^2 - 2 q.t = ||q - t||^2 - ||q||^2: the query's own norm does not change its ranking
    # (nor do the pixels left out of index.T, zero in every t)
    approx = query @ index.T.T
    m = min(k + EXTRA_CANDIDATES, n_train)
    shuffled = top_candidates(approx, m)
    candidates = index.order[shuffled]
    exact = exact_sq_distances(Q, index.X, candidates)
    order = np.lexsort((candidates, exact), axis=1)
    nearest = np.take_along_axis(candidates, order[:, :k], axis=1)
    if m < n_train:
        boundary = np.take_along_axis(approx, shuffled, axis=1).max(axis=1)
        kth = np.take_along_axis(exact, order[:, k - 1:k], axis=1)[:, 0]
        q_norms = np.sqrt(np.einsum("ij,ij->i", Q, Q, dtype=np.float64))
        # float32 error of ||t||^2 - 2 q.t (d + 1 products, the squared norm itself rounded,
        # inputs rounded to float32) bounded by gamma_{d+4} (2 ||t||^2 + 2 ||q|| ||t||)
        d = Q.shape[1] + 4
        gamma = d * UNIT_ROUNDOFF / (1 - d * UNIT_ROUNDOFF)
        bound = gamma * (2 * index.max_norm ** 2 + 2 * q_norms * index.max_norm)
        # every non-candidate t has approx >= boundary, so its true distance exceeds kth
        unproven = np.flatnonzero(kth - q_norms ** 2 >= boundary - 2 * bound)
        for row in unproven:
            everyone = np.arange(n_train)[None, :]
            full = exact_sq_distances(Q[row:row + 1], index.X, everyone)[0]
            nearest[row] = np.lexsort((everyone[0], full))[:k]
    return nearest


def top_candidates(approx, m):
    """Column indices of the ``m`` smallest values of each row, in no particular order.

    Rather than partitioning every row of 60,000 values, each row keeps the values at or
    below a threshold read off a sample of its first columns (the ``SAMPLE_SHARE`` of them,
    a random sample because the index is shuffled), set so that about ``4 m`` survive; only
    the survivors are partitioned. Rows where fewer than ``m`` or over ``16 m`` survive are
    partitioned whole.
    """
    n_rows, n_cols = approx.shape
    if m >= n_cols:
        return np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    out = np.empty((n_rows, m), dtype=np.intp)
    sample = n_cols // SAMPLE_SHARE
    rank = -(-4 * m * sample // n_cols)  # the threshold's rank in the sample
    for start in range(0, n_rows, PARTITION_ROWS):
        rows = slice(start, start + PARTITION_ROWS)
        if sample == 0 or rank > sample // 2:  # a small training set: partition whole rows
            out[rows] = np.argpartition(approx[rows], m - 1, axis=1)[:, :m]
        else:
            out[rows] = _thresholded_candidates(approx[rows], m, sample, rank)
    return out


def _thresholded_candidates(approx, m, sample, rank):
    n_rows = len(approx)
    threshold = np.partition(approx[:, :sample], rank - 1, axis=1)[:, rank - 1]
    # flatnonzero is ~15x faster than a two-dimensional nonzero
    rows, columns = np.divmod(np.flatnonzero(approx <= threshold[:, None]), approx.shape[1])
    counts = np.bincount(rows, minlength=n_rows)
    whole = (counts < m) | (counts > 16 * m)
    keep = ~whole[rows]
    rows, columns = rows[keep], columns[keep]
    kept = np.where(whole, 0, counts)
    width = max(kept.max(), m)
    starts = np.cumsum(kept) - kept
    place = np.arange(len(rows)) - starts[rows]
    values = np.full((n_rows, width), np.inf, dtype=approx.dtype)
    values[rows, place] = approx[rows, columns]
    survivors = np.zeros((n_rows, width), dtype=np.intp)
    survivors[rows, place] = columns
    out = np.take_along_axis(survivors, np.argpartition(values, m - 1, axis=1)[:, :m], axis=1)
    for row in np.flatnonzero(whole):
        out[row] = np.argpartition(approx[row], m - 1)[:m]
    return out


def exact_sq_distances(Q, X, candidates):
    """Squared distances from each row of ``Q`` to ``X[candidates[row]]``, exact: in integers
    for 8-bit images, else in float64."""
    out = np.empty(candidates.shape, dtype=np.int64 if Q.dtype == X.dtype == np.uint8
                   else np.float64)
    step = max(1, 2 ** 22 // (candidates.shape[1] * X.shape[1]))  # ~32 MB at a time
    for start in range(0, len(Q), step):
        rows = slice(start, start + step)
        if out.dtype == np.int64:
            diff = X[candidates[rows]].astype(np.int16)
            diff -= Q[rows, None, :]
            # squares of -255..255 overflow int16 but fit uint16: read them as uint16
            np.multiply(diff, diff, out=diff)
            out[rows] = diff.view(np.uint16).sum(axis=2, dtype=np.int64)
        else:
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
