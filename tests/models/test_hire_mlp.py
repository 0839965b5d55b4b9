"""Hire-MLP (models/hire_mlp.py): layout and computation pinned to the authors' code.

The authors' code (github: ggjy/Hire-Wave-MLP.pytorch, mlp_based/hire_mlp.py at commit
7ef7ddd784f97b6369d6fbaf913c4c1536949cf6) is not reachable from CI, so the figures below were
computed from it once, locally, with this project's torch and timm: state-dict digests of
``hire_mlp_tiny/small/base/large`` built on the meta device, and the logits of
``hire_mlp_tiny`` filled by ``fill_deterministic`` (default seed and scale) on a fixed input.
"""

import pytest
import timm
import torch
import torch.fx

from models import hire_mlp  # registers the names with timm
from models.hire_mlp import HireMLP, HireModule, smallest_input_size
from tests.models.conftest import fill_deterministic, state_digest

# name: (parameters, state_digest of the authors' model of the same size)
LAYOUTS = {
    "hire_mlp_ti": (
        18_041_672,
        "fca4e7fb80900a9c4da223f47a6347cbf48f3e44224984e18fc28203adda8129",
    ),
    "hire_mlp_s": (
        33_113_848,
        "2cc5f376904a2557d68cfc91b60b0d44b714c273b5a1e73796ca3e3e5941cf6b",
    ),
    "hire_mlp_b": (
        58_226_856,
        "6414d532aa598e600f4e2552eb4efcb70f0103781978f96892a4396ababc73df",
    ),
    "hire_mlp_l": (
        95_723_944,
        "a8d9a0ab700eb1d872e743aff6d4b674b4612ea629061d0191062074395b4489",
    ),
}

# The authors' hire_mlp_tiny, fill_deterministic(model), eval mode, on FIXED_INPUT below.
AUTHORS_TINY_LOGITS_HEAD = [
    -0.04769240319728851,
    -0.01701931655406952,
    0.03387550264596939,
    0.005166970193386078,
    0.008079323917627335,
]
AUTHORS_TINY_LOGITS_SUM = -1.3632068634033203


def fixed_input(size: int = 224) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def skip_weight_init(monkeypatch):
    """Layout checks need the structure only: skip the (slow, on meta tensors) weight init."""
    monkeypatch.setattr(hire_mlp, "_init_weights", lambda module: None)


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("hire_mlp_ti").eval()


@pytest.mark.parametrize("name", list(LAYOUTS))
@pytest.mark.usefixtures("skip_weight_init")
def test_layout_matches_authors(name):
    params, digest = LAYOUTS[name]
    with torch.device("meta"):
        model = timm.create_model(name)
    assert sum(p.numel() for p in model.parameters()) == params
    assert state_digest(model) == digest


def test_logits_match_authors():
    # Logits are about 0.05 at this fill scale; reversing the cross-region shifts moves them by
    # up to 1e-3 and their sum by 4e-3, far outside these tolerances.
    model = fill_deterministic(timm.create_model("hire_mlp_ti")).eval()
    with torch.inference_mode():
        logits = model(fixed_input())
    expected = torch.tensor(AUTHORS_TINY_LOGITS_HEAD)
    torch.testing.assert_close(logits[0, :5], expected, rtol=1e-4, atol=1e-6)
    assert logits.sum().item() == pytest.approx(AUTHORS_TINY_LOGITS_SUM, rel=1e-4, abs=1e-5)


# --- The Hire module against a direct reading of the paper's rearrangements ---------------------


def reference_mix_rows(x: torch.Tensor, conv1, norm, conv2, region_size: int, shift: int):
    """Inner-region mixing along dim 1 of one image x (C, H, W), one region at a time.

    Cross-region shift: row y of the shifted grid is row (y - shift) mod H of x. The grid is
    padded circularly to whole regions, so padded row y is again row (y - shift) mod H. Each
    region's r rows of column j become one vector with entry c * r + i = row i, channel c; a
    two-layer MLP (conv1, norm, ReLU, conv2 as linears) mixes it; the result goes back to the
    region's rows, and the shift is undone: output row y is mixed row (y + shift) mod H.
    """
    channels, height, width = x.shape
    regions = -(-height // region_size)
    mixed = torch.empty(channels, regions * region_size, width, dtype=x.dtype)
    for k in range(regions):
        rows = [((k * region_size + i) - shift) % height for i in range(region_size)]
        for j in range(width):
            vector = torch.stack([x[:, row, j] for row in rows], dim=1).reshape(-1)
            hidden = conv1.weight.flatten(1) @ vector
            hidden = (hidden - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps)
            hidden = torch.relu(hidden * norm.weight + norm.bias)
            out = conv2.weight.flatten(1) @ hidden + conv2.bias
            mixed[:, k * region_size : (k + 1) * region_size, j] = out.reshape(channels, -1)
    return mixed[:, [(y + shift) % height for y in range(height)]]


@pytest.mark.parametrize(
    ("region_size", "shift", "height", "width"), [(3, 1, 7, 5), (4, 2, 6, 9), (2, 0, 5, 4)]
)
def test_hire_module_rearrangement_matches_definition(region_size, shift, height, width):
    torch.manual_seed(0)
    module = HireModule(8, region_size=region_size, shift=shift).double().eval()
    for name, value in module.named_parameters():
        torch.nn.init.normal_(value, mean=1.0 if "norm" in name else 0.0, std=0.3)
    for norm in (module.mlp_h1_norm, module.mlp_w1_norm):
        norm.running_mean.normal_(std=0.1)
        norm.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 8, height, width, dtype=torch.float64)
    h = reference_mix_rows(
        x[0], module.mlp_h1, module.mlp_h1_norm, module.mlp_h2, region_size, shift
    )
    w = reference_mix_rows(
        x[0].transpose(1, 2), module.mlp_w1, module.mlp_w1_norm, module.mlp_w2, region_size, shift
    ).transpose(1, 2)
    with torch.no_grad():
        torch.testing.assert_close(module.mix_height(x)[0], h)
        torch.testing.assert_close(module.mix_width(x)[0], w)


@pytest.mark.usefixtures("skip_weight_init")
def test_shift_schedule_follows_block_index():
    """Block j of stage i shifts by (j % shift_periods[i]) * shift_steps[i] tokens."""
    with torch.device("meta"):
        model = timm.create_model("hire_mlp_s")
    shifts = [[block.attn.shift for block in model.network[i]] for i in (0, 2, 4, 6)]
    assert shifts == [[0, 2, 0], [0, 2, 0, 2], [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], [0, 1, 0]]
    regions = [model.network[i][0].attn.region_size for i in (0, 2, 4, 6)]
    assert regions == [4, 3, 3, 2]


# --- Input sizes and bad configurations ---------------------------------------------------------


def test_any_size_from_the_minimum_and_a_clear_error_below(tiny):
    """Grids are padded to whole regions, so sizes are free down to 19 pixels (circular padding
    of a 1-token grid to a 3-token region would wrap it twice)."""
    assert tiny.pretrained_cfg["fixed_input_size"] is False
    assert smallest_input_size((4, 3, 3, 2), "circular") == tiny.min_input_size == 19
    assert tiny.pretrained_cfg["min_input_size"] == (3, 19, 19)
    with torch.inference_mode():
        assert tiny(torch.randn(1, 3, 19, 30)).shape == (1, 1000)
        with pytest.raises(ValueError, match=r"at least 19x19.*got 18x30"):
            tiny(torch.randn(1, 3, 18, 30))
        with pytest.raises(ValueError, match=r"got 30x18"):
            tiny.forward_features(torch.randn(1, 3, 30, 18))
    zero_padded = HireMLP((1, 1, 1, 1), (8, 8, 8, 8), region_padding="zero", img_size=3).eval()
    with torch.inference_mode():
        assert zero_padded(torch.randn(1, 3, 3, 3)).shape == (1, 1000)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"region_padding": "reflect"}, "region_padding must be one of"),
        ({"shift_padding": "replicate"}, "shift_padding must be one of"),
        ({"region_sizes": (4, 3, 3)}, "one entry per stage"),
        ({"shift_periods": (2, 0, 3, 2)}, "shift_periods and region_sizes must be >= 1"),
        ({"img_size": 16}, "img_size 16 is too small.*19x19"),
        ({"global_pool": "max"}, "global_pool must be"),
    ],
)
def test_bad_configuration_fails_at_construction(overrides, message):
    with torch.device("meta"), pytest.raises(ValueError, match=message):
        timm.create_model("hire_mlp_ti", **overrides)


# --- The timm contract, briefly (the shared zoo tests cover the rest) ---------------------------


def test_forward_backward_and_heads():
    torch.manual_seed(0)
    model = timm.create_model("hire_mlp_ti", num_classes=7, drop_path_rate=0.1).train()
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    features = model.forward_features(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, 512, 1, 1)
    assert model.forward_head(features, pre_logits=True).shape == (2, 512)
    model.reset_classifier(0)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, model.num_features)


def test_torchscript_and_fx_match_eager(tiny):
    x = torch.randn(1, 3, 32, 48)
    with torch.inference_mode():
        eager = tiny(x)
    scripted = torch.jit.script(tiny)
    traced = torch.fx.symbolic_trace(tiny)
    traced_scripted = torch.jit.script(traced)
    with torch.inference_mode():
        torch.testing.assert_close(scripted(x), eager)
        torch.testing.assert_close(traced(x), eager)
        torch.testing.assert_close(traced_scripted(x), eager)


def test_features_only_and_intermediates(tiny):
    features = timm.create_model("hire_mlp_ti", features_only=True).eval()
    assert features.feature_info.channels() == [64, 128, 320, 512]
    assert features.feature_info.reduction() == [4, 8, 16, 32]
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        maps = features(x)
        final, intermediates = tiny.forward_intermediates(x, indices=2, norm=True)
        assert [m.shape[-2:] for m in maps] == [(16, 24), (8, 12), (4, 6), (2, 3)]
        torch.testing.assert_close(final, tiny.forward_features(x))
        torch.testing.assert_close(intermediates[-1], final)
        assert intermediates[0].shape == (1, 320, 4, 6)
