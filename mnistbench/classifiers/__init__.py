"""Classifier adapters, one module each; :mod:`mnistbench.classifiers.registry` names them."""
