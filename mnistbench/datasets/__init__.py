"""The data layer: where each dataset lives, how its files are read and verified, the bundled
MNIST files (``mnist/``), and the :class:`Dataset` value every later stage receives."""

from mnistbench.datasets.sources import DATASET_NAMES, Dataset, holdout_split, load_dataset

__all__ = ["DATASET_NAMES", "Dataset", "holdout_split", "load_dataset"]
