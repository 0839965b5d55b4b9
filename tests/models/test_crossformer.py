"""CrossFormer (models/crossformer.py): layout and computation pinned to the authors' code, the
grouping and position-bias buffers against their definitions, accepted sizes, bad input, and
the timm contract.

The digests and logits below were computed once from the authors' implementation
(github: cheerss/CrossFormer, branch ``crossformer``, models/crossformer.py and the
configs/*_patch4_group7_224.yaml settings, at commit 4fbf7501d6923f2564e8cb6d08a2d0138fc24a16),
which CI cannot reach.
"""

import pytest
import timm
import torch

import models.crossformer
from models.crossformer import (
    CrossFormer,
    accepted_sizes,
    group_tokens,
    relative_offsets,
    relative_position_index,
    ungroup_tokens,
)
from tests.models.conftest import fill_deterministic, state_digest

NAMES = ["crossformer_t", "crossformer_s", "crossformer_b", "crossformer_l"]

# Parameter counts and state_digest() of the authors' CrossFormer with each config's settings
# (identical for ours: same keys, same order, same shapes; buffers included).
LAYOUT = {
    "crossformer_t": (
        27_776_794,
        "46c7c65506297cf2d9b3a68d7a39b0ef50bdb60a85cff58a1c082bbd1e990e0a",
    ),
    "crossformer_s": (
        30_657_394,
        "e4c80b1b48daec92b39b89f1ed5b90ef525efdf549a2bc33f4b4ae27987701c3",
    ),
    "crossformer_b": (
        51_971_554,
        "15d8c02bfc4ff142799c31c7595b67d3e709441f0d62302997936e9c9b119dd0",
    ),
    "crossformer_l": (
        91_971_184,
        "1b35c70b0aa28a63f90cbde25e2a0471234d94e4a85774c3bc43699c25ad8c68",
    ),
}

# The authors' CrossFormer-T after fill_deterministic(scale=...), in float64 and eval mode, on
# torch.randn(1, 3, 224, 224) from a generator seeded 0: its first five logits and the sum of
# all 1000. Float64, because this network amplifies rounding: at scale 0.2 float32 logits
# differ from float64 ones by 7e-4 of their standard deviation (5.03), while float64 runs agree
# to 1e-14. At 0.02 (standard deviation 0.147) a 1.5x error in one block's attention scale
# moves the logits by 3e-3 of their standard deviation, a transposed position bias by 3e-3; at
# 0.2 both move them by a third of it.
AUTHORS_TINY_LOGITS = {
    0.02: (
        [
            0.11762568273872887,
            -0.24262727638880538,
            -0.21949386417754102,
            0.32238903921401796,
            -0.1615889588733804,
        ],
        5.365442222849305,
    ),
    0.2: (
        [
            -6.27833003264072,
            -3.563134919897219,
            0.9899937169083772,
            6.97169364643433,
            -2.1947591417373435,
        ],
        -81.27882947853651,
    ),
}

# A narrow crossformer_t (same code paths: SDA and LDA blocks on the 56/28/14 grids, one
# whole-grid group on the 7x7 one) keeps the contract checks fast; full-size versions of the
# costly ones are marked slow.
NARROW = dict(embed_dim=16, depths=(2, 1, 2, 1), num_heads=(1, 1, 2, 2))


def _image(size: int = 224) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def narrow() -> CrossFormer:
    torch.manual_seed(0)
    return fill_deterministic(timm.create_model("crossformer_t", **NARROW), scale=0.2).eval()


@pytest.mark.parametrize("name", NAMES)
def test_layout_matches_the_authors(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    count, digest = LAYOUT[name]
    assert sum(p.numel() for p in model.parameters()) == count
    assert state_digest(model) == digest


@pytest.mark.parametrize("scale", sorted(AUTHORS_TINY_LOGITS))
def test_computation_matches_the_authors(scale):
    model = fill_deterministic(timm.create_model("crossformer_t"), scale=scale).double().eval()
    with torch.inference_mode():
        logits = model(_image().double())
    first, total = AUTHORS_TINY_LOGITS[scale]
    atol = 1e-9 * logits.std().item()
    expected = torch.tensor(first, dtype=torch.float64)
    torch.testing.assert_close(logits[0, :5], expected, rtol=0, atol=atol)
    torch.testing.assert_close(
        logits.sum(), torch.tensor(total, dtype=torch.float64), rtol=0, atol=100 * atol
    )


@pytest.mark.parametrize("group_size", [1, 3, 7])
def test_position_buffers_against_their_definition(group_size):
    """The authors' construction: offsets from a meshgrid, indices from coordinate differences."""
    span = torch.arange(1 - group_size, group_size)
    offsets = torch.stack(torch.meshgrid(span, span, indexing="ij")).flatten(1).t().float()
    coords = torch.arange(group_size)
    grid = torch.stack(torch.meshgrid(coords, coords, indexing="ij")).flatten(1)  # (2, G*G)
    relative = (grid[:, :, None] - grid[:, None, :]).permute(1, 2, 0) + group_size - 1
    index = relative[..., 0] * (2 * group_size - 1) + relative[..., 1]
    assert torch.equal(relative_offsets(group_size), offsets)
    assert torch.equal(relative_position_index(group_size), index)
    assert relative_position_index(group_size).dtype == torch.long


def test_position_buffers_are_persistent_and_survive_a_meta_build():
    torch.manual_seed(0)
    model = timm.create_model("crossformer_t", **NARROW)
    keys = list(model.state_dict())
    assert "layers.0.blocks.0.attn.biases" in keys
    assert "layers.0.blocks.0.attn.relative_position_index" in keys
    # The last stage's 7x7 grid is one group: its buffers have the 7x7 group's shapes too.
    attn = model.layers[3].blocks[0].attn
    assert tuple(attn.biases.shape) == (169, 2)
    assert tuple(attn.relative_position_index.shape) == (49, 49)
    with torch.device("meta"):
        meta = timm.create_model("crossformer_t", **NARROW)
    assert meta.layers[0].blocks[0].attn.biases.is_meta
    meta.to_empty(device="cpu").load_state_dict(model.state_dict(), strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(meta.state_dict()[key], value), key


@pytest.mark.parametrize("long_distance", [False, True], ids=["SDA", "LDA"])
def test_grouping_against_its_definition(long_distance):
    """SDA groups G x G blocks of adjacent tokens; LDA takes tokens H/G (W/G) apart."""
    height, width, g = 14, 21, 7
    x = torch.arange(height * width, dtype=torch.float32).reshape(1, height, width, 1)
    groups = group_tokens(x, height, width, g, long_distance)
    assert groups.shape == (height * width // g**2, g * g, 1)
    for index, group in enumerate(groups[..., 0]):
        i, j = divmod(index, width // g)
        if long_distance:
            rows = [a * (height // g) + i for a in range(g)]
            cols = [b * (width // g) + j for b in range(g)]
        else:
            rows = [i * g + a for a in range(g)]
            cols = [j * g + b for b in range(g)]
        expected = [float(r * width + c) for r in rows for c in cols]
        assert group.tolist() == expected
    assert torch.equal(ungroup_tokens(groups, height, width, g, long_distance), x)


def test_stages_groups_and_stochastic_depth():
    with torch.device("meta"):
        model = timm.create_model("crossformer_b")
        large = timm.create_model("crossformer_t", img_size=448)
    assert [info["num_chs"] for info in model.feature_info] == [96, 192, 384, 768]
    assert [info["reduction"] for info in model.feature_info] == [4, 8, 16, 32]
    blocks = [block for stage in model.layers for block in stage.blocks]
    assert [block.grid_size for block in blocks] == [56] * 2 + [28] * 2 + [14] * 18 + [7] * 2
    # SDA and LDA alternate within a stage; the 7x7 grid is one group (SDA only).
    assert [block.long_distance for block in blocks] == [False, True] * 11 + [False, False]
    assert all(block.group_size == 7 for block in blocks)
    # At 448 the last stage's 14x14 grid is grouped too.
    assert [block.long_distance for block in large.layers[3].blocks] == [False, True] * 3
    # The authors' rule: rate = 0.3 * block index / (blocks - 1), no DropPath at rate 0.
    assert isinstance(blocks[0].drop_path, torch.nn.Identity)
    rates = [block.drop_path.drop_prob for block in blocks[1:]]
    assert rates == pytest.approx([0.3 * i / 23 for i in range(1, 24)])
    # Cross-scale embeddings: kernels 4, 8, 16, 32 with 48, 24, 12, 12 channels; merges 2, 4.
    projs = model.patch_embed.projs
    assert [(p.kernel_size[0], p.stride[0], p.padding[0]) for p in projs] == [
        (4, 4, 0),
        (8, 4, 2),
        (16, 4, 6),
        (32, 4, 14),
    ]
    assert [p.out_channels for p in projs] == [48, 24, 12, 12]
    reductions = model.layers[0].downsample.reductions
    assert [(r.kernel_size[0], r.padding[0], r.out_channels) for r in reductions] == [
        (2, 0, 96),
        (4, 1, 96),
    ]


def test_accepted_sizes():
    assert accepted_sizes(largest=1000) == [224, 448, 672, 896]
    # With groups of 8 a grid may also be at most one group (e.g. 32: grids 8, 4, 2, 1), but
    # 192's 12x12 third-stage grid is neither.
    assert accepted_sizes(group_size=(8, 8, 8, 8), largest=600) == [32, 64, 128, 256, 512]


def test_another_accepted_size_builds_runs_and_loads_224_weights(narrow):
    torch.manual_seed(0)
    model = timm.create_model("crossformer_t", img_size=448, **NARROW).eval()
    model.load_state_dict(narrow.state_dict(), strict=True)
    with torch.inference_mode():
        features = model.forward_features(_image(448))
    assert features.shape == (1, 14, 14, model.num_features)


@pytest.mark.parametrize("size", [192, 256])
def test_wrong_input_size_raises(narrow, size):
    x = torch.randn(1, 3, size, size)
    pattern = f"accepts only 224x224 images; got {size}x{size}"
    with pytest.raises(ValueError, match=pattern):
        narrow(x)
    with pytest.raises(ValueError, match=pattern):
        narrow.forward_intermediates(x)


def test_wrong_channel_count_raises(narrow):
    with pytest.raises(ValueError, match="takes 3-channel images; got 1-channel ones"):
        narrow(torch.randn(1, 1, 224, 224))


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (
            {"img_size": 256},
            r"img_size 256 does not fit the grouping: stage 1's 64x64 grid is not a multiple "
            + r"of group size 7; accepted sizes: 224, 448, 672, 896, \.\.\.",
        ),
        ({"img_size": 230}, r"img_size 230 .* not a multiple of the patch stride 4"),
        ({"img_size": (224, 192)}, r"img_size must be square .* got 224x192"),
        ({"depths": (1, 0, 8, 6)}, r"depths must be one or more positive block counts"),
        ({"num_heads": (2, 4, 8)}, r"num_heads and group_size need one entry per stage \(4\)"),
        ({"num_heads": (3, 4, 8, 16)}, r"stage 1's width 64 must be .* a multiple of its 3 heads"),
        ({"embed_dim": 8}, r"stage 1's width 8 must be at least 16"),
        ({"embed_dim": 68}, r"embed_dim 68 does not split over 4 kernel sizes"),
        ({"merge_size": ((2, 3),) * 3}, r"every kernel size must be at least its stride"),
        ({"global_pool": "max"}, r"global_pool must be 'avg' or ''; got 'max'"),
    ],
)
def test_invalid_configuration_raises_at_construction(overrides, pattern):
    with torch.device("meta"), pytest.raises(ValueError, match=pattern):
        timm.create_model("crossformer_t", **overrides)


def test_pretrained_cfg():
    with torch.device("meta"):
        model = timm.create_model("crossformer_t")
    cfg = model.pretrained_cfg
    assert cfg["fixed_input_size"] is True and cfg["input_size"] == (3, 224, 224)
    assert cfg["pool_size"] == (7, 7) and cfg["crop_pct"] == 0.875
    assert cfg["interpolation"] == "bicubic" and cfg["paper_ids"] == "arXiv:2108.00154"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features == model.head_hidden_size


@pytest.mark.parametrize(
    "overrides", [pytest.param(NARROW, id="narrow"), pytest.param({}, marks=pytest.mark.slow)]
)
def test_forward_backward(overrides):
    torch.manual_seed(0)
    model = timm.create_model("crossformer_t", num_classes=7, drop_path_rate=0.1, **overrides)
    out = model.train()(_image())
    assert out.shape == (1, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_head_and_reset_classifier():
    torch.manual_seed(0)
    model = timm.create_model("crossformer_t", **NARROW).eval()
    x = _image()
    with torch.inference_mode():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        torch.testing.assert_close(model.forward_head(features), model(x))
    assert features.shape == (1, 7, 7, model.num_features)
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
        model = timm.create_model("crossformer_t")
    names = [name for name, _ in model.named_parameters()]
    # Stem, blocks (fine) or stages (coarse), head; a patch merging joins its stage's last
    # block, the final norm the last group.
    for coarse, expected_groups in ((False, 1 + 16 + 1), (True, 1 + 4 + 1)):
        groups = timm.models.group_parameters(model, model.group_matcher(coarse))
        assert sorted(n for group in groups.values() for n in group) == sorted(names)
        assert len(groups) == expected_groups
    fine = timm.models.group_parameters(model, model.group_matcher(), reverse=True)
    assert fine["layers.1.downsample.norm.weight"] == fine["layers.1.blocks.0.norm1.weight"]
    assert fine["layers.2.downsample.norm.weight"] == fine["layers.2.blocks.7.norm1.weight"]
    assert fine["norm.weight"] == fine["layers.3.blocks.5.norm1.weight"]


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
    _scripted_matches(timm.create_model("crossformer_t").eval(), _image())


def test_features_only_and_intermediates(narrow):
    x = _image()
    features = timm.create_model("crossformer_t", features_only=True, **NARROW).eval()
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
        (1, 16, 56, 56),
        (1, 32, 28, 28),
        (1, 64, 14, 14),
        (1, 128, 7, 7),
    ]
    for mine, theirs, channels_last in zip(maps, intermediates, nhwc, strict=True):
        torch.testing.assert_close(mine, theirs)
        torch.testing.assert_close(channels_last, theirs.permute(0, 2, 3, 1))
    torch.testing.assert_close(last[0], normed)
    torch.testing.assert_close(early[1], intermediates[:2])
    torch.manual_seed(0)
    pruned = timm.create_model("crossformer_t", features_only=True, out_indices=(0, 1), **NARROW)
    assert len(pruned.model.layers) == 2
    assert isinstance(pruned.model.layers[1].downsample, torch.nn.Identity)


def test_module_registers_every_name():
    assert set(models.crossformer.default_cfgs) == set(NAMES)
    assert set(NAMES) <= set(timm.list_models("crossformer_*"))
