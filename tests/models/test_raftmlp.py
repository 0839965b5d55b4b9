"""RaftMLP (models/raftmlp.py): layout, computation pinned to the authors' code, raft mixing."""

import pytest
import timm
import torch
import torch.nn.functional as F

from models.raftmlp import RaftLayer, Regroup  # the import registers the names with timm
from tests.models.conftest import fill_deterministic, state_digest

# Parameter counts and state-dict layouts (sha256 of the ordered (name, shape) list) of the
# authors' RaftMLP built from their configs/settings/imagenet-raft-mlp.yaml (raftmlp_12) and
# imagenet-raft-mlp-deep.yaml (raftmlp_36) at commit 2b1276e of github.com/okojoalg/raft-mlp.
EXPECTED = {
    "raftmlp_12": (58_390_696, "3866f2ff6a5de96a104f7e956065a91b1d6d94034caca73aa1000723d0c1be90"),
    "raftmlp_36": (43_532_296, "152a22303b2f489d55867cbc80d6599a565bd9787766931f9a9cd43b5249f881"),
}

# Computation pinned to the authors' code (commit 2b1276e): their RaftMLP built as raftmlp_36
# (imagenet-raft-mlp-deep.yaml), and as the same with depth 2, after fill_deterministic(model), in
# eval mode, on torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)):
# (logits[0, :5], logits.sum()). Normalising the raft mixers' channels in the tokens' order
# instead of the authors' (offset, group) order moves these by 1e-4 to 8e-4.
PINNED = {
    "raftmlp_36": (
        [
            -0.005505315959453583,
            0.10420340299606323,
            -0.09380707144737244,
            -0.1799483299255371,
            0.22505009174346924,
        ],
        1.1801575422286987,
    ),
    "raftmlp_36, depth 2": (
        [
            -0.03136800229549408,
            0.0011558346450328827,
            -0.0449691116809845,
            0.00027266331017017365,
            0.08820520341396332,
        ],
        0.47418686747550964,
    ),
}


def _image(batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def shallow() -> torch.nn.Module:
    """raftmlp_36 with two layers and fill_deterministic weights: its layers, a fast run."""
    return fill_deterministic(timm.create_model("raftmlp_36", depth=2)).eval()


def _assert_pinned(model: torch.nn.Module, key: str) -> None:
    first, total = PINNED[key]
    with torch.inference_mode():
        logits = model(_image())
    torch.testing.assert_close(logits[0, :5], torch.tensor(first), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits.sum(), torch.tensor(total), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_parameter_count_and_layout_match_the_authors(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    count, digest = EXPECTED[name]
    assert sum(p.numel() for p in model.parameters()) == count
    assert state_digest(model) == digest


def test_logits_match_the_authors_code(shallow):
    _assert_pinned(shallow, "raftmlp_36, depth 2")


@pytest.mark.slow
def test_full_size_logits_match_the_authors_code():
    _assert_pinned(fill_deterministic(timm.create_model("raftmlp_36")).eval(), "raftmlp_36")


def _raft_mixer_by_definition(
    mixer: torch.nn.Module, tokens: torch.Tensor, height: int, width: int, raft: int, vertical: bool
) -> torch.Tensor:
    """A raft mixer written from the paper: (B, H*W, C) tokens in and out.

    Channel g * (C / raft) + c is offset c of group g. The LayerNorm stores its weights in
    (offset, group) order. For each offset and each column (vertical) or row, one MLP input holds
    the raft x side values of that offset in every group, ordered (group, position).
    """
    batch, _, dim = tokens.shape
    offsets = dim // raft
    norm, fc1, fc2 = mixer.norm[1], mixer.fn[0], mixer.fn[3]
    weight = norm.weight.reshape(offsets, raft).t().reshape(dim)
    bias = norm.bias.reshape(offsets, raft).t().reshape(dim)
    normed = F.layer_norm(tokens, (dim,), weight, bias, norm.eps)
    grid = normed.reshape(batch, height, width, raft, offsets)
    # (B, offset, line, group, position along the line)
    order = (0, 4, 2, 3, 1) if vertical else (0, 4, 1, 3, 2)
    lines = grid.permute(order)
    side = height if vertical else width
    mixed = fc2(F.gelu(fc1(lines.reshape(*lines.shape[:3], raft * side))))
    mixed = mixed.reshape(lines.shape).permute(torch.argsort(torch.tensor(order)).tolist())
    return tokens + mixed.reshape(batch, height * width, dim)


def test_raft_mixers_follow_their_definition():
    """Vertical and horizontal mixing on a non-square grid, against a direct implementation."""
    height, width, raft, dim = 3, 5, 2, 8
    torch.manual_seed(0)
    layer = fill_deterministic(RaftLayer(dim, height, width, raft), scale=0.5).eval()
    for name, parameter in layer.named_parameters():  # norms far from identity
        if name.endswith("norm.1.weight"):
            parameter.data.normal_()
    tokens = torch.randn(2, height * width, dim)
    with torch.no_grad():
        vertical = layer[2](layer[1](layer[0](tokens)))  # still in the rows layout
        vertical = layer[4](vertical)
        expected = _raft_mixer_by_definition(layer[1], tokens, height, width, raft, True)
        torch.testing.assert_close(vertical, expected)
        horizontal = layer[4](layer[3](layer[2](layer[0](tokens))))
        expected = _raft_mixer_by_definition(layer[3], tokens, height, width, raft, False)
        torch.testing.assert_close(horizontal, expected)
        # Layout changes alone are a round trip.
        torch.testing.assert_close(layer[4](layer[2](layer[0](tokens))), tokens, rtol=0, atol=0)


def test_regroup_is_the_named_permutation():
    x = torch.arange(2 * 6 * 4).reshape(2, 6, 4)
    to_map = Regroup(dict(h=2, w=3, c=4), [["c"], ["h"], ["w"]])
    torch.testing.assert_close(to_map(x), x.reshape(2, 2, 3, 4).permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match="exactly once"):
        Regroup(dict(h=2, w=3), [["h"], ["h"]])


def test_wrong_image_size_is_a_clear_error():
    with torch.device("meta"):
        model = timm.create_model("raftmlp_12")
    message = r"accepts only 224x224 images; got 192x160"
    with pytest.raises(ValueError, match=message):
        model(torch.randn(1, 3, 192, 160, device="meta"))
    with pytest.raises(ValueError, match=message):
        model.forward_features(torch.randn(1, 3, 192, 160, device="meta"))


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"raft_size": 5}, r"raft_size 5 must divide embed_dim 384; accepted: \[1, 2, 3, 4, 6"),
        ({"raft_size": 0}, r"raft_size must be a positive int; got 0"),
        ({"depth": 0}, r"depth must be a positive int; got 0"),
        ({"embed_dim": 0}, r"embed_dim must be a positive int; got 0"),
        ({"patch_size": 15}, r"img_size 224 is not a multiple of patch_size 15"),
        ({"img_size": (224, 192)}, r"img_size must be square .* got 224x192"),
        ({"global_pool": "max"}, r"global_pool must be 'avg' or ''; got 'max'"),
    ],
)
def test_invalid_configuration_raises_at_construction(overrides, pattern):
    with torch.device("meta"), pytest.raises(ValueError, match=pattern):
        timm.create_model("raftmlp_36", **overrides)


def test_pretrained_cfg():
    with torch.device("meta"):
        model = timm.create_model("raftmlp_36")
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224) and cfg["fixed_input_size"] is True
    assert cfg["pool_size"] == (14, 14) and cfg["paper_ids"] == "arXiv:2108.04384"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Linear)  # a Linear patch embedding
    assert modules[cfg["classifier"]] is model.get_classifier()


def test_forward_backward():
    torch.manual_seed(0)
    model = timm.create_model("raftmlp_36", depth=1, num_classes=7, drop_path_rate=0.1)
    out = model(_image(batch=2))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_grad_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = timm.create_model("raftmlp_36", depth=1)
    x = _image()
    model(x).square().mean().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).square().mean().backward()
    for expected, parameter in zip(plain, model.parameters(), strict=True):
        torch.testing.assert_close(parameter.grad, expected)


def test_head_and_classifier_reset(shallow):
    x = _image()
    with torch.inference_mode():
        features = shallow.forward_features(x)
        assert features.shape == (1, 384, 14, 14)
        pooled = shallow.forward_head(features, pre_logits=True)
        torch.testing.assert_close(shallow.forward_head(features), shallow(x))
    assert pooled.shape == (1, shallow.num_features) == (1, shallow.head_hidden_size)
    model = timm.create_model("raftmlp_36", depth=2).eval()
    model.reset_classifier(0)
    with torch.inference_mode():
        assert model(x).shape == (1, 384)
    model.reset_classifier(3)
    assert model.get_classifier().out_features == 3


def test_torchscript_and_fx_match_eager(shallow):
    x = _image()
    graph = torch.fx.symbolic_trace(shallow)
    with torch.inference_mode():
        expected = shallow(x)
        torch.testing.assert_close(torch.jit.script(shallow)(x), expected)
        torch.testing.assert_close(graph(x), expected)
        torch.testing.assert_close(torch.jit.script(graph)(x), expected)


def test_features_only_and_intermediates(shallow):
    x = _image()
    torch.manual_seed(0)
    features = timm.create_model(
        "raftmlp_36", depth=2, features_only=True, out_indices=(0, 1)
    ).eval()
    with torch.inference_mode():
        outputs = features(x)
        final, intermediates = shallow.forward_intermediates(x)
        tokens = shallow.forward_intermediates(
            x, indices=1, output_fmt="NLC", intermediates_only=True
        )
    assert [tuple(o.shape) for o in outputs] == [(1, 384, 14, 14)] * 2
    assert features.feature_info.reduction() == [16, 16]
    torch.testing.assert_close(shallow.forward_head(final), shallow(x))
    torch.testing.assert_close(tokens[0], intermediates[-1].flatten(2).transpose(1, 2))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "macs"), [("raftmlp_12", 12.044e9), ("raftmlp_36", 9.019e9)])
def test_macs(name, macs):
    from ptflops import get_model_complexity_info

    with torch.device("meta"):
        model = timm.create_model(name)
    counted, _ = get_model_complexity_info(
        model, (3, 224, 224), as_strings=False, backend="aten", print_per_layer_stat=False
    )
    assert counted == pytest.approx(macs, rel=1e-3)
