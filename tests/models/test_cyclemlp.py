"""CycleMLP-B1..B5: layout and counts of the authors' models, their computation, Cycle FC.

CI cannot reach the authors' code (github: ShoufaChen/CycleMLP), so the figures it gave are
recorded here: they were computed from their cycle_mlp.py at commit
4e062a03e875d8dc4fbdd5dec96a918494705d38 (CycleMLP_B1 .. CycleMLP_B5, torch 2.14.1 CPU).
"""

import copy
import re

import pytest
import timm
import torch
from ptflops import get_model_complexity_info
from torchvision.ops import deform_conv2d

import models.cyclemlp as cyclemlp  # registers the cyclemlp_* names with timm
from models.cyclemlp import CYCLE_FC_METHODS, CycleFC, CycleNet, cycle_offsets
from tests.models.conftest import fill_deterministic, state_digest

# Parameter count and state_digest (the ordered (name, shape) list) of the authors' models.
AUTHORS_LAYOUT = {
    "cyclemlp_b1": (15_155_400, "f6c9843515a7900d2dbfe6d782c33e2b6fe5e64179a340d1218c9798f1224b65"),
    "cyclemlp_b2": (26_802_504, "e2064e847e41f73b2b6663372c187764bab64ef9622fa983908a2ffc04b5e9ea"),
    "cyclemlp_b3": (38_385_720, "47c898c7ffc7412fc91123ee74968d33557e518a5562fdd16ae31c5a076a8ca8"),
    "cyclemlp_b4": (51_796_552, "3d0d692e54aa0cadc9f858a41312c69c8be72df8da40aad114e4461e9133b19e"),
    "cyclemlp_b5": (75_747_280, "32c161e3431f284bf7dcc1e9da8f5d08e72a5f3df26fad6235fff48d8e03c254"),
}

# The authors' CycleMLP_B1 in eval mode after fill_deterministic(model), on
# torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)): logits[0, :5] and
# logits.sum(). Logits are of order 0.1-0.5; reversing the shifts, wrapping them around the
# image instead of zero-filling, or dropping them moves these by 0.01-0.1.
AUTHORS_B1_FIRST_LOGITS = [0.0526384376, -0.0569946542, -0.4588893950, -0.4088577926, -0.1554344147]
AUTHORS_B1_LOGIT_SUM = -1.37125647


@pytest.fixture
def skip_weight_init(monkeypatch):
    """Counting needs the structure only: skip the weight init (slow on meta tensors)."""
    monkeypatch.setattr(cyclemlp, "trunc_normal_", lambda tensor, **kwargs: tensor)


def image(batch: int = 1, height: int = 224, width: int = 224) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def b1() -> CycleNet:
    torch.manual_seed(0)
    return timm.create_model("cyclemlp_b1").eval()


@pytest.mark.parametrize("name", list(AUTHORS_LAYOUT))
def test_parameter_count_and_state_layout_match_the_authors(name, skip_weight_init):
    with torch.device("meta"):
        model = timm.create_model(name)
    count, digest = AUTHORS_LAYOUT[name]
    assert sum(p.numel() for p in model.parameters()) == count
    assert state_digest(model) == digest


# Multiply-accumulates at 224x224 from the issue's table (ptflops' aten backend counts a Cycle FC
# as the 1x1 linear it is); B5's is the README's 12.3 G.
TARGET_GMACS = {
    "cyclemlp_b1": 2.126,
    "cyclemlp_b2": 3.883,
    "cyclemlp_b3": 6.846,
    "cyclemlp_b4": 10.049,
    "cyclemlp_b5": 12.250,
}


@pytest.mark.parametrize(
    "name",
    ["cyclemlp_b1", *(pytest.param(n, marks=pytest.mark.slow) for n in list(TARGET_GMACS)[1:])],
)
def test_macs_within_one_percent_of_the_target(name, skip_weight_init):
    with torch.device("meta"):
        model = timm.create_model(name)
    macs, _ = get_model_complexity_info(
        model, (3, 224, 224), as_strings=False, backend="aten", print_per_layer_stat=False
    )
    assert macs / 1e9 == pytest.approx(TARGET_GMACS[name], rel=0.01)


def test_b1_logits_match_the_authors(b1):
    model = fill_deterministic(copy.deepcopy(b1))
    with torch.inference_mode():
        logits = model(image())
    expected = torch.tensor(AUTHORS_B1_FIRST_LOGITS)
    torch.testing.assert_close(logits[0, :5], expected, rtol=1e-4, atol=1e-5)
    total = torch.tensor(AUTHORS_B1_LOGIT_SUM)
    torch.testing.assert_close(logits.sum(), total, rtol=1e-4, atol=1e-4)


# Cycle FC


def test_cycle_offsets_are_the_authors():
    """Channel c reads (c + 1) % 3 - 1 tokens away: 0, +1, -1, 0, ... as (dy, dx) pairs."""
    along_width = cycle_offsets(5, (1, 3)).view(-1, 2)
    along_height = cycle_offsets(5, (3, 1)).view(-1, 2)
    steps = torch.tensor([0.0, 1.0, -1.0, 0.0, 1.0])
    torch.testing.assert_close(along_width, torch.stack([torch.zeros(5), steps], 1))
    torch.testing.assert_close(along_height, torch.stack([steps, torch.zeros(5)], 1))
    assert cycle_offsets(4, (1, 4)).view(-1, 2)[:, 1].tolist() == [0.0, 1.0, -2.0, -1.0]


def test_cycle_fc_shift_is_a_zero_filled_shift():
    fc = CycleFC(3, 3, (1, 3))
    x = torch.arange(1.0, 5.0).view(1, 1, 4, 1).expand(1, 2, 4, 3)  # (B, H, W, C): w + 1
    shifted = fc.shift(x)
    torch.testing.assert_close(shifted[0, :, :, 0], x[0, :, :, 0])  # offset 0
    assert shifted[0, 0, :, 1].tolist() == [2.0, 3.0, 4.0, 0.0]  # reads w + 1
    assert shifted[0, 0, :, 2].tolist() == [0.0, 1.0, 2.0, 3.0]  # reads w - 1


@pytest.mark.parametrize("kernel_size", [(1, 3), (3, 1), (1, 1), (1, 4), (5, 1)])
def test_cycle_fc_is_the_authors_fixed_offset_deform_conv(kernel_size):
    """CycleFC on NHWC equals torchvision's deform_conv2d with its offsets, as theirs runs it."""
    torch.manual_seed(0)
    fc = CycleFC(10, 6, kernel_size)
    with torch.no_grad():
        fc.bias.normal_()
    x = torch.randn(2, 10, 5, 7)
    expected = deform_conv2d(x, fc.offset.expand(2, -1, 5, 7), fc.weight, fc.bias)
    got = fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


# The authors' computation (cycle_fc="deform_conv") against the default shift path

NARROW = dict(layers=(1, 1), embed_dims=(16, 32), mlp_ratios=(2, 2), num_classes=10)


def both_paths(seed: int = 0) -> tuple[CycleNet, CycleNet]:
    """A narrow two-stage CycleNet on each path, with one state dict (loaded strictly)."""
    torch.manual_seed(seed)
    shift = fill_deterministic(CycleNet(**NARROW), seed=seed, scale=0.2)
    deform = CycleNet(**NARROW, cycle_fc="deform_conv")
    deform.load_state_dict(shift.state_dict(), strict=True)
    return shift, deform


def outputs_and_gradients(
    model: CycleNet, x: torch.Tensor, autocast: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits, and the gradients of their sum of squares w.r.t. the input and every parameter."""
    x = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(x)
    logits.float().square().sum().backward()
    gradients = {"input": x.grad} | {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None for g in gradients.values())
    return logits.detach().float(), gradients


def assert_close_to_scale(
    actual: torch.Tensor, expected: torch.Tensor, tolerance: float, what: str
):
    """max |actual - expected| <= tolerance * max |expected|: an error relative to the tensor's
    scale, as bf16 rounds every element to about 0.4% of itself."""
    error = (actual - expected).abs().max() / expected.abs().max()
    assert error <= tolerance, f"{what}: error {error:.2e} of the scale > {tolerance:.1e}"


# Errors relative to the tensor's scale: measured at most 6e-7 in fp32 (every output and
# gradient); in bf16 6e-3 (logits) and 3e-2 (gradients). Negating the offsets (shifting every
# channel the wrong way) moves logits by 3e-2 to 5e-2 and gradients by 0.5 to 0.9 of the scale.
PATH_TOLERANCES = {False: (1e-5, 1e-5), True: (1.5e-2, 6e-2)}


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_deform_conv_path_matches_the_shift_path(autocast):
    """Same logits and gradients (input and parameters), in fp32 and under CPU bf16 autocast."""
    shift, deform = both_paths()
    x = torch.randn(2, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    expected_logits, expected_gradients = outputs_and_gradients(shift, x, autocast)
    logits, gradients = outputs_and_gradients(deform, x, autocast)
    logits_tolerance, gradient_tolerance = PATH_TOLERANCES[autocast]
    assert_close_to_scale(logits, expected_logits, logits_tolerance, "logits")
    for name, expected in expected_gradients.items():
        assert_close_to_scale(gradients[name], expected, gradient_tolerance, f"d/d {name}")


def test_deform_conv_path_runs_the_authors_op(monkeypatch):
    """The deform_conv path calls torchvision's deform_conv2d, once per Cycle FC."""
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[1].shape)
        return deform_conv2d(*args, **kwargs)

    monkeypatch.setattr(cyclemlp, "deform_conv2d", counting)
    shift, deform = both_paths()
    x = image(1, 32, 32)
    with torch.inference_mode():
        shift(x)
        assert calls == []
        deform(x)
    # Two Cycle FCs per block, one block per stage; offsets (B, 2 * C, H, W) at 8x8 then 4x4.
    assert calls == [(1, 32, 8, 8), (1, 32, 8, 8), (1, 64, 4, 4), (1, 64, 4, 4)]


def test_deform_conv_path_scripts_and_traces():
    _, deform = both_paths()
    x = image(1, 32, 40)
    with torch.inference_mode():
        expected = deform.eval()(x)
        torch.testing.assert_close(torch.jit.script(deform)(x), expected)
        torch.testing.assert_close(torch.fx.symbolic_trace(deform)(x), expected)


def test_cycle_fc_override_keeps_the_authors_state_layout(skip_weight_init):
    with torch.device("meta"):
        model = timm.create_model("cyclemlp_b1", cycle_fc="deform_conv")
    fcs = [m for m in model.modules() if isinstance(m, CycleFC)]
    assert model.cycle_fc == "deform_conv" and len(fcs) == 20
    assert {fc.cycle_fc for fc in fcs} == {"deform_conv"}
    assert state_digest(model) == AUTHORS_LAYOUT["cyclemlp_b1"][1]


@pytest.mark.parametrize("bad", ["deform", "Shift", True])
def test_invalid_cycle_fc_fails_at_construction(bad, skip_weight_init):
    message = f"cycle_fc must be one of {CYCLE_FC_METHODS}; got {bad!r}"
    with torch.device("meta"), pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        timm.create_model("cyclemlp_b1", cycle_fc=bad)


# Bad configuration and input sizes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(layers=(2, 2, 4)), r"one entry per stage; got 3, 4, 4"),
        (dict(layers=(2, 0, 4, 2)), r"at least one block; got layers \(2, 0, 4, 2\)"),
        (dict(global_pool="max"), r"global_pool must be 'avg' or ''; got 'max'"),
    ],
)
def test_invalid_configuration_fails_at_construction(overrides, message, skip_weight_init):
    with torch.device("meta"), pytest.raises(ValueError, match=message):
        timm.create_model("cyclemlp_b1", **overrides)


def test_invalid_cycle_fc_kernel_fails_at_construction():
    with pytest.raises(ValueError, match=r"\(1, k\) or \(k, 1\) with k >= 1; got \(3, 3\)"):
        CycleFC(8, 8, (3, 3))


def test_any_input_size(b1):
    """No fixed token grid: a stride-4 stem, then three stride-2 convs."""
    with torch.inference_mode():
        assert b1.forward_features(image(1, 32, 48)).shape == (1, 1, 2, 512)
        assert b1.forward_features(image(1, 97, 131)).shape == (1, 3, 5, 512)
        assert b1(image(2, 97, 131)).shape == (2, 1000)


# The timm contract, on the smallest model


def test_pretrained_cfg_matches_the_model(b1):
    cfg = b1.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224) and cfg["fixed_input_size"] is False
    assert cfg["crop_pct"] == 0.875 and cfg["interpolation"] == "bicubic"
    assert cfg["license"] == "mit" and cfg["paper_ids"] == "arXiv:2107.10224"
    modules = dict(b1.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert modules[cfg["classifier"]] is b1.get_classifier()
    assert b1.output_fmt == "NHWC"
    with torch.inference_mode():
        features = b1.forward_features(image())
    assert features.shape == (1, *cfg["pool_size"], b1.num_features)


def test_forward_backward_with_checkpointing():
    torch.manual_seed(0)
    model = timm.create_model("cyclemlp_b1", num_classes=7, drop_path_rate=0.1).train()
    model.set_grad_checkpointing()
    out = model(image(2, 64, 64))
    assert out.shape == (2, 7)
    out.mean().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert torch.isfinite(out).all()


def test_head_and_reset_classifier(b1):
    model = copy.deepcopy(b1)
    x = image(1, 64, 64)
    with torch.inference_mode():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        torch.testing.assert_close(model.forward_head(features), model(x))
        model.reset_classifier(0)
        torch.testing.assert_close(model(x), pooled)
        model.reset_classifier(0, "")
        assert model(x).shape == (1, 2, 2, 512)
        model.reset_classifier(3, "avg")
        assert model(x).shape == (1, 3)
    assert pooled.shape == (1, model.num_features) == (1, model.head_hidden_size)


def test_torchscript_and_fx(b1):
    x = image(1, 96, 80)
    with torch.inference_mode():
        expected = b1(x)
        torch.testing.assert_close(torch.jit.script(b1)(x), expected)
        traced = torch.fx.symbolic_trace(b1)
        torch.testing.assert_close(traced(x), expected)
        torch.testing.assert_close(torch.jit.script(traced)(x), expected)


def test_features_only_and_intermediates(b1):
    features_only = timm.create_model("cyclemlp_b1", features_only=True).eval()
    loaded = features_only.model.load_state_dict(b1.state_dict(), strict=False)
    assert loaded.missing_keys == []  # only the pruned norm and head are left out
    x = image(1, 64, 64)
    with torch.inference_mode():
        features = features_only(x)
        final, intermediates = b1.forward_intermediates(x)
        last_two = b1.forward_intermediates(x, indices=2, intermediates_only=True)
        torch.testing.assert_close(final, b1.forward_features(x))
    info = features_only.feature_info
    assert info.channels() == [64, 128, 320, 512] and info.reduction() == [4, 8, 16, 32]
    for feature, intermediate, channels, reduction in zip(
        features, intermediates, info.channels(), info.reduction(), strict=True
    ):
        assert feature.shape == (1, channels, 64 // reduction, 64 // reduction)
        torch.testing.assert_close(feature, intermediate)
    for a, b in zip(intermediates[-2:], last_two, strict=True):
        torch.testing.assert_close(a, b)
