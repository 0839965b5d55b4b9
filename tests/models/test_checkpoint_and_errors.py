"""Checkpoint loading in every accepted format, and clear errors for bad input."""

from __future__ import annotations

import pytest
import torch

import models


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("layout", ["raw", "state_dict", "model", "ddp", "ddp_in_state_dict"])
def test_checkpoint_round_trip(tmp_path, layout):
    torch.manual_seed(0)
    source = models.create_model("dynamixer_digits")
    state = _state(source)
    ddp = {f"module.{k}": v for k, v in state.items()}
    payload = {
        "raw": state,
        "state_dict": {"state_dict": state, "epoch": 3},
        "model": {"model": state, "optimizer": {}},
        "ddp": ddp,
        "ddp_in_state_dict": {"state_dict": ddp},
    }[layout]
    path = tmp_path / "checkpoint.pth"
    torch.save(payload, path)
    torch.manual_seed(1)
    target = models.load_checkpoint(models.create_model("dynamixer_digits"), path)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(target.eval()(x), source.eval()(x), atol=0, rtol=0)


def test_checkpoint_that_does_not_fit_lists_every_problem(tmp_path):
    state = _state(models.create_model("dynamixer_digits", reweight=False))
    state["head.weight"] = torch.zeros(3, 64)
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "other.pth"
    torch.save(state, path)
    with pytest.raises(ValueError) as error:
        models.load_checkpoint(models.create_model("dynamixer_digits"), path)
    message = str(error.value)
    assert "missing keys" in message and "reweight.fc1.weight" in message
    assert "unexpected keys" in message and "extra.weight" in message
    assert "head.weight: checkpoint (3, 64) vs model (10, 64)" in message


def test_checkpoint_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "junk.pth"
    torch.save({"epoch": 3}, path)
    with pytest.raises(ValueError, match="not a state dict"):
        models.load_checkpoint(models.create_model("dynamixer_digits"), path)


def test_unknown_model_name_lists_known_names_and_a_close_match():
    with pytest.raises(ValueError) as error:
        models.create_model("dynamixer_ss")
    assert "Did you mean 'dynamixer_s'" in str(error.value)
    assert "vip_m7" in str(error.value) and "resmlp_b24" in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"segment_dim": 7}, r"segment_dim=7 does not divide .*accepted: None or 'D'"),
        ({"segment_dim": 0}, r"segment_dim must be a positive int.*got 0"),
        ({"reduced_dim": 0}, r"reduced_dim must be an int >= 1; got 0"),
        ({"mixing": "attention"}, r"mixing must be one of \('dynamic', 'random', 'dense'\)"),
        (
            {"row_mixing": False, "column_mixing": False, "channel_mixing": False},
            r"all False; at least one must be True",
        ),
        ({"share_row_column": True, "row_mixing": False}, r"share_row_column=True needs both"),
        ({"reweight": "yes"}, r"reweight must be True or False; got 'yes'"),
    ],
)
def test_invalid_override_raises_at_construction(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        models.create_model("dynamixer_s", **overrides)


def test_list_models_and_families():
    assert models.list_models("vip") == ["vip_s14", "vip_s7", "vip_m7", "vip_l7"]
    assert {"dynamixer_s", "dynamixer_m", "dynamixer_l", "resmlp_b24"} <= set(models.list_models())
    with pytest.raises(ValueError, match="unknown family 'gmlp'"):
        models.list_models("gmlp")
