"""Classifier adapters, one module each; :mod:`mnistbench.registry` names them."""
