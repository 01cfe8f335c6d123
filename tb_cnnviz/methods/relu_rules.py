"""Backward rules for rectifiers (deconvnet, guided backprop), swapped in wherever a ReLU is called.

Deconvnet (Zeiler & Fergus 2014) and guided backprop (Springenberg 2015) are the gradient of a unit
with every ReLU's backward replaced: relu(grad_output) for deconvnet, relu(grad_output) * (input > 0)
for guided. Hooks on nn.ReLU modules (Captum's way) miss ReLUs called as functions inside forward()
(F.relu, torch.relu, Tensor.relu_). A torch-function mode sees every such call, whichever form, and
routes it through an autograd Function whose forward is the original call (in place when the call is)
and whose backward is the rule. Leaving the `with` block pops the mode, also on error; the model itself
is never touched.

Other activations, by family:
- rectifier-like (LeakyReLU, ReLU6/Hardtanh, ELU, SELU, CELU, GELU, SiLU, Mish, Hardswish, Softplus)
  are treated as the ReLU they smooth: deconvnet passes relu(grad_output), ignoring the forward as it
  does for ReLU; guided passes relu(grad_output) * max(f'(input), 0), which is exactly guided backprop
  for a ReLU and keeps only positive signal through positive slopes for the others;
- gates (Sigmoid, Hardsigmoid, Tanh, as in squeeze-and-excitation) keep their ordinary gradient.
Not recognized: rectifiers written as other ops (clamp(min=0), maximum(x, 0), x * (x > 0)) and code that
does not run through Python's torch functions (TorchScript). They keep their ordinary gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

RULES = ("deconvnet", "guided")
# For receptive-field probes: every activation and gate passes the gradient unchanged, so no unit's
# dependence on the input is hidden by a dead ReLU or a saturated gate.
PASS_THROUGH = "pass_through"


def _functions(*candidates: object) -> set[Callable]:
    """The callables that exist in this torch version (some live only in torch._C._nn)."""
    return {candidate for candidate in candidates if candidate is not None}


def _nn(name: str) -> Callable | None:
    return getattr(torch._C._nn, name, None)


_RELU = _functions(F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_)
_RECTIFIER_LIKE = _functions(
    F.leaky_relu, _nn("leaky_relu"), _nn("leaky_relu_"),
    F.relu6, _nn("relu6"), _nn("relu6_"), F.hardtanh, _nn("hardtanh"), _nn("hardtanh_"),
    F.elu, _nn("elu"), _nn("elu_"), F.selu, torch.selu, torch.selu_, F.celu, torch.celu, torch.celu_,
    F.gelu, F.silu, _nn("silu"), _nn("silu_"), F.mish, _nn("mish"), _nn("mish_"),
    F.hardswish, _nn("hardswish"), _nn("hardswish_"), F.softplus,
)  # fmt: skip
_GATES = _functions(
    torch.sigmoid, torch.sigmoid_, torch.Tensor.sigmoid, torch.Tensor.sigmoid_, F.sigmoid,
    F.hardsigmoid, _nn("hardsigmoid"), _nn("hardsigmoid_"),
    torch.tanh, torch.tanh_, torch.Tensor.tanh, torch.Tensor.tanh_, F.tanh,
)  # fmt: skip


def _family(func: Callable) -> str | None:
    if func in _RELU:
        return "relu"
    if func in _RECTIFIER_LIKE:
        return "rectifier"
    if func in _GATES:
        return "gate"
    return None


class _RuleActivation(torch.autograd.Function):
    """Forward: the original activation call. Backward: the rule instead of its derivative."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, call: tuple, rule: str) -> torch.Tensor:
        func, rest, kwargs, family = call
        gate = _positive_slope(func, family, x, rest, kwargs) if rule == "guided" else None
        output = func(x, *rest, **kwargs)
        if output is x:  # an in-place call: the caller may rely on the mutation
            ctx.mark_dirty(x)
        ctx.rule = rule
        ctx.save_for_backward(gate)
        return output

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        if ctx.rule == PASS_THROUGH:
            return grad_output, None, None
        rectified = grad_output.clamp(min=0)
        if ctx.rule == "guided":
            (gate,) = ctx.saved_tensors
            rectified = rectified * gate
        return rectified, None, None


def _positive_slope(func: Callable, family: str, x: torch.Tensor, rest: tuple, kwargs: dict) -> torch.Tensor:
    """max(f'(x), 0), taken before an in-place call overwrites x; for ReLU simply x > 0."""
    if family == "relu":
        return x > 0
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        output = func(leaf.clone(), *rest, **kwargs)  # the clone absorbs an in-place call
        (slope,) = torch.autograd.grad(output, leaf, torch.ones_like(output))
    return slope.clamp(min=0)


class _ActivationRuleMode(TorchFunctionMode):
    """Routes every recognized activation call of the forward pass through `_RuleActivation`."""

    def __init__(self, rule: str) -> None:
        super().__init__()
        self.rule = rule

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        family = _family(func)
        if args:
            x, rest = args[0], tuple(args[1:])
        else:
            x, rest = kwargs.pop("input", None), ()
        applies = family in ("relu", "rectifier") or (family == "gate" and self.rule == PASS_THROUGH)
        if not (applies and isinstance(x, torch.Tensor) and x.requires_grad and torch.is_grad_enabled()):
            if not args and x is not None:
                kwargs["input"] = x
            return func(*args, **kwargs)
        return _RuleActivation.apply(x, (func, rest, kwargs, family), self.rule)


@contextmanager
def backward_rule(rule: str) -> Iterator[None]:
    """Within this block, activations called in a forward pass get `rule`'s backward ("deconvnet", "guided").

    Only the forward pass needs to run inside; the backward may run after the block.
    """
    if rule not in (*RULES, PASS_THROUGH):
        raise ValueError(f"unknown rule {rule!r}; choose one of {list(RULES)}")
    with _ActivationRuleMode(rule):
        yield
