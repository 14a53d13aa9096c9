"""Regularised variants of the adaptive `cnn` and `tf-mlp` on the 8x8 digits, chosen without
the test set: the tables in the protocol page's digits section.

Usage: ``python benchmarks/digits_variants.py [--seeds 0 1 2] [--only cnn|tf-mlp]
[--variants TEXT ...] [--dataset digits|mnist|fashion]``. On the digits each variant is fitted
twice per seed with the adapter's own protocol (its 10% holdout, plan, stop and kept epoch): on
the first 1,077 training images, scored on the last 360 training images (the *development*
split, which chooses), and on all 1,437, scored on the 360 test images. On the other datasets
only the second. It prints a Markdown table of the means and the per-seed accuracies.
``--variants`` keeps the variants whose names contain one of the texts: ``--dataset mnist
--only cnn --variants former normed`` compares the two networks of the `cnn` default on MNIST.

The variants change what the adapters do not expose as parameters (layers, dropout, the
optimizer), so they are set here by giving the `cnn`'s ``adaptive`` preset an architecture of
this script and replacing ``make_optimizer``, or by changing the `tf-mlp`'s ``adaptive`` preset,
for one variant at a time. The first `cnn` row is the network the default had until this
comparison chose the batch-norm row (`normed`). Full run on a 2-core machine: about 15
minutes.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mnistbench.classifiers import cnn, tf_mlp  # noqa: E402
from mnistbench.datasets import load_dataset  # noqa: E402

DEVELOPMENT_FIT = 1077  # fit on the first 1,077 training images, choose on the last 360


def cnn_layers(dropout=0.3, dense=128, filters=(32, 64), pool_dropout=0.0,
               batch_norm=None):
    """The `fast` architecture's layers with the given changes; ``batch_norm``, the momentum
    of a batch norm between each convolution and its ReLU."""
    from keras import layers

    stack = []
    for count in filters:
        stack.append(layers.Conv2D(count, 3, activation=None if batch_norm else "relu"))
        if batch_norm:
            stack += [layers.BatchNormalization(momentum=batch_norm), layers.ReLU()]
        stack.append(layers.MaxPooling2D(2))
        if pool_dropout:
            stack.append(layers.Dropout(pool_dropout))
    return stack + [layers.Flatten(), layers.Dense(dense, activation="relu"),
                    layers.Dropout(dropout)]


def adamw(weight_decay):
    """``make_optimizer`` with Keras' AdamW (decoupled weight decay) on the same schedule."""
    default = cnn.make_optimizer

    def make(settings, steps):
        import keras

        config = default(settings, steps).get_config()  # Adam's, with the preset's schedule
        return keras.optimizers.AdamW.from_config({**config, "weight_decay": weight_decay})
    return make


CNN_VARIANTS = {
    "the former default (`fast`): dense 128, dropout 0.3": {},
    "dropout 0.5": {"layers": {"dropout": 0.5}},
    "dropout 0.6": {"layers": {"dropout": 0.6}},
    "dropout 0.25 after each pooling, 0.5 before the output":
        {"layers": {"pool_dropout": 0.25, "dropout": 0.5}},
    "batch norm (Keras' momentum 0.99) after each convolution, dropout 0.5":
        {"layers": {"batch_norm": 0.99, "dropout": 0.5}},
    "batch norm (momentum 0.9) after each convolution, dropout 0.5 (`normed`, the default on "
    "small data)":
        {"layers": {"batch_norm": 0.9, "dropout": 0.5}},
    "dense 256": {"layers": {"dense": 256}},
    "64 and 128 filters": {"layers": {"filters": (64, 128)}},
    "AdamW, weight decay 0.05": {"optimizer": 0.05},
}

TF_MLP_VARIANTS = {
    "the default: 256-128, dropout 0.2": {},
    "dropout 0.4": {"dropout": 0.4},
    "dropout 0.5": {"dropout": 0.5},
    "512-256, dropout 0.5": {"hidden": [512, 256], "dropout": 0.5},
}


def accuracies(make, data, seeds):
    """Development (on the digits) and test accuracies (%) of ``make(seed)`` for each seed."""
    splits = {"development": (data.X_train[:DEVELOPMENT_FIT], data.y_train[:DEVELOPMENT_FIT],
                              data.X_train[DEVELOPMENT_FIT:], data.y_train[DEVELOPMENT_FIT:]),
              "test": (data.X_train, data.y_train, data.X_test, data.y_test)}
    if data.name != "digits":
        del splits["development"]
    return {name: [100 * make(seed).fit(X, y).score(X_score, y_score) for seed in seeds]
            for name, (X, y, X_score, y_score) in splits.items()}


def cnn_variant(change):
    preset = cnn.PRESETS["adaptive"]
    default, default_optimizer = dict(preset), cnn.make_optimizer
    # the variant's layers on any data: build_network looks them up when called
    preset["architecture"] = "fast"
    preset.pop("small_data_architecture", None)
    default_layers, cnn.fast_layers = cnn.fast_layers, \
        lambda: cnn_layers(**change.get("layers", {}))
    if "optimizer" in change:
        cnn.make_optimizer = adamw(change["optimizer"])
    try:
        yield lambda seed: cnn.CNN(random_state=seed)
    finally:
        preset.clear()
        preset.update(default)
        cnn.make_optimizer, cnn.fast_layers = default_optimizer, default_layers


def tf_mlp_variant(change):
    preset = tf_mlp.PRESETS["adaptive"]
    default = dict(preset)
    preset.update(change)
    try:
        yield lambda seed: tf_mlp.TFMLP(random_state=seed)
    finally:
        preset.clear()
        preset.update(default)


def row(algorithm, name, scores):
    cells = [algorithm, name]
    for values in scores.values():
        cells += [f"{np.mean(values):.2f}", ", ".join(f"{value:.2f}" for value in values)]
    return cells


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=("cnn", "tf-mlp"))
    parser.add_argument("--variants", nargs="+", metavar="TEXT")
    parser.add_argument("--dataset", choices=("digits", "mnist", "fashion"), default="digits")
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset)
    families = {"cnn": (cnn_variant, CNN_VARIANTS), "tf-mlp": (tf_mlp_variant, TF_MLP_VARIANTS)}
    rows = []
    for algorithm, (variant, changes) in families.items():
        if args.only not in (None, algorithm):
            continue
        for name, change in changes.items():
            if args.variants and not any(text in name for text in args.variants):
                continue
            for make in variant(change):
                rows.append(row(algorithm, name, accuracies(make, data, args.seeds)))
                print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    headers = ["algorithm", "variant", "development %", "per seed", "test %", "per seed"]
    if args.dataset != "digits":
        headers = headers[:2] + headers[4:]
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))


if __name__ == "__main__":
    main()
