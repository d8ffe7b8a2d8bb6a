"""The run configuration: typed dataclasses (``run``) and their YAML files with overrides (``files``).

It sits below models, inference and training: training fills it, and inference rebuilds a trained
model from the copy every checkpoint carries, without importing training.
"""
