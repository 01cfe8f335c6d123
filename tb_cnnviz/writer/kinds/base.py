"""What a kind is: typed options (a dataclass), what it checks and fixes, and how it turns a step into records.

A kind's module subclasses LayerKind (logged for every chosen layer, tag "<layer>/<kind>") or ModelKind
(logged once per step, tag "model/<kind>"), and its registry line makes it loggable by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar

from tb_cnnviz import contract

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import LayerContext, StepContext
    from tb_cnnviz.writer.probes import Probes
    from tb_cnnviz.writer.record import Record

LAYER_SCOPE = "layer"


class _OptionsChecked(type):
    """Makes `Filters(stepz=8)` say which options exist, not only that one does not."""

    def __call__(cls, *args, **options):
        known = [option.name for option in fields(cls) if option.init]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(f"{cls.__name__} takes no option {unknown}; its options are {known}")
        return super().__call__(*args, **options)


@dataclass
class Kind(metaclass=_OptionsChecked):
    """Options of one kind; `every`: log at every n-th log of the callback (the first log always logs)."""

    name: ClassVar[str]
    scope: ClassVar[str]
    made_by_name: ClassVar[bool] = True  # False: a required option (data) has no default, so a name is not enough
    every: int = field(default=1, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(
                f"{type(self).__name__} every must be an int >= 1 (log at every n-th log), got {self.every!r}"
            )

    @property
    def title(self) -> str:
        """What a warning calls the kind ("filter images of 'conv1' not logged: ..."); a class may say better."""
        return self.name.replace("_", " ")

    def attach(self, model, probes: Probes) -> None:
        """Check the options against the model when the callback is made, so mistakes fail there."""

    def fix(self, context: StepContext) -> None:
        """Fix, at the first log, what must stay the same at every step so steps compare."""

    def is_due(self, log_count: int) -> bool:
        """Whether the callback's `log_count`-th log (from 0) logs this kind."""
        return log_count % self.every == 0


@dataclass
class LayerKind(Kind):
    """A kind logged for each chosen layer from its feature maps; records go under "<layer>/<record kind>"."""

    scope: ClassVar[str] = LAYER_SCOPE

    def records(self, context: LayerContext) -> Iterator[Record]:
        raise NotImplementedError


@dataclass
class ModelKind(Kind):
    """A kind about the whole model (a classifier's decision); records go under "model/<record kind>"."""

    scope: ClassVar[str] = contract.MODEL_SCOPE

    def records(self, context: StepContext) -> Iterator[Record]:
        raise NotImplementedError
