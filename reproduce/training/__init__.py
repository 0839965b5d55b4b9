"""Training the paper's recipes: recipes as data, the loop, a thin submitit job, the results store.

From the bottom up: `data` (datasets and their class counts), `recipe` (the Recipe type),
`recipes` (the named ones, sweeps, a run's model arguments, `same_model`), `overrides`
(``key=value``), `store` (the results store), `checkpoints`, `distributed`, `loaders`,
`progress`, `loop` (`train_one_epoch`, `evaluate`), `job` (`TrainJob`), `plan` and
`submission` (what ``python -m reproduce train`` checks, submits and waits for).
"""
