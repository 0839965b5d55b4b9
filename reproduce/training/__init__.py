"""Training the paper's recipes and evaluating checkpoints: recipes as data, the loop, the store.

From the bottom up: `data` (datasets and their class counts), `recipe` (the Recipe type,
gradient accumulation), `recipes` (the named ones, sweeps, a run's model arguments,
`same_model`), `overrides` (``key=value``), `store` (the results store), `weights` (published
weights files), `checkpoints`, `distributed`, `loaders`, `progress`, `components` (what an
attempt trains with), `loop` (`train_one_epoch`, `evaluate`), `job` (`TrainJob`), `plan` and
`submission` (what ``python -m reproduce train`` checks, submits and waits for),
`image_folders` and `evaluation` (what ``python -m reproduce evaluate`` checks, runs and
records).
"""
