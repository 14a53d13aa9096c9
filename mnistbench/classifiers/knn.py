"""k-nearest neighbours, exact, by filter and refine, with a k-sweep that searches once at the
largest k."""

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mnistbench.classifiers.base import DigitClassifier, check_fraction, check_in_range
from mnistbench.errors import ParameterError

BLOCK_ROWS = 128  # queries per block: 128 x 60,000 float32 bounds = 31 MB, about the L3 cache
FEW_ROWS = 8  # batches up to this size (single images) use the short bound
COMPONENTS = 128  # principal components of the bound for batches
FEW_COMPONENTS = 32  # ... and of the short one, a quarter of the bytes to read per query
GROUPS = 512  # the shuffled training set is cut into this many groups of consecutive rows
EXTRA_CANDIDATES = 8  # groups beyond k whose nearest bound gives a distance to beat
PCA_SAMPLE = 10_000  # training images the principal components are computed from
UNIT_ROUNDOFF = 2.0 ** -24
CHUNK_ROWS = 4096  # rows projected at a time (a float64 chunk of 4096 x 717 is 23 MB)


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
    The search is exact, by filter and refine (see :class:`Index`): a lower bound on every
    distance from the leading principal components, then exact distances (integers for 8-bit
    images, float64 otherwise) for the few training images the bound cannot exclude, ties
    broken by training index. Votes tie to the smallest label, as in scikit-learn, so
    predictions equal ``KNeighborsClassifier``'s. On MNIST the whole sweep costs less than half
    of one bare float32 ``X_test @ X_train.T``.
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
        threads = blas_threads()  # a block in flight per thread
        bounds = 4 * n_fit * (COMPONENTS + FEW_COMPONENTS + 4)
        return {"the search index (pixels, float32 bounds)": 8 * n_fit * n_features + bounds,
                "the principal components": 8 * n_features * (n_features + COMPONENTS)
                + 8 * min(n_fit, PCA_SAMPLE) * n_features,
                f"a block of {rows} x {n_fit:,} float32 bounds per thread ({threads})":
                4 * threads * rows * n_fit,
                "exact re-ranking of the candidates": 2 ** 26}

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
    """Training images kept for exact search by filter and refine.

    ``X`` holds them in a fixed shuffled order (``order`` maps rows back to training indices),
    restricted to the ``pixels`` that are non-zero in some training image (717 of MNIST's 784:
    the others add the same ``q_i^2`` to a query's distance to every training image, which
    changes no ranking). ``sq_norms`` holds their squared norms (exact for 8-bit images).
    ``bound`` and ``few_bound`` (:class:`LowerBound`) bound every distance from below, for
    batches and for single images. The shuffle makes each of the ``GROUPS`` groups of
    consecutive rows a random sample of the training set.
    """

    def __init__(self, X, y):
        X = np.asarray(X)
        self.y = np.asarray(y)
        n = len(X)
        self.pixels = np.flatnonzero(X.any(axis=0))
        self.order = np.random.default_rng(0).permutation(n)
        self.X = np.ascontiguousarray(X[np.ix_(self.order, self.pixels)])
        self.exact_integers = self.X.dtype == np.uint8
        self.sq_norms = np.einsum("ij,ij->i", self.X, self.X,
                                  dtype=np.int64 if self.exact_integers else np.float64)
        self.group_width = max(1, n // GROUPS)
        mean, components = principal_components(self.X)
        self.bound = LowerBound(self.X, mean, components[:, :COMPONENTS], self.group_width)
        self.few_bound = LowerBound(self.X, mean, components[:, :FEW_COMPONENTS],
                                    self.group_width)

    def nbytes(self):
        """Bytes the index holds."""
        return sum(array.nbytes for array in (self.X, self.y, self.order, self.sq_norms,
                                              self.pixels, *self.bound.arrays(),
                                              *self.few_bound.arrays()))


def principal_components(X):
    """``(mean, components)``: the mean of ``X``'s rows and the eigenvectors of their
    covariance, largest eigenvalue first, from a fixed sample of at most ``PCA_SAMPLE`` rows
    (any orthonormal basis gives valid bounds; the leading directions give tight ones)."""
    sample = X[:PCA_SAMPLE].astype(np.float64)  # X is shuffled already
    mean = sample.mean(axis=0)
    sample -= mean
    parts = np.array_split(sample, blas_threads())
    scatter = sum(in_threads(lambda part: part.T @ part, parts))
    with blas_controller().limit(limits=1, user_api="blas"):  # 717 x 717: quick on one
        _, vectors = np.linalg.eigh(scatter)
    return mean, np.ascontiguousarray(vectors[:, ::-1])


class LowerBound:
    """A lower bound on squared Euclidean distances from a projection on ``p`` orthonormal
    directions ``P`` (columns), computed with one float32 matrix product.

    With ``z = P^T (x - mean)`` and the residual ``r = |(x - mean) - P z|``,

        |q - t|^2 = |z_q - z_t|^2 + |r_q - r_t|^2 >= |z_q - z_t|^2 + (r_q - r_t)^2,

    and the right side is ``c_q + c_t - 2 (z_q.z_t + r_q r_t)`` with ``c = |z|^2 + r^2``. Each
    training image is stored as the float32 row ``[z_t, r_t, c_t]``; a query becomes
    ``[-2 z_q, -2 r_q, 1]``, so the product gives the bound minus ``c_q``. ``T`` has
    ``n_groups * group_width`` rows: the ones past the training images bound at ``FAR``.
    """

    FAR = np.float32(np.finfo(np.float32).max / 4)

    def __init__(self, X, mean, components, group_width):
        self.mean, self.P = mean, components
        p = components.shape[1]
        n_groups = -(-len(X) // group_width)
        coordinates = self.coordinates(X)
        self.max_norm = float(np.sqrt(coordinates[:, p + 1].max(initial=0.0)))
        self.T = np.zeros((n_groups * group_width, p + 2), dtype=np.float32)
        self.T[:len(X)] = coordinates
        self.T[len(X):, p + 1] = self.FAR
        self.group_width = group_width

    def coordinates(self, X):
        """``[z, r, c]`` of each row of ``X``, in float64 (``CHUNK_ROWS`` rows at a time)."""
        p = self.P.shape[1]
        out = np.empty((len(X), p + 2))

        def chunk(start):
            rows = slice(start, start + CHUNK_ROWS)
            centred = X[rows] - self.mean
            z = out[rows, :p]
            np.matmul(centred, self.P, out=z)
            residual = centred - z @ self.P.T
            r = np.sqrt(np.einsum("ij,ij->i", residual, residual))
            out[rows, p] = r
            out[rows, p + 1] = np.einsum("ij,ij->i", z, z) + r * r

        in_threads(chunk, range(0, len(X), CHUNK_ROWS))
        return out

    def arrays(self):
        return self.mean, self.P, self.T

    def query(self, Q):
        """``(rows, c_q, margin)``: the float32 rows ``[-2 z_q, -2 r_q, 1]`` of the queries
        ``Q``, their ``c_q``, and a bound on the rounding error of ``rows @ T.T``."""
        coordinates = self.coordinates(Q)
        p = self.P.shape[1]
        rows = np.empty((len(Q), p + 2), dtype=np.float32)
        rows[:, :p + 1] = -2 * coordinates[:, :p + 1]
        rows[:, p + 1] = 1
        c_q = coordinates[:, p + 1]
        # float32 rounding of the p + 2 products, of their sum and of the inputs: at most
        # gamma_{p+6} sum |a_i b_i| <= gamma_{p+6} (c_t + 2 sqrt(c_q c_t)); doubled to cover
        # the float64 errors of the projections (relative 1e-12) and the float32 threshold
        k = p + 6
        gamma = k * UNIT_ROUNDOFF / (1 - k * UNIT_ROUNDOFF)
        margin = 2 * gamma * (self.max_norm + np.sqrt(c_q)) ** 2
        return rows, c_q, margin


def neighbour_labels(index, X, k):
    """Labels of the ``k`` nearest training images of each row of ``X``, nearest first."""
    return index.y[nearest_neighbours(index, X, k)]


def nearest_neighbours(index, X, k):
    """Indices of the exact ``k`` nearest training images, ordered by (distance, index)."""
    Q = X[:, index.pixels]
    if len(X) <= FEW_ROWS:
        # a single image pays for the bytes of the bound it reads: a short bound for all the
        # training images, then the long one for those the short one cannot exclude; on one
        # thread, as waking a second costs more than these small products (far more on a
        # busy machine)
        with blas_controller().limit(limits=1, user_api="blas"):
            bounds = (index.few_bound, index.bound)
            return index.order[_block_neighbours(index, bounds, Q, k)]
    out = np.empty((len(X), k), dtype=np.intp)
    query = index.bound.query(Q)  # every block's query rows at once

    def search(start):
        block = slice(start, start + BLOCK_ROWS)
        out[block] = index.order[_block_neighbours(
            index, (index.bound,), Q[block], k, [part[block] for part in query])]

    in_threads(search, range(0, len(X), BLOCK_ROWS))
    return out


def in_threads(function, items):
    """``[function(item) for item in items]``, the items shared among as many threads as BLAS
    may use now, each thread on a one-thread BLAS.

    Products then run about as fast as on a threaded BLAS, the single-threaded NumPy steps
    between them overlap, and beside other threaded processes the fit slows in proportion to
    the load: OpenBLAS's own threads wait for each other by spinning, which on a busy machine
    burns the time slices they share.
    """
    threads = min(blas_threads(), len(items))
    if threads <= 1:
        return [function(item) for item in items]
    with blas_controller().limit(limits=1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))


def blas_threads():
    """The threads BLAS may use now (as limited by the caller), at least 1."""
    return max([1] + [library.num_threads
                      for library in blas_controller().select(user_api="blas").lib_controllers])


@functools.cache
def blas_controller():
    """The BLAS libraries loaded (looked up once: the look-up takes milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _block_neighbours(index, bounds, Q, k, first_query=None):
    """Rows of ``index.X`` nearest to each row of ``Q``, ordered by (distance, index).

    Filter and refine: the first of ``bounds`` for every training image (one matrix
    product; ``first_query`` is its :meth:`LowerBound.query` of ``Q``, when computed
    already); in each of the ``k + EXTRA_CANDIDATES`` groups with the smallest bounds, the
    image of smallest bound, whose exact distances give ``kth``, the k-th smallest of them;
    then the images whose bounds (each of ``bounds`` in turn) do not exceed ``kth`` plus the
    rounding margin, and their exact distances. Any other image is farther than ``k``
    candidates, so it is not among the k nearest.
    """
    first, *finer = bounds
    rows_q, c_q, margin = first_query or first.query(Q)
    approx = rows_q @ first.T.T  # the bound minus c_q
    n_rows, width = len(Q), first.group_width
    groups = approx.reshape(n_rows, -1, width)
    group_min = groups.min(axis=2)
    candidates = _candidates(approx, groups, group_min, k)
    m = candidates.shape[1]
    candidate_rows = np.repeat(np.arange(n_rows), m)
    exact = exact_sq_distances(index, Q, candidate_rows, candidates.ravel())
    kth = np.partition(exact.reshape(n_rows, m), k - 1, axis=1)[:, k - 1]
    # the candidates are done: no group needs a second look for them
    approx[candidate_rows, candidates.ravel()] = np.inf
    survivor_rows, survivors = _survivors(groups, group_min, np.float32(kth - c_q + margin))
    for bound in finer:
        rows_q, c_q, margin = bound.query(Q)
        values = np.einsum("ij,ij->i", bound.T[survivors], rows_q[survivor_rows])
        keep = values <= (kth - c_q + margin)[survivor_rows]
        survivor_rows, survivors = survivor_rows[keep], survivors[keep]
    rows = np.concatenate([candidate_rows, survivor_rows])
    columns = np.concatenate([candidates.ravel(), survivors])
    distances = np.concatenate([exact, exact_sq_distances(index, Q, survivor_rows, survivors)])
    ranked = np.lexsort((index.order[columns], distances, rows))
    firsts = np.searchsorted(rows[ranked], np.arange(n_rows))
    return columns[ranked[firsts[:, None] + np.arange(k)]]


def _candidates(approx, groups, group_min, k):
    """At least ``k`` columns per row of ``approx`` with small bounds: the smallest of each of
    the ``k + EXTRA_CANDIDATES`` groups of smallest minima (the k smallest of the row when
    there are not that many groups)."""
    n_rows, n_groups = group_min.shape
    m = k + EXTRA_CANDIDATES
    if m >= n_groups:
        return np.argpartition(approx, k - 1, axis=1)[:, :k]
    chosen = np.argpartition(group_min, m - 1, axis=1)[:, :m]
    within = groups[np.arange(n_rows)[:, None], chosen].argmin(axis=2)
    return chosen * groups.shape[2] + within


def _survivors(groups, group_min, threshold):
    """``(rows, columns)`` of the values of ``groups`` (rows, groups, width) at or below the
    row's ``threshold``, sorted by row; only groups whose minimum qualifies are read."""
    width = groups.shape[2]
    rows, group = np.divmod(np.flatnonzero(group_min <= threshold[:, None]), groups.shape[1])
    pairs, offset = np.divmod(np.flatnonzero(groups[rows, group] <= threshold[rows, None]),
                              width)
    return rows[pairs], group[pairs] * width + offset


def exact_sq_distances(index, Q, rows, columns):
    """Squared distances from ``Q[rows]`` to ``index.X[columns]`` (pairs sorted by row), exact:
    integers for 8-bit images, else float64."""
    if not (index.exact_integers and Q.dtype == np.uint8):
        diff = index.X[columns].astype(np.float64) - Q[rows]
        return np.einsum("ij,ij->i", diff, diff)
    # 0-255 times 0-15 summed over 784 pixels stays below 2^24: the float32 products of the
    # images with the high and low 4 bits of the query are exact integers
    images = index.X[columns].astype(np.float32)
    halves = np.stack([Q >> 4, Q & 15], axis=2).astype(np.float32)  # (queries, pixels, 2)
    dots = np.empty((len(rows), 2), dtype=np.float32)
    bounds = np.searchsorted(rows, np.arange(len(Q) + 1))
    for row in np.flatnonzero(np.diff(bounds)):
        pairs = slice(bounds[row], bounds[row + 1])
        np.matmul(images[pairs], halves[row], out=dots[pairs])
    dot = 16 * dots[:, 0].astype(np.int64) + dots[:, 1].astype(np.int64)
    q_norms = np.einsum("ij,ij->i", Q, Q, dtype=np.int64)
    return q_norms[rows] + index.sq_norms[columns] - 2 * dot


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
