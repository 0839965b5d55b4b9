"""The fused DynaMixer path against the plain one: same parameters, same numbers.

The plain path (``fused=False``) is the authors' computation line by line; the fused path must
give the same outputs and gradients (fp32) for the named models, for every ablation override and
for both of its ways of combining the branches (projection folded into per-image matrices when a
stage has more than K * C tokens per image, weighted sum in place otherwise). Under bf16
autocast it must agree with the plain path within bf16 tolerance (forward and a training
step's gradients) and cast its tokens once per block.
"""

from __future__ import annotations

import math

import pytest
import torch

import models
from models.dynamixer import DynaMixerBlock, config_dict, set_fused
from tests.models.conftest import ABLATIONS as SINGLE_ABLATIONS

# The acceptance bound on full-model logits (fp32): the fast path must compute the same model;
# measured differences are ~1e-7.
LOGIT_TOLERANCE = 1e-5
# Gradients are compared per parameter, relative to that parameter's largest gradient.
GRADIENT_TOLERANCE = 1e-4
# Under bf16 autocast (8-bit mantissa, 2**-8 = 0.4% per rounding) fused and plain round at
# different points: outputs relative to their largest, gradients per parameter relative to the
# fp32 gradient's largest. Measured: up to 0.6% and 3%; a wrong computation is off by O(1).
BF16_OUTPUT_TOLERANCE = 2e-2
BF16_GRADIENT_TOLERANCE = 1e-1

ABLATIONS = [
    {},
    *SINGLE_ABLATIONS,
    {"reweight": False, "channel_mixing": False},
    {"row_mixing": False, "channel_mixing": False},
    {"mixing": "dense", "share_row_column": True},
]
BLOCK_OVERRIDES = [
    {k: v for k, v in overrides.items() if k != "segment_dim"}
    for overrides in ABLATIONS
    if "segment_dim" not in overrides
]


def _id(overrides: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items()) or "baseline"


def _outputs_and_gradients(
    model: torch.nn.Module, x: torch.Tensor, fused: bool
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    set_fused(model, fused)
    model.zero_grad(set_to_none=True)
    out = model(x)
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out * projection).sum().backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    return out.detach(), grads


def _assert_same(model: torch.nn.Module, x: torch.Tensor, label: str) -> None:
    fused_out, fused_grads = _outputs_and_gradients(model, x, True)
    plain_out, plain_grads = _outputs_and_gradients(model, x, False)
    diff = (fused_out - plain_out).abs().max().item()
    assert diff <= LOGIT_TOLERANCE, f"{label}: fused vs plain outputs differ by {diff:.2e}"
    assert fused_grads.keys() == plain_grads.keys()
    for name, plain in plain_grads.items():
        scale = plain.abs().max().item() + 1e-12
        gap = (fused_grads[name] - plain).abs().max().item() / scale
        assert gap <= GRADIENT_TOLERANCE, f"{label}: gradient of {name} differs by {gap:.2e} (rel)"


def _randomise(module: torch.nn.Module, std: float = 0.1) -> None:
    """Weights of a size that makes every branch and bias matter (the default init is tiny)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=std)


@pytest.mark.parametrize("name", ["dynamixer_s", "dynamixer_m", "dynamixer_l"])
def test_named_models_fused_equals_plain(name):
    """Full models at batch 2: logits within 1e-5, every parameter's gradient alike."""
    torch.manual_seed(0)
    model = models.create_model(name)
    assert model.config.fused, "the fused path is the default"
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    _assert_same(model, x, name)


@pytest.mark.parametrize("overrides", ABLATIONS, ids=_id)
def test_ablations_fused_equals_plain(overrides):
    model = models.create_model("dynamixer_digits", **overrides)
    _randomise(model)
    _assert_same(model, torch.randn(3, 3, 32, 32), f"dynamixer_digits {overrides}")


@pytest.mark.parametrize("overrides", BLOCK_OVERRIDES, ids=_id)
@pytest.mark.parametrize(
    ("dim", "resolution", "segments"),
    [(16, 8, 4), (32, 4, 4)],
    ids=["folded-projection", "weighted-sum"],
)
def test_block_fused_equals_plain(overrides, dim, resolution, segments):
    """Both combine strategies (64 tokens > K * 16 folds proj; 16 tokens < K * 32 does not)."""
    block = DynaMixerBlock(dim, resolution, segments, **overrides)
    _randomise(block)
    x = torch.randn(3, resolution, resolution, dim, requires_grad=True)
    block.fused = True
    fused = block(x)
    (fused_grad,) = torch.autograd.grad(fused.square().sum(), x)
    block.fused = False
    plain = block(x)
    (plain_grad,) = torch.autograd.grad(plain.square().sum(), x)
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused_grad, plain_grad, atol=1e-4, rtol=1e-4)


def test_block_fused_accepts_strided_tokens():
    """The official skeleton hands blocks an NHWC view of NCHW memory; the fused path copes."""
    block = DynaMixerBlock(16, 8, 4)
    _randomise(block)
    x = torch.randn(2, 16, 8, 8).permute(0, 2, 3, 1)
    assert not x.is_contiguous()
    block.fused = True
    fused = block(x)
    block.fused = False
    torch.testing.assert_close(fused, block(x), atol=1e-5, rtol=1e-5)


def test_full_size_ablation_fused_equals_plain():
    """One ablation at full size, where stage 1 folds the projection and stage 2 does not."""
    torch.manual_seed(0)
    model = models.create_model("dynamixer_s", channel_mixing=False, num_classes=10).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        fused = set_fused(model, True)(x)
        plain = set_fused(model, False)(x)
    assert (fused - plain).abs().max().item() <= LOGIT_TOLERANCE


def test_checkpoints_move_between_paths(tmp_path):
    """A state dict saved from either path loads strictly into the other: same names, shapes."""
    torch.manual_seed(0)
    fused = models.create_model("dynamixer_digits").eval()
    plain = models.create_model("dynamixer_digits", fused=False).eval()
    assert list(fused.state_dict()) == list(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for source, target in ((fused, plain), (plain, fused)):
        _randomise(source)
        path = tmp_path / "checkpoint.pth"
        torch.save(source.state_dict(), path)
        models.load_checkpoint(target, path)
        with torch.inference_mode():
            torch.testing.assert_close(target(x), source(x), atol=1e-6, rtol=1e-5)


def test_switching_paths_at_runtime():
    model = models.create_model("dynamixer_digits")
    blocks = [m for m in model.modules() if isinstance(m, DynaMixerBlock)]
    assert blocks and all(b.fused for b in blocks) and model.contiguous_tokens
    set_fused(model, False)
    assert not any(b.fused for b in blocks) and not model.contiguous_tokens
    assert model.config.fused is False
    with pytest.raises(ValueError, match=r"enabled must be True or False; got 'yes'"):
        set_fused(model, "yes")


def test_fused_is_validated_and_not_part_of_the_architecture():
    with pytest.raises(ValueError, match=r"fused must be True or False; got 1"):
        models.create_model("dynamixer_digits", fused=1)
    assert config_dict("dynamixer_s", fused=False) == config_dict("dynamixer_s")
    assert "fused" not in config_dict("dynamixer_s")


def test_torchscript_runs_the_plain_path():
    """Scripting keeps working; the scripted model computes the plain path's numbers."""
    model = models.create_model("dynamixer_digits").eval()
    _randomise(model)
    x = torch.randn(2, 3, 32, 32)
    scripted = torch.jit.script(model)
    with torch.inference_mode():
        plain = set_fused(model, False)(x)
        torch.testing.assert_close(scripted(x), plain, atol=1e-6, rtol=0)
        torch.testing.assert_close(set_fused(model, True)(x), plain, atol=1e-5, rtol=0)


def test_fx_traces_the_fused_path():
    model = models.create_model("dynamixer_digits").eval()
    _randomise(model)
    graph = torch.fx.symbolic_trace(model)
    assert any(node.target is torch.bmm for node in graph.graph.nodes), "fused path not traced"
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(graph(x), set_fused(model, False)(x), atol=1e-5, rtol=0)
        # The graph casts to the autocast dtype when it runs, not when it was traced.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.testing.assert_close(graph(x), set_fused(model, True)(x), atol=0, rtol=0)


def _bf16_outputs_and_gradients(
    model: torch.nn.Module, x: torch.Tensor, fused: bool | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One training step's output and gradients: under bf16 autocast on the fused (True) or
    plain (False) path, or the fp32 plain path (None) as the reference for both."""
    set_fused(model, bool(fused))
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fused is not None):
        out = model(x)
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out.float() * projection).sum().backward()
    grads = {name: p.grad.detach().float().clone() for name, p in model.named_parameters()}
    return out.detach().float(), grads


def _assert_same_under_bf16(model: torch.nn.Module, x: torch.Tensor, label: str) -> None:
    """Fused and plain under bf16 autocast agree within bf16 tolerance, and the fused path is
    no further from the fp32 computation than the plain path is (outputs and gradients)."""
    reference, reference_grads = _bf16_outputs_and_gradients(model, x, None)
    plain, plain_grads = _bf16_outputs_and_gradients(model, x, False)
    fused, fused_grads = _bf16_outputs_and_gradients(model, x, True)
    scale = plain.abs().max().item()
    gap = (fused - plain).abs().max().item() / scale
    assert gap <= BF16_OUTPUT_TOLERANCE, f"{label}: fused vs plain outputs differ by {gap:.2e}"
    fused_error = (fused - reference).abs().max().item() / scale
    plain_error = (plain - reference).abs().max().item() / scale
    assert fused_error <= 2 * plain_error + 1e-3, (label, fused_error, plain_error)
    for name, plain_grad in plain_grads.items():
        scale = reference_grads[name].abs().max().item() + 1e-12
        gap = (fused_grads[name] - plain_grad).abs().max().item() / scale
        assert gap <= BF16_GRADIENT_TOLERANCE, f"{label}: gradient of {name} differs by {gap:.2e}"
        fused_error = (fused_grads[name] - reference_grads[name]).abs().max().item() / scale
        plain_error = (plain_grad - reference_grads[name]).abs().max().item() / scale
        assert fused_error <= 2 * plain_error + 1e-2, (label, name, fused_error, plain_error)


def test_bf16_autocast_training_step_matches_plain_on_the_digits_model():
    model = models.create_model("dynamixer_digits")
    _randomise(model, std=0.05)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    _assert_same_under_bf16(model, x, "dynamixer_digits")


def test_bf16_autocast_training_step_matches_plain_on_a_dynamixer_s_block():
    """A block of DynaMixer-S's 16x16 stage (14 of its 18 blocks), where the weighted sum is
    not folded into the projection."""
    block = DynaMixerBlock(384, 16, 16)
    _randomise(block, std=0.02)
    x = torch.randn(2, 16, 16, 384, generator=torch.Generator().manual_seed(1))
    _assert_same_under_bf16(block, x, "dynamixer_s 16x16 block")


def _token_casts(block: DynaMixerBlock, x: torch.Tensor, fused: bool) -> int:
    """How many dtype conversions of a whole token tensor one bf16-autocast forward makes."""
    block.fused = fused
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        block(x)  # warm-up: the first call may cast for one-off reasons
        with torch.profiler.profile(record_shapes=True) as profile:
            out = block(x)
    assert out.dtype == torch.bfloat16
    return sum(
        1
        for event in profile.events()
        if event.name == "aten::_to_copy" and math.prod(event.input_shapes[0]) == x.numel()
    )


def test_bf16_fused_block_casts_its_tokens_once():
    """Under autocast the fused path casts the tokens once, on entry, and computes everything
    else in bf16: no fp32 island whose inputs and outputs are cast back and forth."""
    block = DynaMixerBlock(32, 8, 4).eval()
    x = torch.randn(2, 8, 8, 32)
    assert _token_casts(block, x, fused=True) == 1
    assert _token_casts(block, x.bfloat16(), fused=True) == 0
    assert _token_casts(block, x, fused=False) > 1  # the counter sees the plain path's casts


def test_contiguous_tokens_change_no_number_of_vip():
    # The fast-path report times ViP-S/7 with the fused path's token layout and calls its
    # numbers the same: a layout switch, not another model.
    torch.manual_seed(0)
    vip = models.create_model("vip_s7").eval()
    images = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        reference = vip(images)
        vip.contiguous_tokens = True
        assert (vip(images) - reference).abs().max().item() <= 1e-5


def test_softmax_in_its_own_dtype_is_the_fp32_softmax_rounded() -> None:
    """Under bf16 autocast the fused path's mixing weights stay bf16 (on a GPU autocast would
    take them through fp32), and they are the fp32 softmax's weights to bf16's precision; in
    fp32 nothing changes."""
    from models.dynamixer import softmax_in_own_dtype

    logits = (torch.randn(64, 32, 32, generator=torch.Generator().manual_seed(0)) * 4).bfloat16()
    logits = logits.float()  # values bf16 can hold: the only rounding left is the output's
    exact = logits.softmax(dim=-1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weights = softmax_in_own_dtype(logits.bfloat16())
    assert weights.dtype == torch.bfloat16
    torch.testing.assert_close(weights.float(), exact, rtol=8e-3, atol=1e-5)
    torch.testing.assert_close(softmax_in_own_dtype(logits), exact, rtol=0, atol=0)
