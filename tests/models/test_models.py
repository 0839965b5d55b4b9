"""Every zoo model as a first-class timm model (after timm's tests/test_models.py).

The contract that is cheap to hold is held for every name, on the meta device (shapes only):
the pretrained cfg, the unpooled feature shape against ``pool_size`` and ``output_fmt``, the
pooled features and ``reset_classifier``. What needs real numbers (forward/backward, TorchScript,
torch.fx, features_only) runs on each family's smallest model, so adding a family adds one
model's worth of time.
"""

from __future__ import annotations

import pytest
import timm
import torch

import models
from benchmarks.counting import skip_meta_init
from tests.models.conftest import (
    ABLATIONS,
    built,
    built_on_meta,
    input_for,
    representatives,
)

ALL = models.list_models()


REPRESENTATIVES = list(representatives())
FIXED_GRID = [n for n in REPRESENTATIVES if built_on_meta(n).pretrained_cfg.get("fixed_input_size")]
# Multi-scale models (stages at several reductions) offer timm's feature API.
HIERARCHICAL = [
    n
    for n in REPRESENTATIVES
    if len({info["reduction"] for info in getattr(built_on_meta(n), "feature_info", [])}) > 1
]


def _id(overrides: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items())


def test_every_family_has_a_representative_and_every_name_a_family():
    assert len(REPRESENTATIVES) == len(models.registry.FAMILIES)
    assert sorted(n for f in models.registry.FAMILIES for n in models.list_models(f)) == sorted(ALL)
    assert len(set(ALL)) == len(ALL)


@pytest.mark.parametrize("name", ALL)
def test_pretrained_cfg(name):
    model = built_on_meta(name)
    cfg = model.pretrained_cfg
    for key in (
        "input_size",
        "pool_size",
        "crop_pct",
        "mean",
        "std",
        "interpolation",
        "first_conv",
        "classifier",
        "license",
        "origin_url",
    ):
        assert key in cfg, f"{name}: pretrained_cfg lacks {key}"
    assert isinstance(cfg.get("fixed_input_size", False), bool)
    if name != "dynamixer_digits":
        assert cfg["input_size"] == (3, 224, 224)
    modules = dict(model.named_modules())
    # The patch embedding: a conv, or (RaftMLP) a linear over flattened patches.
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d | torch.nn.Linear)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features == model.head_hidden_size


@pytest.mark.parametrize("name", ALL)
def test_every_model_has_a_computation_note(name):
    """One line on how the zoo computes the model relative to its authors' code."""
    note = models.computation_note(name)
    assert note and "\n" not in note and not note.startswith("computation")
    notes = timm.models.get_pretrained_cfg(name).notes
    assert sum(n.startswith("computation: ") for n in notes) == 1


def test_computation_note_names_the_switch_to_the_authors_computation():
    assert "fused=False" in models.computation_note("dynamixer_s")
    assert "cycle_fc='deform_conv'" in models.computation_note("cyclemlp_b1")
    with pytest.raises(ValueError, match="unknown model 'cyclemlp_b9'"):
        models.computation_note("cyclemlp_b9")


@pytest.mark.parametrize("name", ALL)
def test_default_cfg_shapes(name):
    """timm's test_model_default_cfgs, on the meta device: unpooled features match pool_size on
    the spatial axes of output_fmt, the channel axis is num_features, pooling gives num_features,
    and reset_classifier(0) makes forward return pooled features."""
    model = built_on_meta(name)
    cfg = model.pretrained_cfg
    x = torch.empty(2, *cfg["input_size"], device="meta")
    features = model.forward_features(x)
    pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    assert model.forward_head(features).shape == (2, cfg["num_classes"])
    if features.ndim == 4:
        output_fmt = getattr(model, "output_fmt", "NCHW")
        assert output_fmt in ("NCHW", "NHWC"), f"{name}: output_fmt {output_fmt!r}"
        channel, spatial = (1, (2, 3)) if output_fmt == "NCHW" else (3, (1, 2))
        assert features.shape[channel] == model.num_features, f"{name}: {output_fmt}"
        # timm's non-standard cfg test finds the channel axis through feature_dim (default 1).
        assert features.shape[getattr(model, "feature_dim", 1)] == model.num_features, name
        assert tuple(features.shape[i] for i in spatial) == tuple(cfg["pool_size"])
    else:  # tokens (B, N, C), as timm's MlpMixer returns them
        assert features.ndim == 3 and features.shape[-1] == model.num_features
    with skip_meta_init(), torch.device("meta"):
        headless = models.create_model(name).eval()
    headless.reset_classifier(0)
    assert headless(x).shape == (2, model.num_features)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = models.create_model(name, num_classes=7, drop_path_rate=0.1).train()
    x = input_for(model, batch=2)
    out = model(x)
    assert out.shape == (2, 7)
    out.mean().backward()
    # Frozen parameters (T2T-ViT's position table and Performer features) get no gradient.
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
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


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_forward_features_head_and_reset_classifier(name):
    model = models.create_model(name).eval()
    x = input_for(model)
    with torch.inference_mode():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        logits = model.forward_head(features)
        torch.testing.assert_close(logits, model(x))
    assert pooled.shape == (1, model.num_features)
    assert logits.shape == (1, model.num_classes)
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


@pytest.mark.parametrize("name", sorted({*REPRESENTATIVES, "dynamixer_s"}))
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


@pytest.mark.parametrize("name", sorted({*REPRESENTATIVES, "dynamixer_s"}))
def test_fx_trace_then_script(name):
    """timm's test_model_forward_fx and its torchscript variant: trace, then script the trace."""
    model = built(name)
    graph = torch.fx.symbolic_trace(model)
    x = input_for(model)
    with torch.inference_mode():
        expected = model(x)
        torch.testing.assert_close(graph(x), expected)
        torch.testing.assert_close(torch.jit.script(graph)(x), expected)


@pytest.mark.parametrize("name", HIERARCHICAL)
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
        assert feature.shape[-1] == -(-x.shape[-1] // info["reduction"])
    for a, b in zip(intermediates[-2:], last_two, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(full.forward_head(final), full(x))


@pytest.mark.parametrize("name", sorted({*FIXED_GRID, "dynamixer_s", "vip_s14"}))
def test_wrong_image_size_is_a_clear_error(name):
    """Raised at the top of forward, before any layer runs (so a meta-device model suffices)."""
    model = built_on_meta(name)
    height, width = model.pretrained_cfg["input_size"][1:]
    with pytest.raises(ValueError, match=rf"{height}x{width}.*got 192x160|got 192x160"):
        model(torch.empty(1, 3, 192, 160, device="meta"))
    digits = built("dynamixer_digits")
    with pytest.raises(ValueError, match=r"accepts only 32x32 images; got 224x224"):
        digits.forward_intermediates(torch.randn(1, 3, 224, 224))


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_timm_create_model_takes_device_and_dtype_and_says_in_chans(name):
    """timm 1.0's create_model passes device= and dtype= to every model class (its own
    test_model_default_cfgs does); the model says its in_chans as timm's do."""
    with skip_meta_init():
        model = timm.create_model(name, device="meta", dtype=torch.float64)
    parameter = next(model.parameters())
    assert (parameter.device.type, parameter.dtype) == ("meta", torch.float64)
    assert model.in_chans == 3
