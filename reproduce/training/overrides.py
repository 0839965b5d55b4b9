"""``key=value`` overrides of a named config, and the results-store key of what they make.

`parse_overrides` reads the command line's ``key=value`` words; `resolve` applies them to a
named config (Recipe fields or model overrides, each checked against its type); `config_key`
names the result, so two launches of the same settings share a record and a run folder.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from reproduce.training.recipe import MODEL_KEYS, Recipe
from reproduce.training.recipes import RECIPES, get_recipe, unknown_name

__all__ = ["changed_fields", "config_key", "parse_overrides", "resolve"]


def _parse_value(text: str) -> Any:
    """A Python literal (``3``, ``1e-3``, ``None``, ``True``, ``(0.5, 0.5)``) or else the string."""
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if "," in text:  # norm,patch_embed -> ("norm", "patch_embed")
            return tuple(_parse_value(part.strip()) for part in text.split(",") if part.strip())
        return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=1e-3", "reduced_dim=4"]`` -> ``{"lr": 0.001, "reduced_dim": 4}``."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not key=value")
        overrides[key.strip()] = _parse_value(value.strip())
    return overrides


_HINTS = typing.get_type_hints(Recipe)
_LOCKED = ("name", "source", "table", "row")  # identity fields: not overridable


def _coerce(key: str, value: Any) -> Any:
    """Check ``value`` against the type of Recipe field ``key`` (int -> float is allowed)."""
    hint = _HINTS[key]
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (types.UnionType,) else (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return None
        origin = typing.get_origin(kind) or kind
        if origin is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if origin is tuple and isinstance(value, str | list | tuple):
            return _coerce_tuple(key, kind, value)
        if origin is dict and isinstance(value, dict):
            return value
        if isinstance(origin, type) and isinstance(value, origin):
            if origin is int and isinstance(value, bool):
                continue
            return value
    raise ValueError(f"{key}={value!r}: expected {hint}")


def _coerce_tuple(key: str, kind: Any, value: str | list | tuple) -> tuple:
    """A tuple of the hint's element type: floats (``mean``) or names (``frozen_modules``)."""
    element = typing.get_args(kind)[0]
    items = (value,) if isinstance(value, str) else tuple(value)
    if element is str:
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"{key}={value!r}: expected names, e.g. {key}=norm,patch_embed")
        return items
    if any(isinstance(item, str | bool) for item in items):
        raise ValueError(f"{key}={value!r}: expected numbers")
    return tuple(float(item) for item in items)


def resolve(name: str, overrides: Mapping[str, Any] | None = None) -> Recipe:
    """The recipe ``name`` with ``overrides`` applied: Recipe fields, or model overrides.

    Model overrides (``reduced_dim=4``) go into ``Recipe.overrides``; ``None`` as a model
    override value is kept (Table 5's single segment). Raises ValueError naming the bad key
    and the accepted ones.
    """
    recipe = get_recipe(name)
    fields: dict[str, Any] = {}
    model_overrides = dict(recipe.overrides)
    accepted = [f.name for f in dataclasses.fields(Recipe) if f.name not in _LOCKED]
    for key, value in (overrides or {}).items():
        if key in MODEL_KEYS:
            model_overrides[key] = value
        elif key in accepted and key != "overrides":
            fields[key] = _coerce(key, value)
        else:
            raise unknown_name("key", key, sorted({*accepted, *MODEL_KEYS} - {"overrides"}))
    return dataclasses.replace(recipe, overrides=model_overrides, **fields)


def config_key(recipe: Recipe) -> str:
    """The results-store key: the config name, plus a short hash when it differs from the named one.

    Two launches of the same settings share a key (and so a result and a run folder).
    """
    base = RECIPES.get(recipe.name)
    if base is None or base == recipe:
        return recipe.name
    changed = changed_fields(recipe)
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True, default=str).encode()).hexdigest()
    return f"{recipe.name}+{digest[:8]}"


def changed_fields(recipe: Recipe) -> dict[str, Any]:
    """The fields of ``recipe`` that differ from its named config (what the user overrode)."""
    base = RECIPES.get(recipe.name)
    if base is None:
        return {}
    return {
        f.name: getattr(recipe, f.name)
        for f in dataclasses.fields(Recipe)
        if getattr(recipe, f.name) != getattr(base, f.name)
    }
