"""Every zoo model as a first-class timm model (after timm's tests/test_models.py)."""

from __future__ import annotations

import pytest
import timm
import torch

import models
from tests.models.conftest import ABLATIONS, built, input_for

NAMED = [n for n in models.list_models() if n != "dynamixer_digits"]


def _id(overrides: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items())


@pytest.mark.parametrize("name", NAMED)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = models.create_model(name, num_classes=7, drop_path_rate=0.1).train()
    x = input_for(model, batch=2)
    out = model(x)
    assert out.shape == (2, 7)
    out.mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"{name}: parameters without gradient: {no_grad[:5]}"
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("overrides", ABLATIONS, ids=_id)
def test_ablations_forward_backward(overrides):
    """Every ablation override of the named configs also applies to the small digits model."""
    torch.manual_seed(0)
    model = models.create_model("dynamixer_digits", **overrides)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_ablation_on_full_model_forward():
    model = models.create_model("dynamixer_s", mixing="dense", num_classes=5).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 5)


@pytest.mark.parametrize("name", NAMED)
def test_pretrained_cfg(name):
    with torch.device("meta"):
        model = models.create_model(name)
    cfg = model.pretrained_cfg
    for key in (
        "input_size",
        "crop_pct",
        "mean",
        "std",
        "interpolation",
        "first_conv",
        "classifier",
    ):
        assert key in cfg, f"{name}: pretrained_cfg lacks {key}"
    assert cfg["fixed_input_size"] is True
    assert cfg["input_size"] == (3, 224, 224)
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features


SMALL = ["dynamixer_digits", "vip_s7", "resmlp_s12"]


@pytest.mark.parametrize("name", SMALL)
def test_forward_features_and_head(name):
    model = built(name)
    x = input_for(model)
    with torch.inference_mode():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        logits = model.forward_head(features)
        torch.testing.assert_close(logits, model(x))
    assert pooled.shape == (1, model.num_features)
    assert logits.shape == (1, model.num_classes)


@pytest.mark.parametrize("name", ["dynamixer_digits", "vip_s7", "resmlp_s12"])
def test_reset_classifier(name):
    model = models.create_model(name).eval()
    x = input_for(model)
    model.reset_classifier(0)
    with torch.inference_mode():
        assert model(x).shape == (1, model.num_features)
    model.reset_classifier(3)
    with torch.inference_mode():
        assert model(x).shape == (1, 3)


@pytest.mark.parametrize("name", ["dynamixer_s", "vip_s14", "resmlp_s12"])
def test_timm_create_model_is_the_same_model(name):
    torch.manual_seed(0)
    ours = models.create_model(name)
    torch.manual_seed(0)
    theirs = timm.create_model(name)
    assert type(ours) is type(theirs)
    assert ours.pretrained_cfg == theirs.pretrained_cfg
    for (k1, v1), (k2, v2) in zip(
        ours.state_dict().items(), theirs.state_dict().items(), strict=True
    ):
        assert k1 == k2 and torch.equal(v1, v2)


@pytest.mark.parametrize("name", ["dynamixer_s", "vip_s7", "resmlp_s12", "dynamixer_digits"])
def test_torchscript(name):
    model = built(name)
    scripted = torch.jit.script(model)
    x = input_for(model)
    with torch.inference_mode():
        torch.testing.assert_close(scripted(x), model(x))


@pytest.mark.parametrize("overrides", ABLATIONS, ids=_id)
def test_torchscript_ablations(overrides):
    model = models.create_model("dynamixer_digits", **overrides).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(torch.jit.script(model)(x), model(x))


@pytest.mark.parametrize("name", ["dynamixer_s", "vip_s7", "resmlp_s12", "dynamixer_digits"])
def test_fx_trace(name):
    model = built(name)
    graph = torch.fx.symbolic_trace(model)
    x = input_for(model)
    with torch.inference_mode():
        torch.testing.assert_close(graph(x), model(x))


@pytest.mark.parametrize("name", ["vip_s7", "dynamixer_digits"])
def test_features_only_and_intermediates(name):
    torch.manual_seed(0)
    model = timm.create_model(name, features_only=True).eval()
    full = built(name)
    x = input_for(full)
    with torch.inference_mode():
        features = model(x)
        final, intermediates = full.forward_intermediates(x)
        last_two = full.forward_intermediates(x, indices=2, intermediates_only=True)
    assert len(features) == len(full.feature_info) == len(intermediates)
    for feature, info in zip(features, model.feature_info.get_dicts(), strict=True):
        assert feature.shape[1] == info["num_chs"]
        assert feature.shape[-1] == x.shape[-1] // info["reduction"]
    for a, b in zip(intermediates[-2:], last_two, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(full.forward_head(final), full(x))


@pytest.mark.parametrize("name", ["dynamixer_s", "vip_s7", "vip_s14"])
def test_wrong_image_size_is_a_clear_error(name):
    """Raised at the top of forward, before any layer runs (so a meta-device model suffices)."""
    with torch.device("meta"):
        model = models.create_model(name)
    with pytest.raises(ValueError, match=r"accepts only 224x224 images; got 192x160"):
        model(torch.randn(1, 3, 192, 160))
    digits = built("dynamixer_digits")
    with pytest.raises(ValueError, match=r"accepts only 32x32 images; got 224x224"):
        digits.forward_intermediates(torch.randn(1, 3, 224, 224))
