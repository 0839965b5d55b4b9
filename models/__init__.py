"""mlp-repro model zoo: DynaMixer beside the models its paper compares, one interface.

DynaMixer (with every ablation of the paper), ResMLP, ViP, AS-MLP, S²-MLPv2 (a reconstruction:
no official code), RaftMLP, sMLPNet, ConvMLP, CycleMLP and Hire-MLP; and the other families of
Tables 3 and 9: PVT, GFNet-H, BoTNet (a reconstruction), T2T-ViT with its ViT-S/16, and
CrossFormer. Each is registered with timm; ``list_models()`` is the only list of names.

Importing this package registers every name with timm, so ``timm.create_model(name)`` and
:func:`create_model` build the same model.
"""

from models.registry import (
    check_model_name,
    computation_note,
    create_model,
    is_mlp,
    is_reconstruction,
    list_models,
)
from models.weights import load_checkpoint

__all__ = [
    "check_model_name",
    "computation_note",
    "create_model",
    "is_mlp",
    "is_reconstruction",
    "list_models",
    "load_checkpoint",
]
