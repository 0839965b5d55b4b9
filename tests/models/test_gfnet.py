"""GFNet-H (models/gfnet.py): layout and computation pinned to the authors' code, the global
filter against its definition (a global circular convolution, in float32 under autocast), bad
input, and the timm contract.

The digests and logits below were computed once from the authors' implementation
(github: raoyongming/GFNet, class GFNetPyramid in gfnet.py and the gfnet-h-* settings of
main_gfnet.py, at commit 2de48b626ea805de82a7f389fed930af1ae0340d), which CI cannot reach.
"""

import pytest
import timm
import torch

import models.gfnet
from models.gfnet import GFNetPyramid, GlobalFilter
from tests.models.conftest import fill_deterministic, state_digest

NAMES = ["gfnet_h_ti", "gfnet_h_s", "gfnet_h_b"]

# Parameter counts and state_digest() of the authors' GFNetPyramid with gfnet-h-ti/-s/-b's
# settings (identical for ours: same keys, same order, same shapes).
LAYOUT = {
    "gfnet_h_ti": (15_085_096, "330ab6f7629b1c9255dcbba184f758e80b1fe547c05ce8775001dc25b99e186c"),
    "gfnet_h_s": (32_162_632, "47ef960d47a524caa95623d3ebdcac6d3ff00638492e9f8f4639a8c0bf600a20"),
    "gfnet_h_b": (53_744_200, "557d19a000694dd6f5f0cb4da5bd1d27d03bd2ff7982c3f3dd8c4848484f7eee"),
}

# The authors' gfnet-h-ti after fill_deterministic(scale=...), in eval mode, on
# torch.randn(1, 3, 224, 224) from a generator seeded 0: its first five logits and the sum of
# all 1000, at two scales that catch different changes. At 0.02 (logits' standard deviation
# 0.41) LayerNorm's eps matters (1e-5 for 1e-6 moves the logits by 2% of their spread); at 0.1
# (standard deviation 0.88) a tanh-approximate GELU moves them by 4e-4 of it, an unnormalised
# inverse FFT by 11%.
AUTHORS_TINY_LOGITS = {
    0.02: (
        [
            -0.2240445911884308,
            -0.7127390503883362,
            -0.2750922441482544,
            0.018259327858686447,
            0.16554652154445648,
        ],
        3.934785842895508,
    ),
    0.1: (
        [
            0.2738332748413086,
            -1.000474214553833,
            0.38708049058914185,
            0.3786984086036682,
            1.5078787803649902,
        ],
        37.90100860595703,
    ),
}

# A narrow, shallow gfnet_h_ti (same code paths, same 56/28/14/7 token grids) keeps the
# contract checks fast; full-size versions of the costly ones are marked slow.
NARROW = dict(embed_dim=(8, 16, 32, 64), depth=(1, 1, 1, 1))


def _image(size: int = 224) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def narrow() -> GFNetPyramid:
    torch.manual_seed(0)
    return fill_deterministic(timm.create_model("gfnet_h_ti", **NARROW), scale=0.2).eval()


@pytest.mark.parametrize("name", NAMES)
def test_layout_matches_the_authors(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    count, digest = LAYOUT[name]
    assert sum(p.numel() for p in model.parameters()) == count
    assert state_digest(model) == digest


@pytest.mark.parametrize("scale", sorted(AUTHORS_TINY_LOGITS))
def test_computation_matches_the_authors(scale):
    model = fill_deterministic(timm.create_model("gfnet_h_ti"), scale=scale).eval()
    with torch.inference_mode():
        logits = model(_image())
    first, total = AUTHORS_TINY_LOGITS[scale]
    atol = 1e-5 * logits.std().item()
    torch.testing.assert_close(logits[0, :5], torch.tensor(first), rtol=1e-4, atol=atol)
    torch.testing.assert_close(logits.sum(), torch.tensor(total), rtol=1e-4, atol=10 * atol)


def _filter(side: int, channels: int) -> GlobalFilter:
    torch.manual_seed(0)
    return GlobalFilter(channels, h=side, w=side // 2 + 1)


def test_global_filter_is_a_global_circular_convolution():
    """A product in the frequency domain: shifting the grid circularly shifts the output, and
    the all-ones filter (orthonormal rfft2 then irfft2) gives the input back."""
    layer = _filter(side=7, channels=5)
    x = torch.randn(2, 7, 7, 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = layer(x)
        shifted = layer(torch.roll(x, shifts=(2, -3), dims=(1, 2)))
        torch.testing.assert_close(shifted, torch.roll(y, shifts=(2, -3), dims=(1, 2)))
        layer.complex_weight.zero_()
        layer.complex_weight[..., 0] = 1.0
        torch.testing.assert_close(layer(x), x, rtol=1e-5, atol=1e-6)
    # Every output token depends on every input token (a global receptive field).
    probe = torch.zeros(1, 7, 7, 5, requires_grad=True)
    _filter(side=7, channels=5)(probe)[0, 3, 3].sum().backward()
    assert (probe.grad.abs().sum(dim=-1) > 0).all()


def test_global_filter_runs_in_float32_under_bf16_autocast():
    """As the authors' code: float32 FFTs and filter, float32 out, whatever the autocast."""
    layer = _filter(side=14, channels=8)
    x = torch.randn(2, 14, 14, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        plain = layer(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under_autocast = layer(x)
            from_bf16 = layer(x.bfloat16())
    assert under_autocast.dtype == from_bf16.dtype == torch.float32
    torch.testing.assert_close(under_autocast, plain, rtol=0, atol=0)
    torch.testing.assert_close(from_bf16, layer(x.bfloat16().float()), rtol=0, atol=0)


def test_model_runs_under_bf16_autocast(narrow):
    x = _image()
    with torch.inference_mode():
        reference = narrow(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = narrow(x)
    assert torch.isfinite(logits).all()
    assert (logits.float() - reference).abs().max() < 0.05 * reference.std()


def test_stages_filters_and_stochastic_depth():
    with torch.device("meta"):
        model = timm.create_model("gfnet_h_s")
    assert [info["num_chs"] for info in model.feature_info] == [96, 192, 384, 768]
    assert [info["reduction"] for info in model.feature_info] == [4, 8, 16, 32]
    assert model.grid_sizes == [56, 28, 14, 7]
    filters = [
        tuple(block.filter.complex_weight.shape) for stage in model.blocks for block in stage
    ]
    assert (
        filters
        == [(56, 29, 96, 2)] * 3
        + [(28, 15, 192, 2)] * 3
        + [(14, 8, 384, 2)] * 10
        + [(7, 4, 768, 2)] * 3
    )
    blocks = [block for stage in model.blocks for block in stage]
    # The authors' rule: torch.linspace(0, 0.2, 19) over all blocks, no DropPath at rate 0.
    assert isinstance(blocks[0].drop_path, torch.nn.Identity)
    rates = [block.drop_path.drop_prob for block in blocks[1:]]
    assert rates == pytest.approx([0.2 * i / 18 for i in range(1, 19)])
    # LayerScale starts at each configuration's init_values.
    for name, init in (("gfnet_h_ti", 1e-3), ("gfnet_h_s", 1e-5), ("gfnet_h_b", 1e-6)):
        model = timm.create_model(name, **NARROW)
        assert torch.equal(model.blocks[0][0].gamma, torch.full((8,), init))
        assert model.pos_embed.shape == (1, 56 * 56, 8)


def test_another_input_size_builds_its_own_grids():
    """Like the authors' --input-size: filters and position embedding sized for that image."""
    model = timm.create_model("gfnet_h_ti", img_size=288, **NARROW).eval()
    assert model.grid_sizes == [72, 36, 18, 9]
    assert model.blocks[0][0].filter.complex_weight.shape == (72, 37, 8, 2)
    assert model.pos_embed.shape == (1, 72 * 72, 8)
    with torch.inference_mode():
        assert model(_image(288)).shape == (1, 1000)
    with pytest.raises(ValueError, match="accepts only 288x288 images; got 224x224"):
        model(_image())


@pytest.mark.parametrize("size", [192, 256])
def test_wrong_input_size_raises(narrow, size):
    x = torch.randn(1, 3, size, size)
    pattern = f"accepts only 224x224 images; got {size}x{size}"
    with pytest.raises(ValueError, match=pattern):
        narrow(x)
    with pytest.raises(ValueError, match=pattern):
        narrow.forward_intermediates(x)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"img_size": 226}, r"img_size 226 is not a multiple of patch_size 4"),
        ({"img_size": (224, 192)}, r"img_size must be square .* got 224x192"),
        ({"img_size": 16}, r"a 4x4 token grid .* cannot be halved 3 times for 4 stages"),
        ({"depth": (3, 0, 10, 3)}, r"depth must be a non-empty sequence of ints >= 1"),
        ({"depth": (3, 3, 10)}, r"one entry per stage; got 4, 3, 4"),
        ({"embed_dim": (64, 128, 0, 512)}, r"embed_dim must hold ints >= 1"),
        ({"mlp_ratio": (4, 4, 0, 4)}, r"mlp_ratio must hold values > 0"),
        ({"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\); got 1.0"),
        ({"global_pool": "max"}, r"global_pool must be 'avg' or ''; got 'max'"),
    ],
)
def test_invalid_configuration_raises_at_construction(overrides, pattern):
    with torch.device("meta"), pytest.raises(ValueError, match=pattern):
        timm.create_model("gfnet_h_ti", **overrides)


def test_pretrained_cfg():
    with torch.device("meta"):
        model = timm.create_model("gfnet_h_ti")
    cfg = model.pretrained_cfg
    assert cfg["fixed_input_size"] is True and cfg["input_size"] == (3, 224, 224)
    assert cfg["pool_size"] == (7, 7) and cfg["crop_pct"] == 0.875
    assert cfg["interpolation"] == "bicubic" and cfg["paper_ids"] == "arXiv:2107.00645"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features == model.head_hidden_size


@pytest.mark.parametrize(
    "overrides", [pytest.param(NARROW, id="narrow"), pytest.param({}, marks=pytest.mark.slow)]
)
def test_forward_backward(overrides):
    torch.manual_seed(0)
    model = timm.create_model("gfnet_h_ti", num_classes=7, drop_path_rate=0.1, **overrides)
    out = model.train()(_image())
    assert out.shape == (1, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_head_and_reset_classifier():
    torch.manual_seed(0)
    model = timm.create_model("gfnet_h_ti", **NARROW).eval()
    x = _image()
    with torch.inference_mode():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        torch.testing.assert_close(model.forward_head(features), model(x))
    assert features.shape == (1, 7, 7, model.num_features)  # NHWC, see output_fmt
    assert pooled.shape == (1, model.num_features)
    model.reset_classifier(0)
    with torch.inference_mode():
        assert model(x).shape == (1, model.num_features)
    model.reset_classifier(0, "")
    with torch.inference_mode():
        assert model(x).shape == (1, 7, 7, model.num_features)
    model.reset_classifier(3, "avg")
    with torch.inference_mode():
        assert model(x).shape == (1, 3)


def test_grad_checkpointing_computes_the_same(narrow):
    x = _image()
    plain = narrow.forward_features(x)
    narrow.set_grad_checkpointing(True)
    try:
        torch.testing.assert_close(narrow.forward_features(x), plain)
    finally:
        narrow.set_grad_checkpointing(False)


def test_group_matcher_covers_every_parameter():
    with torch.device("meta"):
        model = timm.create_model("gfnet_h_ti")
    names = [name for name, _ in model.named_parameters()]
    # Stem (patch embedding and position embedding), blocks (fine) or stages (coarse), head;
    # the final norm joins the last group.
    for coarse, expected_groups in ((False, 1 + 19 + 1), (True, 1 + 4 + 1)):
        groups = timm.models.group_parameters(model, model.group_matcher(coarse))
        assert sorted(n for group in groups.values() for n in group) == sorted(names)
        assert len(groups) == expected_groups
    fine = timm.models.group_parameters(model, model.group_matcher(), reverse=True)
    assert fine["pos_embed"] == fine["patch_embed.0.proj.weight"]
    assert fine["patch_embed.1.proj.weight"] == fine["blocks.1.0.filter.complex_weight"]


def _scripted_matches(model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.inference_mode():
        expected = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), expected)
        graph = torch.fx.symbolic_trace(model)
        torch.testing.assert_close(graph(x), expected)
        torch.testing.assert_close(torch.jit.script(graph)(x), expected)


def test_torchscript_and_fx(narrow):
    _scripted_matches(narrow, _image())


@pytest.mark.slow
def test_torchscript_and_fx_full_size():
    torch.manual_seed(0)
    _scripted_matches(timm.create_model("gfnet_h_ti").eval(), _image())


def test_features_only_and_intermediates(narrow):
    x = _image()
    features = timm.create_model("gfnet_h_ti", features_only=True, **NARROW).eval()
    # The wrapped model lost its final norm and head to pruning: the rest loads unchanged.
    incompatible = features.model.load_state_dict(narrow.state_dict(), strict=False)
    assert not incompatible.missing_keys
    assert {key.split(".")[0] for key in incompatible.unexpected_keys} == {"norm", "head"}
    with torch.inference_mode():
        maps = features(x)
        final, intermediates = narrow.forward_intermediates(x)
        torch.testing.assert_close(final, narrow.forward_features(x))
        last = narrow.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)
        early = narrow.forward_intermediates(x, indices=[0, 1], stop_early=True)
        nhwc = narrow.forward_intermediates(x, output_fmt="NHWC", intermediates_only=True)
        normed = narrow.norm(intermediates[-1].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert [tuple(m.shape) for m in maps] == [
        (1, 8, 56, 56),
        (1, 16, 28, 28),
        (1, 32, 14, 14),
        (1, 64, 7, 7),
    ]
    for mine, theirs, channels_last in zip(maps, intermediates, nhwc, strict=True):
        torch.testing.assert_close(mine, theirs)
        torch.testing.assert_close(channels_last, theirs.permute(0, 2, 3, 1))
    torch.testing.assert_close(last[0], normed)
    torch.testing.assert_close(early[1], intermediates[:2])
    torch.testing.assert_close(early[0], intermediates[1].permute(0, 2, 3, 1))  # before the norm
    # timm's fx feature extraction finds the stage outputs by the feature_info module names.
    graph = timm.create_model("gfnet_h_ti", features_only=True, feature_cls="fx", **NARROW).eval()
    graph.graph_module.load_state_dict(narrow.state_dict(), strict=False)
    with torch.inference_mode():
        traced = graph(x)
    for mine, theirs in zip(traced, intermediates, strict=True):
        torch.testing.assert_close(mine.permute(0, 3, 1, 2), theirs)  # NHWC stage outputs
    torch.manual_seed(0)
    pruned = timm.create_model("gfnet_h_ti", features_only=True, out_indices=(0, 1), **NARROW)
    assert len(pruned.model.blocks) == 2 and len(pruned.model.patch_embed) == 2
    assert isinstance(pruned.model.norm, torch.nn.Identity)


def test_module_registers_every_name():
    assert set(models.gfnet.default_cfgs) == set(NAMES)
    assert set(NAMES) <= set(timm.list_models("gfnet_*"))
