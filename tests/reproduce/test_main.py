"""`python -m reproduce`: dispatch, and earlier command names that still work."""

from __future__ import annotations

import pytest

from reproduce.__main__ import main


def test_earlier_command_name_says_the_new_one_and_runs_it(capsys) -> None:
    with pytest.raises(SystemExit) as exit_status:
        main(["zoo", "--help"])
    assert exit_status.value.code == 0
    captured = capsys.readouterr()
    assert "python -m reproduce zoo is now python -m reproduce mlp-zoo" in captured.err
    assert "usage: python -m reproduce mlp-zoo" in captured.out


def test_unknown_command_is_one_error_naming_the_commands(capsys) -> None:
    assert main(["zoos"]) == 2
    assert (
        "unknown command 'zoos'; accepted: table4, tables, train, evaluate, mlp-zoo, scaling"
        in (capsys.readouterr().err)
    )
