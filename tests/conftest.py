"""Fixtures every test folder shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import benchmarks.records as records


@pytest.fixture
def no_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to build a model: bad input must fail before that."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a model was built despite bad input: {args} {kwargs}")

    monkeypatch.setattr(records, "create_model", refuse)
    monkeypatch.setattr(records.timm, "create_model", refuse)


def refusal(
    main: Callable[[Sequence[str]], int], argv: Sequence[str], capsys: pytest.CaptureFixture[str]
) -> str:
    """What a command printed on stderr when it refused ``argv``: it must exit with status 2."""
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 2
    return capsys.readouterr().err
