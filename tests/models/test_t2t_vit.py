"""T2T-ViT and the T2T repository's ViT-S/16 (models/t2t_vit.py): layout, initialisation and
computation pinned to the authors' code, the Performer against its definition, the frozen
parameters, bad input, and the timm contract.

The digests, initial values and logits below were computed once from the authors'
implementation (github: yitu-opensource/T2T-ViT, models/t2t_vit.py, token_performer.py,
transformer_block.py and vit.py at commit 0f63dc9558f4d192de926504dbddfa1b3f5db6ca, run with
timm 1.0.31), which CI cannot reach.
"""

import math

import pytest
import timm
import torch

import models.t2t_vit
from models.t2t_vit import T2TViT, TokenPerformer, sinusoid_table
from tests.models.conftest import fill_deterministic, state_digest

NAMES = ["t2t_vit_14", "t2t_vit_24", "vit_s16_t2t"]

# Parameter counts (frozen ones included, as the authors count them) and state_digest() of the
# authors' t2t_vit_14, t2t_vit_24 and vit_small_patch16_224 (identical for ours). ViT-S/16 has
# 48,754,408 parameters; the 48.6M quoted for it leaves out the position embedding (197 x 768)
# and the class token (768): 48,602,344.
LAYOUT = {
    "t2t_vit_14": (21_545_550, "5dddd82f1eff2ccf049fbe9f1bf103b95cd0768139c4bbd19fbc76fd72f8f114"),
    "t2t_vit_24": (64_105_934, "1e58bbf4dd0b578d5fc9f770085e9d30d7f2976f09b11160400c4bae322d203e"),
    "vit_s16_t2t": (
        48_754_408,
        "c30787b511fdac0a6479dde10bf27a5f3833784a02c491c37e5394bad1bff61a",
    ),
}

# The authors' t2t_vit_14 after fill_deterministic(scale=...), in eval mode, on
# torch.randn(1, 3, 224, 224) from a generator seeded 0: its first five logits and the sum of
# all 1000. At both scales the Performer's random features are neither saturated nor constant:
# swapping keys and queries moves the logits by 0.12 (0.02) and 0.31 (0.05) of their standard
# deviation, dropping the -|x|^2/2 term by 0.08 and 1.1, LayerNorm eps 1e-6 by 5e-3 and 1.5e-3,
# a tanh-approximate GELU by 7e-4 and 9e-4. (At 0.1 the features underflow to zero.)
AUTHORS_T2T14_LOGITS = {
    0.02: (
        [
            -0.2646791636943817,
            -0.17913244664669037,
            -0.231143519282341,
            0.1301121562719345,
            0.34732478857040405,
        ],
        -0.32015717029571533,
    ),
    0.05: (
        [
            -0.22542375326156616,
            0.5721562504768372,
            -1.1504796743392944,
            0.5474961996078491,
            -0.6373434662818909,
        ],
        -1.9773821830749512,
    ),
}

# The authors' t2t_vit_14 built after torch.manual_seed(0): (sum, sum of |values|, first three)
# of tensors whose values depend on the order of every random draw before them.
AUTHORS_T2T14_INIT = {
    "cls_token": (
        0.3004161739054325,
        6.278699482424599,
        [-0.005246063228696585, 0.029551727697253227, -0.026335423812270164],
    ),
    "tokens_to_token.attention1.w": (
        18.468549056065967,
        1160.8888058404264,
        [-0.3225811719894409, 0.6002336740493774, 0.058662500232458115],
    ),
    "tokens_to_token.attention2.w": (
        -12.499057366852867,
        1157.72981358598,
        [-0.6243026852607727, 0.12790556252002716, 0.768038272857666],
    ),
    "blocks.13.mlp.fc2.weight": (
        10.56362338354786,
        7075.637955137754,
        [0.03154704347252846, -0.01895725168287754, 0.00410884153097868],
    ),
    "head.weight": (
        -5.812156056338928,
        6123.819333267167,
        [-0.007679583039134741, 0.004698009230196476, 0.025212541222572327],
    ),
}

# The authors' get_sinusoid_encoding(197, 384): sum, sum of |values| (float64) and row 5's
# first four values.
AUTHORS_TABLE_197_384 = (
    24207.683450005476,
    45409.24836210546,
    [-0.9589242935180664, 0.28366219997406006, -0.9985734820365906, 0.05339503288269043],
)

# A narrow, shallow t2t_vit_14 (the same T2T module and 14x14 grid) keeps the contract checks
# fast; full-size versions of the costly ones are marked slow.
NARROW = dict(embed_dim=64, depth=2, num_heads=2)


def _image(size: int = 224) -> torch.Tensor:
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def narrow() -> T2TViT:
    torch.manual_seed(0)
    return fill_deterministic(timm.create_model("t2t_vit_14", **NARROW), scale=0.05).eval()


@pytest.mark.parametrize("name", NAMES)
def test_layout_matches_the_authors(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    count, digest = LAYOUT[name]
    assert sum(p.numel() for p in model.parameters()) == count
    assert state_digest(model) == digest


@pytest.mark.parametrize("scale", sorted(AUTHORS_T2T14_LOGITS))
def test_computation_matches_the_authors(scale):
    # Built on the meta device (no initialisation cost: T2T-ViT has no buffers), then filled.
    with torch.device("meta"):
        model = timm.create_model("t2t_vit_14")
    model = fill_deterministic(model.to_empty(device="cpu"), scale=scale).eval()
    with torch.inference_mode():
        logits = model(_image())
    first, total = AUTHORS_T2T14_LOGITS[scale]
    atol = 1e-5 * logits.std().item()
    torch.testing.assert_close(logits[0, :5], torch.tensor(first), rtol=1e-4, atol=atol)
    torch.testing.assert_close(logits.sum(), torch.tensor(total), rtol=1e-4, atol=30 * atol)


def test_initialisation_follows_the_authors_draws():
    """From the same seed, every tensor (the random Performer features ``w`` included) is the
    authors': same creation order, same draws, same initialisation."""
    torch.manual_seed(0)
    state = timm.create_model("t2t_vit_14").state_dict()
    for key, (total, magnitude, first) in AUTHORS_T2T14_INIT.items():
        values = state[key].double()
        assert values.sum().item() == pytest.approx(total, rel=1e-6, abs=1e-6), key
        assert values.abs().sum().item() == pytest.approx(magnitude, rel=1e-6), key
        torch.testing.assert_close(state[key].flatten()[:3], torch.tensor(first), rtol=1e-5, atol=0)


def test_position_table_is_the_authors_and_frozen():
    table = sinusoid_table(197, 384)
    total, magnitude, row5 = AUTHORS_TABLE_197_384
    assert table.shape == (1, 197, 384) and table.dtype == torch.float32
    assert table.double().sum().item() == pytest.approx(total, rel=1e-9)
    assert table.double().abs().sum().item() == pytest.approx(magnitude, rel=1e-9)
    assert table[0, 5, :4].tolist() == row5
    # The closed form: channel 2i (2i+1) holds sin (cos) of position / 10000^(2i / dim).
    position = torch.arange(197, dtype=torch.float64)[:, None]
    angle = position / 10000 ** ((2 * (torch.arange(384) // 2)).double() / 384)
    expected = torch.where(torch.arange(384) % 2 == 0, angle.sin(), angle.cos()).float()
    torch.testing.assert_close(table[0], expected, rtol=0, atol=1e-6)
    model = timm.create_model("t2t_vit_14", **NARROW)
    assert torch.equal(model.pos_embed, sinusoid_table(197, 64))
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen == ["pos_embed", "tokens_to_token.attention1.w", "tokens_to_token.attention2.w"]
    assert model.tokens_to_token.attention1.w.shape == (32, 64)


def test_position_table_at_384():
    with torch.device("meta"):
        model = timm.create_model("t2t_vit_14", img_size=384)
    assert model.pos_embed.shape == (1, 24 * 24 + 1, 384)
    assert sum(p.numel() for p in model.parameters()) == 21_691_470  # the authors' count


def test_performer_features_are_orthogonal_and_scaled():
    torch.manual_seed(0)
    layer = TokenPerformer(dim=27, in_dim=16, kernel_ratio=0.5)
    w = layer.w.double()
    torch.testing.assert_close(w @ w.T, 8.0 * torch.eye(8, dtype=torch.float64), rtol=0, atol=1e-5)


def test_performer_against_its_definition():
    """y = v + proj(phi(q) (sum_t phi(k_t) v_t^T) / (phi(q) . sum_t phi(k_t) + eps)), with
    phi(x) = exp(w x - |x|^2 / 2) / sqrt(m); then a residual MLP on LayerNorm(y)."""
    torch.manual_seed(0)
    layer = fill_deterministic(TokenPerformer(dim=12, in_dim=8, kernel_ratio=0.5), scale=0.3)
    layer.eval()
    x = torch.randn(2, 5, 12)
    with torch.no_grad():
        k, q, v = layer.kqv(layer.norm1(x)).split(8, dim=-1)

        def phi(t: torch.Tensor) -> torch.Tensor:
            return torch.exp(t @ layer.w.T - (t * t).sum(-1, keepdim=True) / 2) / math.sqrt(4)

        numerator = phi(q) @ (phi(k).transpose(1, 2) @ v)
        denominator = phi(q) @ phi(k).sum(dim=1, keepdim=True).transpose(1, 2) + 1e-8
        y = v + layer.proj(numerator / denominator)
        expected = y + layer.mlp(layer.norm2(y))
        torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_performer_features_are_float32():
    """The authors cast to float before the random-feature products: half inputs give float32."""
    torch.manual_seed(0)
    layer = TokenPerformer(dim=12, in_dim=8)
    features = layer.prm_exp(torch.randn(2, 5, 8).bfloat16())
    assert features.dtype == torch.float32


def test_stochastic_depth_is_the_authors_linspace():
    with torch.device("meta"):
        model = timm.create_model("t2t_vit_14", drop_path_rate=0.1)
    assert isinstance(model.blocks[0].drop_path1, torch.nn.Identity)
    rates = [block.drop_path1.drop_prob for block in model.blocks[1:]]
    assert rates == [x.item() for x in torch.linspace(0, 0.1, 14)[1:]]


def test_vit_s16_settings():
    with torch.device("meta"):
        model = timm.create_model("vit_s16_t2t", drop_rate=0.1)
    assert model.blocks[0].attn.qkv.bias is None
    assert model.norm.eps == 1e-5 and model.blocks[0].norm1.eps == 1e-5
    assert model.blocks[0].mlp.fc1.out_features == 3 * 768 and len(model.blocks) == 8
    # drop_rate keeps the authors' meaning: after the position embedding and inside blocks.
    assert model.pos_drop.p == 0.1 and model.blocks[0].mlp.drop1.p == 0.1
    assert model.head_drop.p == 0.0
    assert model.pos_embed.requires_grad  # learned, unlike T2T-ViT's table


@pytest.mark.parametrize("name", NAMES)
def test_wrong_input_raises(name):
    with torch.device("meta"):
        model = timm.create_model(name).eval()
    pattern = "accepts only 224x224 images; got 256x256"
    with pytest.raises(ValueError, match=pattern):
        model(torch.empty(1, 3, 256, 256, device="meta"))
    with pytest.raises(ValueError, match="accepts 3-channel images; got 1"):
        model(torch.empty(1, 1, 224, 224, device="meta"))
    with pytest.raises(ValueError, match=pattern):
        model.forward_intermediates(torch.empty(1, 3, 256, 256, device="meta"))


def test_other_sizes_build_their_own_grid(narrow):
    torch.manual_seed(0)
    model = timm.create_model("t2t_vit_14", img_size=160, **NARROW).eval()
    assert model.grid_size == 10 and model.pos_embed.shape == (1, 101, 64)
    with torch.inference_mode():
        assert model(_image(160)).shape == (1, 1000)


@pytest.mark.parametrize(
    ("name", "overrides", "pattern"),
    [
        ("t2t_vit_14", {"img_size": (224, 192)}, r"img_size must be square .* got 224x192"),
        ("t2t_vit_14", {"img_size": 8}, r"img_size must be >= 16"),
        ("t2t_vit_14", {"num_heads": 5}, r"num_heads must be an int >= 1 dividing embed_dim 384"),
        ("t2t_vit_14", {"depth": 0}, r"depth must be an int >= 1; got 0"),
        ("t2t_vit_14", {"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\); got 1.0"),
        ("t2t_vit_14", {"global_pool": "max"}, r"global_pool must be 'token', 'avg' or ''"),
        ("vit_s16_t2t", {"dynamic_img_size": True}, r"fixed input size; dynamic_img_size"),
    ],
)
def test_invalid_configuration_raises_at_construction(name, overrides, pattern):
    with torch.device("meta"), pytest.raises(ValueError, match=pattern):
        timm.create_model(name, **overrides)


@pytest.mark.parametrize("name", NAMES)
def test_pretrained_cfg(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    cfg = model.pretrained_cfg
    assert cfg["fixed_input_size"] is True and cfg["input_size"] == (3, 224, 224)
    assert cfg["crop_pct"] == 0.9 and cfg["interpolation"] == "bicubic"
    assert cfg["origin_url"] == "https://github.com/yitu-opensource/T2T-ViT"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d | torch.nn.Linear)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features == model.head_hidden_size
    if name == "vit_s16_t2t":
        assert any("48.6M" in note for note in cfg["notes"])


@pytest.mark.parametrize(
    "overrides", [pytest.param(NARROW, id="narrow"), pytest.param({}, marks=pytest.mark.slow)]
)
def test_forward_backward(overrides):
    torch.manual_seed(0)
    model = timm.create_model("t2t_vit_14", num_classes=7, drop_path_rate=0.1, **overrides)
    out = model.train()(_image())
    assert out.shape == (1, 7)
    out.sum().backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name


def test_head_and_reset_classifier(narrow):
    x = _image()
    with torch.inference_mode():
        tokens = narrow.forward_features(x)
        pooled = narrow.forward_head(tokens, pre_logits=True)
        torch.testing.assert_close(narrow.forward_head(tokens), narrow(x))
    assert tokens.shape == (1, 197, 64) and pooled.shape == (1, 64)
    torch.testing.assert_close(pooled, tokens[:, 0])
    torch.manual_seed(0)
    model = timm.create_model("t2t_vit_14", **NARROW).eval()
    model.reset_classifier(0)
    with torch.inference_mode():
        assert model(x).shape == (1, 64)
    model.reset_classifier(0, "")
    with torch.inference_mode():
        assert model(x).shape == (1, 197, 64)
    model.reset_classifier(3, "avg")
    with torch.inference_mode():
        assert model(x).shape == (1, 3)


def test_grad_checkpointing_computes_the_same(narrow):
    x = _image()
    plain = narrow.forward_features(x)
    _, plain_intermediates = narrow.forward_intermediates(x)
    narrow.set_grad_checkpointing(True)
    try:
        torch.testing.assert_close(narrow.forward_features(x), plain)
        torch.testing.assert_close(narrow.forward_intermediates(x)[1], plain_intermediates)
    finally:
        narrow.set_grad_checkpointing(False)


def test_group_matcher_covers_every_parameter():
    with torch.device("meta"):
        model = timm.create_model("t2t_vit_14")
    names = [name for name, _ in model.named_parameters()]
    groups = timm.models.group_parameters(model, model.group_matcher())
    assert sorted(n for group in groups.values() for n in group) == sorted(names)
    assert len(groups) == 1 + 14 + 1  # stem, blocks, head (with the final norm)


def _scripted_matches(model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.inference_mode():
        expected = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), expected)
        graph = torch.fx.symbolic_trace(model)
        torch.testing.assert_close(graph(x), expected)
        torch.testing.assert_close(torch.jit.script(graph)(x), expected)


def test_torchscript_and_fx(narrow):
    _scripted_matches(narrow, _image())


def test_vit_torchscript_and_fx():
    torch.manual_seed(0)
    model = timm.create_model("vit_s16_t2t", embed_dim=64, depth=2, num_heads=2).eval()
    _scripted_matches(fill_deterministic(model, scale=0.05), _image())


@pytest.mark.slow
def test_torchscript_and_fx_full_size():
    torch.manual_seed(0)
    _scripted_matches(timm.create_model("t2t_vit_14").eval(), _image())


def test_features_only_and_intermediates(narrow):
    x = _image()
    with torch.inference_mode():
        final, intermediates = narrow.forward_intermediates(x)
        torch.testing.assert_close(final, narrow.forward_features(x))
        tokens = narrow.forward_intermediates(x, indices=1, output_fmt="NLC", norm=True)[1]
        early = narrow.forward_intermediates(x, indices=[0], stop_early=True)
        normed = narrow.norm(intermediates[1].flatten(2).transpose(1, 2))
    assert [tuple(m.shape) for m in intermediates] == [(1, 64, 14, 14)] * 2
    assert narrow.feature_info[0]["reduction"] == 16
    torch.testing.assert_close(tokens[0], normed)
    torch.testing.assert_close(early[1][0], intermediates[0])
    features = timm.create_model("t2t_vit_14", features_only=True, out_indices=(0, 1), **NARROW)
    features.eval()
    features.model.load_state_dict(narrow.state_dict(), strict=False)
    with torch.inference_mode():
        maps = features(x)
    for mine, theirs in zip(maps, intermediates, strict=True):
        torch.testing.assert_close(mine, theirs)
    torch.manual_seed(0)
    pruned = timm.create_model("t2t_vit_14", features_only=True, out_indices=(0,), **NARROW)
    assert len(pruned.model.blocks) == 1


def test_module_registers_every_name():
    assert set(models.t2t_vit.default_cfgs) == set(NAMES)
    assert set(timm.list_models(module="t2t_vit")) == set(NAMES)
