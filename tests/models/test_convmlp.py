"""ConvMLP (models/convmlp.py): layout and numbers pinned to the authors' code, and timm's contract.

The constants were computed from the authors' implementation (github: SHI-Labs/Convolutional-MLPs
at commit 092bf711c7401dd5be03af7121ee58b3419fb9f7, src/convmlp.py) built locally: their
``convmlp_s/m/l()`` parameter counts and ``state_digest``s, and the logits of their ConvMLP-S
after ``fill_deterministic``. CI cannot reach that code, so these tests stand in for it.
"""

import pytest
import timm
import torch
import torch.nn.functional as F
from ptflops import get_model_complexity_info
from timm.layers import DropPath
from timm.models._features_fx import create_feature_extractor, get_graph_node_names
from timm.models._manipulate import group_parameters
from torch import nn

# Importing models.convmlp registers convmlp_s/m/l with timm.
from models.convmlp import ConvMLP, ConvMLPBlock
from tests.models.conftest import fill_deterministic, state_digest

NAMES = ["convmlp_s", "convmlp_m", "convmlp_l"]

# (name, parameters, state_digest, MACs at 224x224): the parameter counts and digests are those
# of the authors' models; the MACs are ptflops' aten count, the table (paper: 2.4G,
# 3.9G, 9.9G; 9M, 17M, 43M parameters).
EXPECTED = [
    (
        "convmlp_s",
        9_022_920,
        "27481996602760bb70a4da1a57a0ac0e04a7841d6ab1c73c131d3bb459358a37",
        2.388e9,
    ),
    (
        "convmlp_m",
        17_410_504,
        "14751b7c86d599673146be8098ac8f4c768fd01206a768280a283fbb234f5479",
        3.934e9,
    ),
    (
        "convmlp_l",
        42_728_440,
        "a49c0fb1786fc995fc5decb9f8c15925743564b45bb654e492428683a4c0e756",
        9.881e9,
    ),
]

# The authors' ConvMLP-S after fill_deterministic(model) (seed 0, scale 0.02), eval mode, on
# torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)). Logits are O(0.3).
PINNED_FIRST_LOGITS = [
    -0.19774210453033447,
    0.46992820501327515,
    0.03590460121631622,
    0.4597240686416626,
    0.3506534993648529,
]
PINNED_LOGIT_SUM = 16.085058212280273

# Feature levels of ConvMLP-S: tokenizer, conv stage, stages.0 and stages.2 (as the authors'
# detection backbone takes them).
S_LEVELS = [
    (64, 4, "tokenizer"),
    (128, 8, "conv_stages"),
    (256, 16, "stages.0"),
    (512, 32, "stages.2"),
]


def meta_model(name: str, **kwargs) -> ConvMLP:
    with torch.device("meta"):
        return timm.create_model(name, **kwargs)


@pytest.fixture(scope="module")
def small() -> ConvMLP:
    """A seeded ConvMLP-S in eval mode, for read-only tests."""
    torch.manual_seed(0)
    return timm.create_model("convmlp_s").eval()


def image(height: int = 64, width: int = 64, batch: int = 1) -> torch.Tensor:
    """ConvMLP takes any image size; most tests use a small one to stay fast."""
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


# Layout and counts, against the authors' models.


@pytest.mark.parametrize(("name", "params", "digest", "macs"), EXPECTED, ids=NAMES)
def test_parameter_count_and_layout_match_the_authors(name, params, digest, macs):
    model = meta_model(name)
    assert sum(p.numel() for p in model.parameters()) == params
    assert state_digest(model) == digest


@pytest.mark.parametrize(("name", "params", "digest", "macs"), EXPECTED, ids=NAMES)
def test_macs_at_224(name, params, digest, macs):
    counted, _ = get_model_complexity_info(
        meta_model(name),
        (3, 224, 224),
        as_strings=False,
        backend="aten",
        print_per_layer_stat=False,
    )
    assert counted == pytest.approx(macs, rel=0.01)


def test_logits_match_the_authors():
    torch.manual_seed(0)
    model = fill_deterministic(timm.create_model("convmlp_s")).eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        logits = model(x)
    torch.testing.assert_close(
        logits[0, :5], torch.tensor(PINNED_FIRST_LOGITS), rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(logits.sum(), torch.tensor(PINNED_LOGIT_SUM), rtol=1e-4, atol=1e-4)


# The family's building blocks, against their definitions.


def test_block_is_mlp_depthwise_conv_mlp_without_skip_around_the_conv():
    """Pre-norm residual MLP, then a 3x3 depthwise conv that replaces the tokens, then an MLP."""
    dim = 8
    block = fill_deterministic(ConvMLPBlock(dim, mlp_ratio=2.0), scale=0.5).eval()
    x = torch.randn(2, 5, 6, dim, generator=torch.Generator().manual_seed(2))

    def mlp(mlp: nn.Module, t: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(F.linear(t, mlp.fc1.weight, mlp.fc1.bias))
        return F.linear(hidden, mlp.fc2.weight, mlp.fc2.bias)

    def norm(layer: nn.LayerNorm, t: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(t, (dim,), layer.weight, layer.bias, layer.eps)

    with torch.no_grad():
        y = x + mlp(block.channel_mlp1, norm(block.norm1, x))
        assert block.connect.weight.shape == (dim, 1, 3, 3)
        y_nchw = norm(block.connect_norm, y).permute(0, 3, 1, 2)
        y = F.conv2d(y_nchw, block.connect.weight, padding=1, groups=dim).permute(0, 2, 3, 1)
        expected = y + mlp(block.channel_mlp2, norm(block.norm2, y))
        torch.testing.assert_close(block(x), expected)


def test_drop_path_rises_linearly_within_each_stage():
    """The authors' schedule: per stage, 0 for the first block up to the rate for the last."""
    model = meta_model("convmlp_m", drop_path_rate=0.3)
    for stage in model.stages:
        paths = [block.drop_path for block in stage.blocks]
        assert isinstance(paths[0], nn.Identity)
        rates = [path.drop_prob for path in paths[1:]]
        assert all(isinstance(path, DropPath) for path in paths[1:])
        assert rates == pytest.approx([0.3 * (i + 1) / (len(paths) - 1) for i in range(len(rates))])
    default = meta_model("convmlp_s")
    assert default.stages[0].blocks[-1].drop_path.drop_prob == pytest.approx(0.1)
    no_drop = meta_model("convmlp_s", drop_path_rate=0.0)
    assert all(isinstance(b.drop_path, nn.Identity) for s in no_drop.stages for b in s.blocks)


@pytest.mark.parametrize(("height", "width"), [(224, 224), (97, 130), (32, 48)])
def test_any_input_size_gives_maps_at_strides_4_8_16_32(height, width):
    """No fixed token grid: each stride-2 step rounds up, so a level is ceil(size / stride)."""
    model = meta_model("convmlp_s")
    x = torch.empty(1, 3, height, width, device="meta")
    intermediates = model.forward_intermediates(x, intermediates_only=True)
    for feature, (channels, reduction, module) in zip(intermediates, S_LEVELS, strict=True):
        expected = (1, channels, -(-height // reduction), -(-width // reduction))
        assert tuple(feature.shape) == expected, module
    assert model(x).shape == (1, 1000)


# Bad input.


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(depths=(2, 4)), r"one entry per stage .* got 2, 3, 3"),
        (dict(depths=(2, 0, 2)), r"at least one block; got depths \(2, 0, 2\)"),
        (dict(mlp_ratios=(2.0, 0.0, 2.0)), r"must be positive"),
        (dict(tokenizer_dim=63), r"tokenizer_dim must be a positive even number; got 63"),
        (dict(num_conv_blocks=-1), r"num_conv_blocks must be 0 or more; got -1"),
        (dict(global_pool="max"), r"global_pool must be one of \('avg', ''\); got 'max'"),
    ],
)
def test_invalid_configuration_fails_at_construction(overrides, message):
    with pytest.raises(ValueError, match=message), torch.device("meta"):
        timm.create_model("convmlp_s", **overrides)


def test_invalid_arguments_to_methods(small):
    with pytest.raises(ValueError, match=r"output_fmt must be 'NCHW' or 'NHWC'; got 'NLC'"):
        small.forward_intermediates(image(), output_fmt="NLC")
    model = meta_model("convmlp_s")
    with pytest.raises(ValueError, match=r"global_pool must be one of .* got 'token'"):
        model.reset_classifier(10, "token")


# timm's contract.


def test_pretrained_cfg():
    model = meta_model("convmlp_s")
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224)
    assert cfg["fixed_input_size"] is False
    assert (cfg["crop_pct"], cfg["interpolation"]) == (0.9, "bicubic")
    assert (cfg["license"], cfg["paper_ids"]) == ("apache-2.0", "arXiv:2109.04454")
    assert cfg["origin_url"] == "https://github.com/SHI-Labs/Convolutional-MLPs"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], nn.Conv2d)
    assert modules[cfg["first_conv"]].in_channels == 3
    assert modules[cfg["classifier"]] is model.get_classifier()
    features = model.forward_features(torch.empty(1, 3, 224, 224, device="meta"))
    assert model.output_fmt == "NHWC"
    assert tuple(features.shape) == (1, *cfg["pool_size"], model.num_features)
    assert model.num_features == model.head_hidden_size == 512
    assert [(i["num_chs"], i["reduction"], i["module"]) for i in model.feature_info] == S_LEVELS


def test_forward_backward_train_mode():
    torch.manual_seed(0)
    model = timm.create_model("convmlp_s", num_classes=7, drop_rate=0.1).train()
    out = model(image(32, 32, batch=2))
    assert out.shape == (2, 7)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_grad_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    tiny = dict(depths=(1, 2, 1), embed_dims=(8, 16, 32), tokenizer_dim=8, num_conv_blocks=1)
    model = timm.create_model("convmlp_s", drop_path_rate=0.0, num_classes=3, **tiny).train()
    x = image(32, 32, batch=2)
    model(x).square().mean().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).square().mean().backward()
    for grad, p in zip(expected, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, grad)


def test_forward_features_head_and_reset_classifier(small):
    x = image()
    with torch.inference_mode():
        features = small.forward_features(x)
        pooled = small.forward_head(features, pre_logits=True)
        torch.testing.assert_close(small.forward_head(features), small(x))
    assert features.shape == (1, 2, 2, 512)
    assert pooled.shape == (1, 512)
    with torch.device("meta"):
        model = timm.create_model("convmlp_s")
        model.reset_classifier(0)
        assert model(torch.empty(2, 3, 64, 64)).shape == (2, 512)
        model.reset_classifier(5, "")
        assert model(torch.empty(2, 3, 64, 64)).shape == (2, 2, 2, 5)


def test_group_matcher_covers_every_parameter():
    model = meta_model("convmlp_s")
    for coarse in (True, False):
        groups = group_parameters(model, model.group_matcher(coarse=coarse))
        grouped = [name for names in groups.values() for name in names]
        assert sorted(grouped) == sorted(name for name, _ in model.named_parameters())


def test_torchscript_matches_eager(small):
    scripted = torch.jit.script(small)
    x = image()
    with torch.inference_mode():
        torch.testing.assert_close(scripted(x), small(x))


def test_fx_trace_then_script(small):
    graph = torch.fx.symbolic_trace(small)
    scripted = torch.jit.script(graph)
    x = image()
    with torch.inference_mode():
        torch.testing.assert_close(graph(x), small(x))
        torch.testing.assert_close(scripted(x), small(x))


def test_timm_fx_feature_extractor(small):
    _, eval_nodes = get_graph_node_names(small)
    extractor = create_feature_extractor(small, return_nodes=[eval_nodes[-1]])
    x = image()
    with torch.inference_mode():
        torch.testing.assert_close(extractor(x)[eval_nodes[-1]], small(x))


def test_features_only_and_intermediates(small):
    torch.manual_seed(0)
    features_model = timm.create_model("convmlp_s", features_only=True).eval()
    x = image(96, 64)
    with torch.inference_mode():
        features = features_model(x)
        final, intermediates = small.forward_intermediates(x)
        nhwc = small.forward_intermediates(x, output_fmt="NHWC", intermediates_only=True)
        early = small.forward_intermediates(
            x, indices=[1], stop_early=True, intermediates_only=True
        )
        normed = small.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)
        torch.testing.assert_close(final, small.forward_features(x))
    assert features_model.feature_info.channels() == [c for c, _, _ in S_LEVELS]
    assert features_model.feature_info.reduction() == [r for _, r, _ in S_LEVELS]
    for a, b, c in zip(features, intermediates, nhwc, strict=True):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c.permute(0, 3, 1, 2))
    torch.testing.assert_close(early[0], intermediates[1])
    torch.testing.assert_close(normed[0].permute(0, 2, 3, 1), final)


def test_features_only_prunes_the_unused_stages():
    torch.manual_seed(0)
    model = timm.create_model("convmlp_s", features_only=True, out_indices=(0, 1)).eval()
    assert len(model.model.stages) == 0
    x = image()
    with torch.inference_mode():
        features = model(x)
    assert [tuple(f.shape) for f in features] == [(1, 64, 16, 16), (1, 128, 8, 8)]
