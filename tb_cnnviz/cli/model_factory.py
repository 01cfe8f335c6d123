"""Build the user's model from a 'pkg.module:factory' path, as the command line names it."""

from __future__ import annotations

import difflib
import importlib
import inspect

from torch import nn


class FactoryError(ValueError):
    """A factory path that does not lead to a model; the message says which part failed."""


def build_model(path: str) -> nn.Module:
    """Import `pkg.module`, look up `factory` (dots allowed: 'module:Class.create') and call it with no arguments."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise FactoryError(
            f"--model {path!r} is not a factory path; write 'pkg.module:factory', e.g. 'demo_training.model:FashionCNN'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name + ".").startswith(error.name + "."):
            raise FactoryError(
                f"--model {path!r}: no module named {error.name!r} (run from the folder that holds it, or install it)"
            ) from error
        raise FactoryError(f"--model {path!r}: importing {module_name!r} failed: {error}") from error
    except Exception as error:
        raise FactoryError(
            f"--model {path!r}: importing {module_name!r} failed: {type(error).__name__}: {error}"
        ) from error

    factory = module
    for part in attribute.split("."):
        if not hasattr(factory, part):
            raise FactoryError(f"--model {path!r}: {module_name} has no {attribute!r}{_suggestion(module, part)}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise FactoryError(
            f"--model {path!r}: {attribute} is a {type(factory).__name__}, not a callable that builds a model"
        )
    try:
        model = factory()
    except Exception as error:
        raise FactoryError(
            f"--model {path!r}: calling {attribute}() failed: {type(error).__name__}: {error} "
            "(the factory is called without arguments)"
        ) from error
    if not isinstance(model, nn.Module):
        raise FactoryError(f"--model {path!r}: {attribute}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _suggestion(module, name: str) -> str:
    callables = [
        key
        for key, value in vars(module).items()
        if not key.startswith("_") and callable(value) and not inspect.ismodule(value)
    ]
    closest = difflib.get_close_matches(name, callables, n=3, cutoff=0.4)
    return f"; did you mean {', '.join(closest)}?" if closest else ""
