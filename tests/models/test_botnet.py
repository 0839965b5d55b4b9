"""BoTNet-S1, a reconstruction: sizes, pinned computation, the relative attention, bad input, and
timm's contract.

BoTNet has no official PyTorch code and no released weights, so nothing here is pinned to an
authors' implementation: the counts, digests and logits below are regression values recorded
from ``models/botnet.py`` itself when it was written (torch 2.14.1, CPU), and the attention is
held to its definition (the authors' TensorFlow gist's ``relpos_self_attention``) on a small
non-square grid.
"""

import copy

import pytest
import timm
import torch
from timm.models.byobnet import BottleneckBlock

import models.botnet
from benchmarks.counting import skip_meta_init
from models.botnet import BoTBlock
from tests.models.conftest import fill_deterministic, state_digest

NAMES = ["botnet_s1_50", "botnet_s1_59"]

# Exact counts (the paper prints 20.8M and 33.5M) and the digests of the state dicts' (name,
# shape) lists, recorded from this reconstruction; the last row is BoT-S1-59 as the paper's
# section 4.8.4 is quoted to describe it (SE only in the ResNet blocks; see models/botnet.py).
LAYOUT = [
    (
        "botnet_s1_50",
        {},
        20_859_176,
        "5cc28c948ed5dfd9c26c2b7912d1052494d5a57a5756953dccaed5d3173d7177",
    ),
    (
        "botnet_s1_59",
        {},
        33_659_480,
        "1f8e4427e3ac87d217c57594451e0e321e1e4553670f3822d95151aa50d5a6b9",
    ),
    ("botnet_s1_59", {"attention_se": False}, 30_500_696, None),
]

# botnet_s1_50 after fill_deterministic(scale=...), eval mode, on the seed-0 224x224 input: the
# first five logits and the sum of all 1000, recorded from this reconstruction. At 0.02 (logits'
# standard deviation 0.056) the attention barely matters (scaling the position logits or not
# moves the logits by 4e-6 of their spread) but the BoT shortcut's activation moves them by
# half of it; at 0.05 (standard deviation 45) scaling the position logits moves them by 0.4 and
# swapping the height and width embeddings by 0.2 of their spread.
PINNED_S1_50 = {
    0.02: (
        [
            -0.11026330292224884,
            -0.03767836093902588,
            0.09398873150348663,
            -0.0007385723292827606,
            0.0010402612388134003,
        ],
        -1.1883398294448853,
    ),
    0.05: (
        [
            -30.25617218017578,
            -2.1283960342407227,
            86.39197540283203,
            57.47121810913086,
            -9.36876106262207,
        ],
        -2839.87109375,
    ),
}

# A narrow botnet_s1_59 (one block per ResNet stage, two BoT blocks, 64x64 images: a 4x4 grid in
# c5) covers SiLU and the SE layers cheaply; same recording as above, scale 0.05 (logits'
# standard deviation 0.083; dropping one BoT block's SE moves them by twice that).
NARROW = dict(depths=(1, 1, 1, 2), img_size=64)
PINNED_NARROW_S1_59 = (
    [
        -0.008961550891399384,
        -0.08375437557697296,
        0.025582917034626007,
        0.0074762701988220215,
        -0.0807386040687561,
    ],
    0.05419518053531647,
)


def image(batch: int = 1, side: int = 224) -> torch.Tensor:
    return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(0))


def _assert_pinned(logits: torch.Tensor, first: list[float], total: float) -> None:
    atol = 1e-5 * logits.std().item()
    torch.testing.assert_close(logits[0, :5], torch.tensor(first), rtol=1e-4, atol=atol)
    torch.testing.assert_close(logits.sum(), torch.tensor(total), rtol=1e-4, atol=100 * atol)


@pytest.fixture(scope="module")
def narrow() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("botnet_s1_59", **NARROW).eval()


# 1. Sizes and state-dict layout.


@pytest.mark.parametrize(("name", "overrides", "params", "digest"), LAYOUT)
def test_parameter_count_and_layout(name, overrides, params, digest):
    with skip_meta_init(), torch.device("meta"):
        model = timm.create_model(name, **overrides)
    assert sum(p.numel() for p in model.parameters()) == params
    if digest is not None:
        assert state_digest(model) == digest


# 2. Computation, pinned.


@pytest.mark.parametrize("scale", sorted(PINNED_S1_50))
def test_logits_pinned(scale):
    model = fill_deterministic(timm.create_model("botnet_s1_50"), scale=scale).eval()
    with torch.inference_mode():
        logits = model(image())
    _assert_pinned(logits, *PINNED_S1_50[scale])


def test_narrow_s1_59_logits_pinned():
    model = fill_deterministic(timm.create_model("botnet_s1_59", **NARROW), scale=0.05).eval()
    with torch.inference_mode():
        logits = model(image(side=64))
    _assert_pinned(logits, *PINNED_NARROW_S1_59)


def _attention_by_definition(attn: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The gist's relpos_self_attention with explicit indices: query (i, j) and key (p, q) get
    the logit (q_ij . k_pq + q_ij . r_h[p - i + H - 1] + q_ij . r_w[q - j + W - 1]) / sqrt(d);
    a softmax over all keys weighs the values; heads are channel blocks of width d."""
    B, _, H, W = x.shape
    heads, d = attn.num_heads, attn.dim_head_qk
    q, k, v = attn.qkv(x).reshape(B, 3, heads, d, H, W).unbind(1)
    rows = torch.arange(H)
    columns = torch.arange(W)
    r_h = attn.pos_embed.height_rel[rows[None, :] - rows[:, None] + H - 1]  # (i, p, d)
    r_w = attn.pos_embed.width_rel[columns[None, :] - columns[:, None] + W - 1]  # (j, q, d)
    logits = torch.einsum("bndij,bndpq->bnijpq", q, k)
    logits = logits + torch.einsum("bndij,ipd->bnijp", q, r_h)[..., None]
    logits = logits + torch.einsum("bndij,jqd->bnijq", q, r_w)[..., None, :]
    weights = (logits * d**-0.5).reshape(B, heads, H, W, H * W).softmax(-1)
    out = torch.einsum("bnijk,bndk->bndij", weights, v.reshape(B, heads, d, H * W))
    return out.reshape(B, heads * d, H, W)


def test_relative_attention_against_its_definition():
    torch.manual_seed(0)
    layers = timm.models.byobnet.get_layer_fns(
        models.botnet._model_cfg((1, 1, 1, 1), "relu", 0.0, False, 4, 4)
    )
    block = BoTBlock(64, 64, feat_size=(3, 5), bottle_ratio=1.0, num_heads=4, layers=layers).eval()
    attn = block.self_attn
    for parameter in (attn.pos_embed.height_rel, attn.pos_embed.width_rel):
        torch.nn.init.normal_(parameter, std=1.0)
    x = torch.randn(2, 64, 3, 5)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), _attention_by_definition(attn, x))


# 3. Where the attention, the SE layers and the activations are.


def _meta(name: str, **overrides) -> torch.nn.Module:
    with skip_meta_init(), torch.device("meta"):
        return timm.create_model(name, **overrides)


def test_s1_50_is_resnet_50_with_bot_blocks_in_a_stride_1_c5():
    model = _meta("botnet_s1_50")
    assert [len(stage) for stage in model.stages] == [3, 4, 6, 3]
    assert all(isinstance(b, BottleneckBlock) for stage in model.stages[:3] for b in stage)
    assert all(isinstance(b, BoTBlock) for b in model.stages[3])
    assert [info["reduction"] for info in model.feature_info] == [2, 4, 8, 16]
    for block in model.stages[3]:
        assert (block.self_attn.pos_embed.height, block.self_attn.pos_embed.width) == (14, 14)
        assert block.self_attn.num_heads == 4 and block.self_attn.dim_head_qk == 128
        assert block.self_attn.scale_pos_embed  # the gist scales q before both logit terms
    assert not any(isinstance(m, timm.layers.SEModule) for m in model.modules())
    assert not any(isinstance(m, torch.nn.SiLU) for m in model.modules())
    # The gist's BoT block activates its projection shortcut; TF's ResNet block does not.
    assert isinstance(model.stages[3][0].shortcut.bn.act, torch.nn.ReLU)
    assert isinstance(model.stages[2][0].shortcut.bn.act, torch.nn.Identity)
    assert all(isinstance(b.shortcut, torch.nn.Identity) for b in model.stages[3][1:])


@pytest.mark.parametrize("attention_se", [True, False])
def test_s1_59_se_layers(attention_se):
    model = _meta("botnet_s1_59", attention_se=attention_se)
    assert [len(stage) for stage in model.stages] == [3, 4, 6, 6]
    for stage in model.stages:
        for block in stage:
            se = block.attn_last
            if isinstance(block, BoTBlock) and not attention_se:
                assert isinstance(se, torch.nn.Identity)
                continue
            # TF's squeeze_excitation: width / 16 with biases, ReLU inside, after the last BN.
            assert isinstance(se, timm.layers.SEModule)
            assert (
                se.fc1.out_channels * 16 == se.fc1.in_channels == block.conv3_1x1.conv.out_channels
            )
            assert isinstance(se.act, torch.nn.ReLU)
            assert isinstance(block.act, torch.nn.SiLU)


def test_last_batch_norm_of_each_block_starts_at_zero():
    torch.manual_seed(0)
    model = timm.create_model("botnet_s1_50", **NARROW)
    for stage in model.stages:
        for block in stage:
            assert torch.count_nonzero(block.conv3_1x1.bn.weight) == 0


# 4. Bad input and invalid configurations.


@pytest.mark.parametrize(
    ("shape", "pattern"),
    [
        ((1, 3, 192, 160), r"accepts only 224x224 images; got 192x160"),
        ((1, 1, 224, 224), r"takes 3-channel images; got 1 channels"),
    ],
)
def test_wrong_input_is_a_clear_error(shape, pattern):
    model = _meta("botnet_s1_50").eval()
    x = torch.empty(*shape, device="meta")
    for method in (model, model.forward_features, model.forward_intermediates):
        with pytest.raises(ValueError, match=pattern):
            method(x)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"depths": (3, 4, 6)}, r"depths must be four ints >= 1"),
        ({"depths": (3, 0, 6, 3)}, r"depths must be four ints >= 1"),
        ({"se_ratio": 1.5}, r"se_ratio must be in \[0, 1\); got 1.5"),
        ({"num_heads": 3}, r"num_heads must divide the attention width 512; got 3"),
        ({"img_size": 200}, r"img_size must be a positive multiple of 16; got 200"),
        ({"img_size": (224, 192)}, r"img_size must be square .* got 224x192"),
    ],
)
def test_invalid_configuration_raises_at_construction(overrides, pattern):
    with skip_meta_init(), torch.device("meta"), pytest.raises(ValueError, match=pattern):
        timm.create_model("botnet_s1_50", **overrides)


# 5. timm's contract, on the narrow model.


@pytest.mark.parametrize("name", NAMES)
def test_pretrained_cfg(name):
    model = _meta(name)
    cfg = model.pretrained_cfg
    assert cfg["notes"][0].startswith("reconstruction: no official PyTorch code")
    assert cfg["fixed_input_size"] is True and cfg["input_size"] == (3, 224, 224)
    assert cfg["pool_size"] == (14, 14) and cfg["crop_pct"] == 0.875
    assert cfg["interpolation"] == "bicubic" and cfg["paper_ids"] == "arXiv:2101.11605"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features == 2048


def test_forward_backward():
    torch.manual_seed(0)
    model = timm.create_model("botnet_s1_59", num_classes=7, drop_path_rate=0.1, **NARROW)
    out = model.train()(image(batch=2, side=64))
    assert out.shape == (2, 7)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_head_and_reset_classifier(narrow):
    x = image(side=64)
    with torch.inference_mode():
        features = narrow.forward_features(x)
        pooled = narrow.forward_head(features, pre_logits=True)
        torch.testing.assert_close(narrow.forward_head(features), narrow(x))
    assert features.shape == (1, 2048, 4, 4) and pooled.shape == (1, 2048)
    headless = copy.deepcopy(narrow)
    headless.reset_classifier(0)
    with torch.inference_mode():
        torch.testing.assert_close(headless(x), pooled)


def test_grad_checkpointing_computes_the_same(narrow):
    x = image(side=64)
    plain = narrow.forward_features(x)
    narrow.set_grad_checkpointing(True)
    try:
        torch.testing.assert_close(narrow.forward_features(x), plain)
    finally:
        narrow.set_grad_checkpointing(False)


def test_torchscript_and_fx(narrow):
    x = image(side=64)
    with torch.inference_mode():
        expected = narrow(x)
        torch.testing.assert_close(torch.jit.script(narrow)(x), expected)
        graph = torch.fx.symbolic_trace(narrow)
        torch.testing.assert_close(graph(x), expected)
        torch.testing.assert_close(torch.jit.script(graph)(x), expected)


def test_features_only_and_intermediates(narrow):
    torch.manual_seed(0)  # the seed of ``narrow``: the same weights
    extractor = timm.create_model("botnet_s1_59", features_only=True, **NARROW).eval()
    x = image(side=64)
    with torch.inference_mode():
        features = extractor(x)
        final, intermediates = narrow.forward_intermediates(x)
        torch.testing.assert_close(final, narrow.forward_features(x))
    assert [tuple(f.shape[1:]) for f in features] == [
        (64, 32, 32),
        (256, 16, 16),
        (512, 8, 8),
        (2048, 4, 4),
    ]
    for feature, intermediate in zip(features, intermediates, strict=True):
        torch.testing.assert_close(feature, intermediate)


def test_module_registers_every_name():
    assert set(models.botnet.default_cfgs) == set(NAMES)
    for name in NAMES:
        assert timm.models.model_entrypoint(name).__module__ == "models.botnet"
