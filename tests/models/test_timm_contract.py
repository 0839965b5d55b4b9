"""Two checks of timm 1.0.31's own test_model_default_cfgs that every zoo model must pass.

``reset_classifier`` builds the new head where and as the model is: timm casts a model (to
float64, on the meta device), resets its head and expects every parameter in the model's dtype
and on its device, and every module in the model's train/eval mode. And a model cast to
bfloat16 after a forward runs on bfloat16 input and returns bfloat16. Both run on the meta device
(shapes and dtypes only, as timm's test runs them) for one model of each family and model class;
the bfloat16 forward also with real numbers on each family's smallest model.
"""

from __future__ import annotations

import pytest
import torch

import models
from benchmarks.counting import skip_meta_init
from tests.models.conftest import built_on_meta, input_for, representatives


def _one_per_model_class() -> list[str]:
    """Each family's smallest model, then the first name of any other model class in a family
    (T2T-ViT's family holds timm's VisionTransformer beside T2TViT)."""
    chosen: dict[tuple[str, type], str] = {}
    for name in [*representatives(), *models.list_models()]:
        key = (models.registry.family_of(name), type(built_on_meta(name)))
        chosen.setdefault(key, name)
    return list(chosen.values())


CLASSES = _one_per_model_class()


def _fresh_on_meta(name: str) -> torch.nn.Module:
    """A model of its own (these tests cast it), on the meta device."""
    with skip_meta_init(), torch.device("meta"):
        return models.create_model(name)


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_reset_classifier_makes_the_head_where_and_as_the_model_is(name, training):
    model = _fresh_on_meta(name).to(dtype=torch.float64).train(training)
    model.reset_classifier(0)
    model.reset_classifier(5)
    assert model.num_classes == 5
    head = list(model.get_classifier().parameters())
    assert head, f"{name}: reset_classifier(5) made a head without parameters"
    assert {(p.device.type, p.dtype) for p in head} == {("meta", torch.float64)}
    wrong_mode = [n for n, m in model.named_modules() if m.training != training]
    assert not wrong_mode, f"{name}: modules not in the model's mode: {wrong_mode[:5]}"


@pytest.mark.parametrize("name", CLASSES)
def test_bfloat16_forward_after_a_float32_one_on_meta(name):
    """timm's _assert_dtype_change_after_forward: cast after a forward, run bf16 input."""
    model = _fresh_on_meta(name).eval()
    x = torch.empty(2, *model.pretrained_cfg["input_size"], device="meta")
    model(x)
    out = model.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (2, model.num_classes)


@pytest.mark.parametrize("name", representatives())
def test_bfloat16_model_computes_finite_bfloat16_logits(name):
    torch.manual_seed(0)
    model = models.create_model(name).eval()
    model.reset_classifier(7)  # a head of nonzero weights (ResMLP builds its own at zero)
    x = input_for(model)
    with torch.inference_mode():
        reference = model(x)
        out = model.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and out.shape == (1, 7)
    assert torch.isfinite(out).all()
    # bf16 keeps 8 significant bits: the logits follow the fp32 ones (about 1% apart here).
    assert (out.float() - reference).abs().max() < 0.1 * reference.abs().max()
