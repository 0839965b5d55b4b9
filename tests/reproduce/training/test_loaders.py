"""The loaders: the training subset is class-balanced and seeded."""

from __future__ import annotations

import dataclasses
from collections import Counter

from reproduce.training.data import DigitsDataset, check_data
from reproduce.training.loaders import balanced_subset, build_datasets
from reproduce.training.overrides import resolve


def test_train_subset_is_class_balanced_and_seeded() -> None:
    targets = [int(t) for t in DigitsDataset(train=True).targets]
    # The first 100 of a class-sorted folder would hold one class; a balanced subset holds ten.
    sorted_targets = sorted(targets)
    subset = balanced_subset(sorted_targets, 100, seed=0)
    assert Counter(sorted_targets[i] for i in subset) == dict.fromkeys(range(10), 10)
    uneven = Counter(targets[i] for i in balanced_subset(targets, 95, seed=0))
    assert max(uneven.values()) - min(uneven.values()) == 1 and sum(uneven.values()) == 95
    assert balanced_subset(targets, 95, seed=0) == balanced_subset(targets, 95, seed=0)
    assert balanced_subset(targets, 95, seed=0) != balanced_subset(targets, 95, seed=1)
    recipe = resolve("digits", {"train_subset": 50, "val_subset": 20, "seed": 3})
    spec = check_data("digits", None)
    train, val = build_datasets(recipe, spec, {"mean": (0.5,) * 3, "std": (0.5,) * 3})
    assert Counter(int(train[i][1]) for i in range(len(train))) == dict.fromkeys(range(10), 5)
    # The validation subset does not move with the run's seed: every seed meets the same images.
    _, val_other_seed = build_datasets(
        dataclasses.replace(recipe, seed=4), spec, {"mean": (0.5,) * 3, "std": (0.5,) * 3}
    )
    assert val.indices == val_other_seed.indices and len(val) == 20
