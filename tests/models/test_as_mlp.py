"""AS-MLP (models/as_mlp.py): sizes, layout and numbers pinned to the authors' code, the axial
shift against its definition, bad input, and the timm contract on the smallest variant.

The digests and logits below were computed from the authors' repository (github:
svip-lab/AS-MLP, commit dd1eb4f768f46fdf7c8522fd535ea9e15f664fae, models/as_mlp.py built as
models/build.py does with configs/as_{tiny,small,base}_patch4_shift5_224.yaml), with their CUDA
``Shift`` replaced by their own pure-PyTorch ``torch_shift``, which equals a line-by-line
transcription of the CUDA kernel bit for bit. CI cannot reach that code, so they are constants.
"""

import math

import pytest
import timm
import torch
from ptflops import get_model_complexity_info
from timm.models import group_parameters

import models.as_mlp
from models.as_mlp import GroupShift, PatchMerging
from tests.models.conftest import fill_deterministic, state_digest

# name -> (parameters, state_digest of the authors' model, MACs in G from the issue's table)
EXPECTED = {
    "as_mlp_t": (
        28_282_696,
        "251f9326d10794e1b0ae0b84e296110023ce2df69cde28d2bed63cdc27db28ad",
        4.364,
    ),
    "as_mlp_s": (
        49_594_696,
        "f2bb481d8376a26f309a23c9307dc249174cba017e3deed9095ee061e2acb261",
        8.534,
    ),
    "as_mlp_b": (
        87_752_808,
        "c0847a49395c92e1ea0ecefe6911ddd47f5ba8886acaef4f5c1f7fd8dc4b026b",
        15.154,
    ),
}

# The authors' AS-MLP-T after fill_deterministic (seed 0, scale 0.02), eval mode, on
# torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).
AUTHORS_T_LOGITS_HEAD = [
    0.11434309184551239,
    0.43474024534225464,
    -0.210143581032753,
    0.020701169967651367,
    0.08234043419361115,
]
AUTHORS_T_LOGITS_SUM = 4.042479038238525

SMALL = dict(img_size=64, num_classes=10)  # as_mlp_t's layers on a 16x16 grid, for speed


def _meta(name: str, **kwargs) -> torch.nn.Module:
    with torch.device("meta"):
        return timm.create_model(name, **kwargs)


@pytest.fixture(scope="module")
def small() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("as_mlp_t", **SMALL).eval()


def _image(size: int = 64, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))


# Sizes and layout -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_parameter_count_and_layout(name):
    params, digest, _ = EXPECTED[name]
    model = _meta(name)
    assert sum(p.numel() for p in model.parameters()) == params
    assert state_digest(model) == digest


def test_macs_of_smallest_variant():
    """ptflops' aten backend on the meta device: shifts are copies and count nothing."""
    macs, _ = get_model_complexity_info(
        _meta("as_mlp_t"),
        (3, 224, 224),
        as_strings=False,
        backend="aten",
        print_per_layer_stat=False,
    )
    assert macs / 1e9 == pytest.approx(EXPECTED["as_mlp_t"][2], rel=0.01)


# Numbers pinned to the authors' code ----------------------------------------------------------


def test_logits_match_authors_code():
    model = fill_deterministic(timm.create_model("as_mlp_t")).eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        logits = model(x)
    # Logits are O(0.3) here; reversing the shift directions moves them by up to 0.25.
    torch.testing.assert_close(
        logits[0, :5], torch.tensor(AUTHORS_T_LOGITS_HEAD), rtol=1e-4, atol=1e-5
    )
    assert logits.sum().item() == pytest.approx(AUTHORS_T_LOGITS_SUM, rel=1e-4, abs=1e-4)


# The axial shift and patch merging against their definitions ----------------------------------


def _shift_by_definition(x: torch.Tensor, shift_size: int, dim: int) -> torch.Tensor:
    """out[:, c, i] = x[:, c, i + s], s = shift_size // 2 - c // ceil(C / shift_size), zero fill."""
    out = torch.zeros_like(x)
    channels, length = x.shape[1], x.shape[dim]
    group = math.ceil(channels / shift_size)
    for c in range(channels):
        s = shift_size // 2 - c // group
        for i in range(length):
            if 0 <= i + s < length:
                out[:, c].select(dim - 1, i).copy_(x[:, c].select(dim - 1, i + s))
    return out


@pytest.mark.parametrize("channels", [1, 3, 7, 10, 11, 96])
@pytest.mark.parametrize("shift_size", [1, 3, 5, 7])
@pytest.mark.parametrize("dim", [2, 3])
def test_group_shift_matches_definition(channels, shift_size, dim):
    x = torch.randn(2, channels, 5, 6, generator=torch.Generator().manual_seed(channels))
    assert torch.equal(
        GroupShift(channels, shift_size, dim)(x), _shift_by_definition(x, shift_size, dim)
    )


def test_group_shift_groups():
    """Uneven channels: the last group is smaller, or there are fewer groups than shifts."""
    assert GroupShift(96, 5, 3).groups == [
        (0, 20, 2),
        (20, 20, 1),
        (40, 20, 0),
        (60, 20, -1),
        (80, 16, -2),
    ]
    assert GroupShift(6, 5, 2).groups == [(0, 2, 2), (2, 2, 1), (4, 2, 0)]
    with pytest.raises(ValueError, match="dim must be 2"):
        GroupShift(6, 5, 1)


def test_patch_merging_stacking_order():
    merge = PatchMerging(3)
    x = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(0))
    seen = {}
    merge.norm.register_forward_hook(lambda module, args, out: seen.update(stacked=args[0]))
    merge(x)
    expected = torch.cat(
        [x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], 1
    )
    assert torch.equal(seen["stacked"], expected)


# Bad input ------------------------------------------------------------------------------------


def test_wrong_input_size_raises(small):
    x = torch.randn(1, 3, 96, 96)
    for method in (small, small.forward_features):
        with pytest.raises(ValueError, match="64x64 images; got 96x96"):
            method(x)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(shift_size=4), "shift_size must be a positive odd number; got 4"),
        (dict(shift_size=0), "shift_size must be a positive odd number; got 0"),
        (dict(depths=()), "depths must be one or more"),
        (dict(depths=(2, 0, 6, 2)), "depths must be one or more"),
        (dict(img_size=200), "multiple of patch_size"),
        (dict(global_pool="max"), "global_pool must be 'avg' or ''"),
    ],
)
def test_invalid_configuration_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        _meta("as_mlp_t", **overrides)


# The timm contract on the smallest variant ----------------------------------------------------


def test_pretrained_cfg_and_attributes():
    model = _meta("as_mlp_t")
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 224, 224) and cfg["pool_size"] == (7, 7)
    assert cfg["fixed_input_size"] is True and cfg["crop_pct"] == 0.875
    state = model.state_dict()
    assert f"{cfg['first_conv']}.weight" in state and f"{cfg['classifier']}.weight" in state
    assert model.num_features == model.head_hidden_size == 768
    assert [f["num_chs"] for f in model.feature_info] == [96, 192, 384, 768]
    assert [f["reduction"] for f in model.feature_info] == [4, 8, 16, 32]
    groups = group_parameters(model, model.group_matcher())
    assert sum(len(names) for names in groups.values()) == len(list(model.parameters()))


def test_forward_backward_and_heads():
    torch.manual_seed(0)
    model = timm.create_model("as_mlp_t", drop_path_rate=0.1, **SMALL).train()
    x = _image(batch=2)
    model(x).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.inference_mode():
        features = model.forward_features(x)
        assert features.shape == (2, 768, 2, 2)
        assert model.forward_head(features, pre_logits=True).shape == (2, 768)
        model.reset_classifier(0)
        assert model(x).shape == (2, 768)
        model.reset_classifier(0, "")
        assert model(x).shape == (2, 768, 2, 2)


def test_grad_checkpointing_same_output(small):
    x = _image()
    with torch.no_grad():
        expected = small(x)
        small.set_grad_checkpointing(True)
        try:
            got = small(x)
        finally:
            small.set_grad_checkpointing(False)
    torch.testing.assert_close(got, expected)


def test_torchscript_and_fx(small):
    x = _image()
    with torch.no_grad():
        expected = small(x)
        torch.testing.assert_close(torch.jit.script(small)(x), expected)
        traced = torch.fx.symbolic_trace(small)
        torch.testing.assert_close(traced(x), expected)
        torch.testing.assert_close(torch.jit.script(traced)(x), expected)
        with pytest.raises(ValueError, match="64x64 images"):
            traced(torch.randn(1, 3, 32, 32))


def test_features_and_intermediates(small):
    x = _image()
    with torch.no_grad():
        final, intermediates = small.forward_intermediates(x)
        torch.testing.assert_close(final, small.forward_features(x))
        assert [t.shape[1:] for t in intermediates] == [
            (96, 16, 16),
            (192, 8, 8),
            (384, 4, 4),
            (768, 2, 2),
        ]
        nhwc = small.forward_intermediates(
            x, indices=[1], output_fmt="NHWC", intermediates_only=True
        )
        torch.testing.assert_close(nhwc[0], intermediates[1].permute(0, 2, 3, 1))
    features = timm.create_model("as_mlp_t", features_only=True, out_indices=(1, 3), **SMALL)
    assert features.feature_info.channels() == [192, 768]
    pruned = {k: v for k, v in small.state_dict().items() if not k.startswith(("norm.", "head."))}
    features.model.load_state_dict(pruned, strict=True)
    with torch.no_grad():
        outputs = features(x)
    torch.testing.assert_close(outputs[0], intermediates[1])
    torch.testing.assert_close(outputs[1], intermediates[3])


def test_registered_names():
    assert {"as_mlp_t", "as_mlp_s", "as_mlp_b"} <= set(timm.list_models("as_mlp_*"))
    assert list(models.as_mlp.default_cfgs) == ["as_mlp_t", "as_mlp_s", "as_mlp_b"]
