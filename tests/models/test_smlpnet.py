"""sMLPNet (models/smlpnet.py): layout and computation pinned to the authors' code, the sparse
MLP against its definition, bad input, and the timm contract.

The digests and logits below were computed once from the authors' implementation
(github: microsoft/SPACH, models/smlp.py and the configurations in models/registry.py, at commit
dcede1e86c9e183d4a734c67f8528d291d1c29d1), which CI cannot reach.
"""

import pytest
import timm
import torch
import torch.nn.functional as F

import models.smlpnet
from models.smlpnet import SparseMLPBlock, SparseMLPNet
from tests.models.conftest import fill_deterministic, state_digest

NAMES = ["smlpnet_t", "smlpnet_s", "smlpnet_b"]

# Parameter counts and state_digest() of the authors' sMLPNet with smlpnet_tiny/small/base's
# settings (identical for ours: same keys, same order, same shapes).
LAYOUT = {
    "smlpnet_t": (24_123_584, "6c8f97d2e45c995eaa07a85602c0ef310a8bdf77e8f4fdc1064ff63cd5cee6fe"),
    "smlpnet_s": (48_558_136, "9bc447b114c0592d3c8ad5a0453575dbe91fb73a98448b7309438ff26378813e"),
    "smlpnet_b": (65_880_408, "f4fec85a31ea52fb6df1b53bc706468c57bda899e04bc8706833d4ba5660296a"),
}

# The authors' sMLPNet(dim=80, alpha=3, patch_size=4, depths=[2, 8, 14, 2]) after
# fill_deterministic(scale=...), in eval mode, on torch.randn(1, 3, 224, 224) from a generator
# seeded 0: its first five logits and the sum of all 1000, at two scales that catch different
# changes. At 0.02 (logits' standard deviation 0.17) the residual branches are small, so a
# tanh-approximate GELU in the sparse MLP moves the logits by only 2e-7, but LayerNorm's eps
# matters; at 0.05 (standard deviation 5.8) the GELU change moves them by 4e-4.
AUTHORS_TINY_LOGITS = {
    0.02: (
        [
            -0.11914733797311783,
            -0.0495176762342453,
            -0.09914296120405197,
            0.05552525445818901,
            0.04452810809016228,
        ],
        5.592165946960449,
    ),
    0.05: (
        [
            0.44820305705070496,
            -0.6774492859840393,
            -0.3152134120464325,
            0.2954631447792053,
            6.076773643493652,
        ],
        94.635498046875,
    ),
}

# A narrow, shallow smlpnet_t (same code paths, same 56/28/14/7 token grids) keeps the contract
# checks fast; full-size versions of the costly ones are marked slow.
NARROW = dict(embed_dim=8, depths=(1, 1, 1, 1))


def _image() -> torch.Tensor:
    return torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def narrow() -> SparseMLPNet:
    torch.manual_seed(0)
    return fill_deterministic(timm.create_model("smlpnet_t", **NARROW), scale=0.2).eval()


@pytest.mark.parametrize("name", NAMES)
def test_layout_matches_the_authors(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    count, digest = LAYOUT[name]
    assert sum(p.numel() for p in model.parameters()) == count
    assert state_digest(model) == digest


@pytest.mark.parametrize("scale", sorted(AUTHORS_TINY_LOGITS))
def test_computation_matches_the_authors(scale):
    model = fill_deterministic(timm.create_model("smlpnet_t"), scale=scale).eval()
    with torch.inference_mode():
        logits = model(_image())
    first, total = AUTHORS_TINY_LOGITS[scale]
    atol = 1e-5 * logits.std().item()
    torch.testing.assert_close(logits[0, :5], torch.tensor(first), rtol=1e-4, atol=atol)
    torch.testing.assert_close(logits.sum(), torch.tensor(total), rtol=1e-4, atol=10 * atol)


def test_sparse_mlp_against_its_definition():
    """proj_h mixes the tokens of each row (along the width), proh_w those of each column."""
    torch.manual_seed(0)
    channels, side = 4, 5
    block = fill_deterministic(SparseMLPBlock(channels, side), scale=0.5).eval()
    x = torch.randn(2, channels, side, side)
    with torch.no_grad():
        y = F.gelu(block.BN(x))
        row_weight, column_weight = block.proj_h.weight[:, :, 0, 0], block.proh_w.weight[:, :, 0, 0]
        along_rows = torch.einsum("vw,bchw->bchv", row_weight, y)
        along_rows = along_rows + block.proj_h.bias.view(1, 1, 1, side)
        along_columns = torch.einsum("uh,bchw->bcuw", column_weight, y)
        along_columns = along_columns + block.proh_w.bias.view(1, 1, side, 1)
        fuse = block.fuse.weight[:, :, 0, 0]
        expected = torch.einsum("oi,bihw->bohw", fuse, torch.cat([y, along_rows, along_columns], 1))
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_stages_and_stochastic_depth():
    with torch.device("meta"):
        model = timm.create_model("smlpnet_s")
    assert [info["num_chs"] for info in model.feature_info] == [96, 192, 384, 768]
    assert [info["reduction"] for info in model.feature_info] == [4, 8, 16, 32]
    assert model.stage_starts == [0, 2, 12, 36] and model.stage_ends == [2, 12, 36, 38]
    grids = [block[1].proj_h.in_channels for block in model.token_mix]
    assert grids == [56] * 2 + [28] * 10 + [14] * 24 + [7] * 2
    # The authors' rule: rate = 0.2 * block index / (blocks - 1), no DropPath at rate 0.
    assert isinstance(model.drop_path[0], torch.nn.Identity)
    rates = [module.drop_prob for module in model.drop_path[1:]]
    assert rates == pytest.approx([0.2 * i / 37 for i in range(1, 38)])


@pytest.mark.parametrize("size", [192, 256])
def test_wrong_input_size_raises(narrow, size):
    x = torch.randn(1, 3, size, size)
    pattern = f"accepts only 224x224 images; got {size}x{size}"
    with pytest.raises(ValueError, match=pattern):
        narrow(x)
    with pytest.raises(ValueError, match=pattern):
        narrow.forward_features(x)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"img_size": 226}, r"img_size 226 is not a multiple of patch_size 4"),
        ({"img_size": (224, 192)}, r"img_size must be square .* got 224x192"),
        ({"img_size": 16}, r"a 4x4 token grid .* cannot be halved 3 times for 4 stages"),
        ({"depths": (2, 0, 14, 2)}, r"depths must be a non-empty sequence of ints >= 1"),
        ({"depths": ()}, r"depths must be a non-empty sequence"),
        ({"embed_dim": 0}, r"embed_dim must be an int >= 1; got 0"),
        ({"mlp_ratio": 0}, r"mlp_ratio must be > 0; got 0"),
        ({"drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\); got 1.0"),
        ({"global_pool": "max"}, r"global_pool must be 'avg' or ''; got 'max'"),
    ],
)
def test_invalid_configuration_raises_at_construction(overrides, pattern):
    with torch.device("meta"), pytest.raises(ValueError, match=pattern):
        timm.create_model("smlpnet_t", **overrides)


def test_pretrained_cfg():
    with torch.device("meta"):
        model = timm.create_model("smlpnet_t")
    cfg = model.pretrained_cfg
    assert cfg["fixed_input_size"] is True and cfg["input_size"] == (3, 224, 224)
    assert cfg["pool_size"] == (7, 7) and cfg["crop_pct"] == 0.875
    assert cfg["interpolation"] == "bicubic" and cfg["paper_ids"] == "arXiv:2109.05422"
    modules = dict(model.named_modules())
    assert isinstance(modules[cfg["first_conv"]], torch.nn.Conv2d)
    assert modules[cfg["classifier"]] is model.get_classifier()
    assert model.get_classifier().in_features == model.num_features == model.head_hidden_size


@pytest.mark.parametrize(
    "overrides", [pytest.param(NARROW, id="narrow"), pytest.param({}, marks=pytest.mark.slow)]
)
def test_forward_backward(overrides):
    torch.manual_seed(0)
    model = timm.create_model("smlpnet_t", num_classes=7, drop_path_rate=0.1, **overrides)
    out = model.train()(_image())
    assert out.shape == (1, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_head_and_reset_classifier():
    torch.manual_seed(0)
    model = timm.create_model("smlpnet_t", **NARROW).eval()
    x = _image()
    with torch.inference_mode():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        torch.testing.assert_close(model.forward_head(features), model(x))
    assert features.shape == (1, model.num_features, 7, 7)
    assert pooled.shape == (1, model.num_features)
    model.reset_classifier(0)
    with torch.inference_mode():
        assert model(x).shape == (1, model.num_features)
    model.reset_classifier(0, "")
    with torch.inference_mode():
        assert model(x).shape == (1, model.num_features, 7, 7)
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
        model = timm.create_model("smlpnet_t")
    names = [name for name, _ in model.named_parameters()]
    # Stem, blocks (fine) or stages (coarse), head; the final norm joins the last group.
    for coarse, expected_groups in ((False, 1 + 26 + 1), (True, 1 + 4 + 1)):
        groups = timm.models.group_parameters(model, model.group_matcher(coarse))
        assert sorted(n for group in groups.values() for n in group) == sorted(names)
        assert len(groups) == expected_groups
    fine = timm.models.group_parameters(model, model.group_matcher(), reverse=True)
    assert fine["to_patch_embedding.1.0.weight"] == fine["token_mix.2.1.fuse.weight"]


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
    _scripted_matches(timm.create_model("smlpnet_t").eval(), _image())


def test_features_only_and_intermediates(narrow):
    x = _image()
    features = timm.create_model("smlpnet_t", features_only=True, **NARROW).eval()
    # The wrapped model lost its final norm and head to pruning: the rest loads unchanged.
    incompatible = features.model.load_state_dict(narrow.state_dict(), strict=False)
    assert not incompatible.missing_keys
    assert {key.split(".")[0] for key in incompatible.unexpected_keys} == {"batch_norm", "mlp_head"}
    with torch.inference_mode():
        maps = features(x)
        final, intermediates = narrow.forward_intermediates(x)
        torch.testing.assert_close(final, narrow.forward_features(x))
        last = narrow.forward_intermediates(x, indices=1, norm=True, intermediates_only=True)
        early = narrow.forward_intermediates(x, indices=[0, 1], stop_early=True)
        normed = narrow.batch_norm(intermediates[-1])
    assert [tuple(m.shape) for m in maps] == [
        (1, 8, 56, 56),
        (1, 16, 28, 28),
        (1, 32, 14, 14),
        (1, 64, 7, 7),
    ]
    for mine, theirs in zip(maps, intermediates, strict=True):
        torch.testing.assert_close(mine, theirs)
    torch.testing.assert_close(last[0], normed)
    torch.testing.assert_close(early[1], intermediates[:2])
    torch.testing.assert_close(early[0], intermediates[1])  # stopped before the final norm
    # timm's fx feature extraction finds the stage outputs by the feature_info module names.
    graph = timm.create_model("smlpnet_t", features_only=True, feature_cls="fx", **NARROW).eval()
    graph.graph_module.load_state_dict(narrow.state_dict(), strict=False)
    with torch.inference_mode():
        torch.testing.assert_close(graph(x), intermediates)
    torch.manual_seed(0)
    pruned = timm.create_model("smlpnet_t", features_only=True, out_indices=(0, 1), **NARROW)
    assert len(pruned.model.token_mix) == 2 and len(pruned.model.to_patch_embedding) == 2
    assert isinstance(pruned.model.batch_norm, torch.nn.Identity)


def test_module_registers_every_name():
    assert set(models.smlpnet.default_cfgs) == set(NAMES)
    assert set(NAMES) <= set(timm.list_models("smlpnet_*"))
