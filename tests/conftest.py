"""Fixtures every test folder shares."""

from __future__ import annotations

import pytest

import benchmarks.records as records


@pytest.fixture
def no_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to build a model: bad input must fail before that."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a model was built despite bad input: {args} {kwargs}")

    monkeypatch.setattr(records, "create_model", refuse)
    monkeypatch.setattr(records.timm, "create_model", refuse)
