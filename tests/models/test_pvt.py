"""PVT v1 (models/pvt.py): layout and computation pinned to the authors' code, spatial-reduction
attention against its definition, bad input, and the timm contract.

The digests and logits below were computed once from the authors' implementation
(github: whai362/PVT, branch v1, ``pvt.py`` at commit 0e117e5f3b43e928615c90291ae4d758eb9296ca),
which CI cannot reach.
"""

import pytest
import timm
import torch
import torch.nn.functional as F

import models.pvt
from models.pvt import Attention, PyramidVisionTransformer
from tests.models.conftest import fill_deterministic, state_digest

NAMES = ["pvt_tiny", "pvt_small", "pvt_medium", "pvt_large"]

# Parameter counts and state_digest() of the authors' pvt_tiny/small/medium/large (identical
# for ours: same keys, same order, same shapes).
LAYOUT = {
    "pvt_tiny": (13_229_288, "26c1c203b991d597df7898decf77edde2c2cdfc89ba356901c3b3437d4b11944"),
    "pvt_small": (24_485_864, "bab874646cc2ba604d6a081c92e21002cff0e3c37de485015a54d26d3e15193e"),
    "pvt_medium": (44_208_104, "86031a38788578887e96f94d1be42fd8c91818196761f5fe11fcc8def72cbeaa"),
    "pvt_large": (61_369_320, "718943a1411c5a2e53e2521c1fa431e6f78f4609de59a578399f91a08d00c674"),
}

# The authors' pvt_tiny after fill_deterministic(scale=...), in eval mode, on
# torch.randn(1, 3, 224, 224) from a generator seeded 0: its first five logits and the sum of
# all 1000, at two scales that catch different changes. At 0.02 (logits' standard deviation
# 0.47) every LayerNorm epsilon matters (1e-6 for all of them moves the logits by 2e-4 of
# their deviation, 1e-5 for all by 4e-3); at 0.5 (deviation 17) a tanh-approximate GELU moves
# them by half their deviation.
AUTHORS_TINY_LOGITS = {
    0.02: (
        [
            -0.6102897524833679,
            -0.6401252150535583,
            0.536899745464325,
            -0.46059051156044006,
            -0.3146500885486603,
        ],
        21.2082462310791,
    ),
    0.5: (
        [
            -18.097469329833984,
            -8.427084922790527,
            -2.1403555870056152,
            7.888177871704102,
            -15.0515775680542,
        ],
        754.6534423828125,
    ),
}

# A narrow, shallow pvt_tiny (same code paths, same 56/28/14/7 grids and reductions, head
# width 8) keeps the contract checks fast; full-size versions of the costly ones are slow.
NARROW = dict(embed_dims=(8, 16, 40, 64), depths=(1, 1, 1, 1))


def _image(size: int = 224) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def narrow() -> PyramidVisionTransformer:
    torch.manual_seed(0)
    return fill_deterministic(timm.create_model("pvt_tiny", **NARROW), scale=0.2).eval()


@pytest.mark.parametrize("name", NAMES)
def test_layout_matches_the_authors(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    count, digest = LAYOUT[name]
    assert sum(p.numel() for p in model.parameters()) == count
    assert state_digest(model) == digest


@pytest.mark.parametrize("scale", sorted(AUTHORS_TINY_LOGITS))
def test_computation_matches_the_authors(scale):
    model = fill_deterministic(timm.create_model("pvt_tiny"), scale=scale).eval()
    with torch.inference_mode():
        logits = model(_image())
    first, total = AUTHORS_TINY_LOGITS[scale]
    atol = 1e-5 * logits.std().item()
    torch.testing.assert_close(logits[0, :5], torch.tensor(first), rtol=1e-4, atol=atol)
    torch.testing.assert_close(logits.sum(), torch.tensor(total), rtol=1e-4, atol=10 * atol)


@pytest.mark.parametrize("sr_ratio", [1, 2])
def test_spatial_reduction_attention_against_its_definition(sr_ratio):
    """Queries from every token; keys and values from the grid shrunk by a strided conv."""
    torch.manual_seed(0)
    dim, heads, side = 12, 3, 4
    attention = fill_deterministic(Attention(dim, heads, True, sr_ratio=sr_ratio), scale=0.5)
    x = torch.randn(2, side * side, dim)
    with torch.no_grad():
        context = x
        if sr_ratio > 1:
            grid = x.transpose(1, 2).reshape(2, dim, side, side)
            reduced = attention.sr(grid).flatten(2).transpose(1, 2)
            context = F.layer_norm(
                reduced, (dim,), attention.norm.weight, attention.norm.bias, eps=1e-5
            )
        k_weight, v_weight = attention.kv.weight.chunk(2)
        k_bias, v_bias = attention.kv.bias.chunk(2)

        def heads_of(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(2, -1, heads, dim // heads).transpose(1, 2)

        q = heads_of(F.linear(x, attention.q.weight, attention.q.bias))
        k = heads_of(F.linear(context, k_weight, k_bias))
        v = heads_of(F.linear(context, v_weight, v_bias))
        mixed = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, -1, dim)
        expected = attention.proj(mixed)
        torch.testing.assert_close(attention(x, side, side), expected, rtol=1e-5, atol=1e-5)
    assert k.shape[2] == (side // sr_ratio) ** 2


def test_stages_norms_and_stochastic_depth():
    with torch.device("meta"):
        model = timm.create_model("pvt_small", drop_path_rate=0.1)
    assert [info["num_chs"] for info in model.feature_info] == [64, 128, 320, 512]
    assert [info["reduction"] for info in model.feature_info] == [4, 8, 16, 32]
    assert model.stage_sides == [56, 28, 14, 7]
    positions = [getattr(model, f"pos_embed{stage}").shape[1] for stage in range(1, 5)]
    assert positions == [56 * 56, 28 * 28, 14 * 14, 7 * 7 + 1]  # the class token's last
    blocks = [block for stage in range(1, 5) for block in getattr(model, f"block{stage}")]
    assert [block.attn.sr_ratio for block in blocks] == [8] * 3 + [4] * 4 + [2] * 6 + [1] * 3
    # The authors' two epsilons: 1e-6 in the blocks and the final norm, 1e-5 in the patch
    # embeddings and the key/value reduction.
    assert {block.norm1.eps for block in blocks} == {block.norm2.eps for block in blocks} == {1e-6}
    assert model.norm.eps == 1e-6 and model.patch_embed2.norm.eps == 1e-5
    assert blocks[0].attn.norm.eps == 1e-5
    # torch.linspace(0, 0.1, 16) in theirs, no DropPath at rate 0.
    assert isinstance(blocks[0].drop_path, torch.nn.Identity)
    rates = [block.drop_path.drop_prob for block in blocks[1:]]
    assert rates == pytest.approx([0.1 * i / 15 for i in range(1, 16)])


@pytest.mark.parametrize("size", [192, 256])
def test_wrong_input_size_raises(narrow, size):
    x = torch.randn(1, 3, size, size)
    pattern = f"accepts only 224x224 images; got {size}x{size}"
    with pytest.raises(ValueError, match=pattern):
        narrow(x)
    with pytest.raises(ValueError, match=pattern):
        narrow.forward_intermediates(x)


def test_wrong_channel_count_raises(narrow):
    with pytest.raises(ValueError, match="takes images with 3 channels; got 1 channels"):
        narrow(torch.randn(1, 1, 224, 224))


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"img_size": 240}, r"img_size must be a multiple of .* = 32; got img_size 240"),
        ({"img_size": (224, 192)}, r"img_size must be square .* got 224x192"),
        ({"depths": (2, 2, 2)}, r"depths must have 4 entries \(one per stage\)"),
        ({"depths": (2, 0, 2, 2)}, r"depths must be ints >= 1"),
        ({"num_heads": (1, 2, 3, 8)}, r"embed_dims must divide by num_heads"),
        ({"sr_ratios": (8, 4, 2, 2)}, r"the last stage has a class token and needs sr_ratio 1"),
        ({"mlp_ratios": (8, 8, 0, 4)}, r"mlp_ratios must be > 0"),
        ({"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\); got 1.0"),
        ({"global_pool": "max"}, r"global_pool must be one of .*; got 'max'"),
    ],
)
def test_invalid_configuration_raises_at_construction(overrides, pattern):
    with torch.device("meta"), pytest.raises(ValueError, match=pattern):
        timm.create_model("pvt_tiny", **overrides)


def test_pretrained_cfg():
    with torch.device("meta"):
        model = timm.create_model("pvt_tiny")
    cfg = model.pretrained_cfg
    assert cfg["fixed_input_size"] is True and cfg["input_size"] == (3, 224, 224)
    assert cfg["pool_size"] == (7, 7) and cfg["crop_pct"] == 0.875
    assert cfg["interpolation"] == "bicubic" and cfg["paper_ids"] == "arXiv:2102.12122"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features == model.head_hidden_size
    assert model.no_weight_decay() == {"cls_token"}


@pytest.mark.parametrize(
    "overrides", [pytest.param(NARROW, id="narrow"), pytest.param({}, marks=pytest.mark.slow)]
)
def test_forward_backward(overrides):
    torch.manual_seed(0)
    model = timm.create_model("pvt_tiny", num_classes=7, drop_path_rate=0.1, **overrides)
    out = model.train()(_image())
    assert out.shape == (1, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_head_pooling_and_reset_classifier():
    torch.manual_seed(0)
    model = timm.create_model("pvt_tiny", **NARROW).eval()
    x = _image()
    with torch.inference_mode():
        tokens = model.forward_features(x)
        pooled = model.forward_head(tokens, pre_logits=True)
        torch.testing.assert_close(model.forward_head(tokens), model(x))
        torch.testing.assert_close(model(x), model.head(tokens[:, 0]))  # the class token
    assert tokens.shape == (1, 1 + 7 * 7, model.num_features)
    assert pooled.shape == (1, model.num_features)
    model.reset_classifier(0)
    with torch.inference_mode():
        assert model(x).shape == (1, model.num_features)
    model.reset_classifier(0, "")
    with torch.inference_mode():
        assert model(x).shape == (1, 50, model.num_features)
    model.reset_classifier(3, "avg")
    with torch.inference_mode():
        torch.testing.assert_close(model(x), model.head(tokens[:, 1:].mean(1)))


def test_grad_checkpointing_computes_the_same(narrow):
    x = _image()
    plain = narrow.forward_features(x)
    narrow.set_grad_checkpointing(True)
    try:
        assert narrow.block3.grad_checkpointing
        torch.testing.assert_close(narrow.forward_features(x), plain)
    finally:
        narrow.set_grad_checkpointing(False)


def test_group_matcher_covers_every_parameter():
    with torch.device("meta"):
        model = timm.create_model("pvt_tiny")
    names = [name for name, _ in model.named_parameters()]
    # Stem, blocks (fine) or stages (coarse), head; the final norm joins the last group.
    for coarse, expected_groups in ((False, 1 + 8 + 1), (True, 1 + 4 + 1)):
        groups = timm.models.group_parameters(model, model.group_matcher(coarse))
        assert sorted(n for group in groups.values() for n in group) == sorted(names)
        assert len(groups) == expected_groups
    fine = timm.models.group_parameters(model, model.group_matcher(), reverse=True)
    assert fine["pos_embed2"] == fine["patch_embed2.proj.weight"] == fine["block2.0.mlp.fc1.bias"]
    assert fine["cls_token"] == fine["pos_embed4"] == fine["block4.0.attn.q.weight"]
    assert fine["pos_embed1"] == fine["patch_embed1.norm.bias"] != fine["block1.0.norm1.weight"]


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
    _scripted_matches(timm.create_model("pvt_tiny").eval(), _image())


def test_features_only_and_intermediates(narrow):
    x = _image()
    features = timm.create_model("pvt_tiny", features_only=True, **NARROW).eval()
    # The wrapped model lost its final norm and head to pruning: the rest loads unchanged.
    incompatible = features.model.load_state_dict(narrow.state_dict(), strict=False)
    assert not incompatible.missing_keys
    assert {key.split(".")[0] for key in incompatible.unexpected_keys} == {"norm", "head"}
    with torch.inference_mode():
        maps = features(x)
        final, intermediates = narrow.forward_intermediates(x)
        last = narrow.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)
        early = narrow.forward_intermediates(x, indices=[0, 1], stop_early=True)
        tokens = narrow.forward_features(x)
        nhwc = narrow.forward_intermediates(x, output_fmt="NHWC", intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [
        (1, 8, 56, 56),
        (1, 16, 28, 28),
        (1, 40, 14, 14),
        (1, 64, 7, 7),
    ]
    for mine, theirs, channels_last in zip(maps, intermediates, nhwc, strict=True):
        torch.testing.assert_close(mine, theirs)
        torch.testing.assert_close(channels_last, theirs.permute(0, 2, 3, 1))
    torch.testing.assert_close(final, tokens)
    # The last stage's map: its patch tokens (no class token), after the final norm if asked.
    normed = tokens[:, 1:].transpose(1, 2).reshape(1, 64, 7, 7)
    torch.testing.assert_close(last[0], normed)
    torch.testing.assert_close(early[1], intermediates[:2])
    torch.testing.assert_close(early[0], intermediates[1])  # stopped after stage 1
    torch.manual_seed(0)
    pruned = timm.create_model("pvt_tiny", features_only=True, out_indices=(0, 1), **NARROW)
    assert pruned.model.num_stages == 2 and len(pruned.model.block3) == 0
    assert pruned.model.cls_token is None and pruned.model.pos_embed3 is None
    assert isinstance(pruned.model.norm, torch.nn.Identity)
    pruned.model.load_state_dict(narrow.state_dict(), strict=False)
    with torch.inference_mode():
        torch.testing.assert_close(pruned.eval()(x), intermediates[:2])


def test_module_registers_every_name():
    assert set(models.pvt.default_cfgs) == set(NAMES)
    assert set(NAMES) <= set(timm.list_models("pvt_*"))
