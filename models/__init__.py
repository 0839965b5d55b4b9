"""mlp-repro model zoo: DynaMixer, ViP and ResMLP behind one interface, registered with timm.

``list_models()`` is the only list of names.

Importing this package registers every name with timm, so ``timm.create_model(name)`` and
:func:`create_model` build the same model.
"""

from models.registry import check_model_name, create_model, list_models, load_checkpoint

__all__ = ["check_model_name", "create_model", "list_models", "load_checkpoint"]
