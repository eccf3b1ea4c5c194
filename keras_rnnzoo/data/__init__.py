"""Loaders for real data formats and generators for the data the zoo trains on.

Modules are imported directly (`from keras_rnnzoo.data import shapes`), so
that one task's optional dependencies never load for another.
"""
