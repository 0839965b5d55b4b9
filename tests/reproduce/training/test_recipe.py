"""A recipe's derived settings: accumulation steps reach the recipe's global batch."""

from __future__ import annotations

import pytest

from reproduce.training.overrides import resolve
from reproduce.training.recipe import accumulation_steps
from reproduce.training.recipes import get_recipe


def test_accumulation_steps_reach_the_recipes_global_batch() -> None:
    recipe = get_recipe("imagenet_dynamixer_s")  # 256 per GPU x 8 GPUs
    assert recipe.global_batch == 2048
    assert [accumulation_steps(recipe, world) for world in (1, 2, 4, 8, 16)] == [8, 4, 2, 1, 1]
    smaller = resolve("imagenet_dynamixer_s", {"batch_size": 128})
    assert smaller.global_batch == 2048 and accumulation_steps(smaller, 1) == 16
    with pytest.raises(ValueError, match="global batch 2048 is not a whole number"):
        accumulation_steps(resolve("imagenet_dynamixer_s", {"batch_size": 96}), 1)
    forced = resolve("imagenet_dynamixer_s", {"accumulation_steps": 3})
    assert accumulation_steps(forced, 1) == 3
    assert [get_recipe(f"imagenet_dynamixer_{s}").global_batch for s in "sml"] == [2048, 1024, 512]
