"""Evaluating released or trained checkpoints on an image folder (``python -m reproduce evaluate``).

`reproduce.evaluation.image_folders` checks and opens the folder and builds the model's
evaluation transform; `reproduce.evaluation.evaluate` checks every input, evaluates with the
training loop's own `evaluate`, and writes one record into the results store.
"""
