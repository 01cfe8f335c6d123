"""The runs route's answer: each run's probes, layers and model-level kinds, from summary metadata alone.

Built without reading a blob; a time series whose metadata this release cannot read is skipped with
one warning per tag (not per request), never hiding the run's other series.
"""

from __future__ import annotations

from tensorboard.util import tb_logging

from tb_cnnviz import contract
from tb_cnnviz.tensorboard import keys

logger = tb_logging.get_logger()


class RunDescriber:
    """describe_run over the data provider's listing, remembering which bad tags it has warned about."""

    def __init__(self) -> None:
        self._warned: set[tuple[str, str, str]] = set()

    def describe_run(self, run: str, tags: dict) -> dict:
        """{run, probes, layers (model order), model} of one run; `tags` maps tag to its BlobSequenceTimeSeries."""
        probes, layers, model_kinds = None, {}, {}
        for tag, series in tags.items():
            try:
                content = _content(series.plugin_content)
            except ValueError as error:
                self._warn_once(run, tag, str(error))
                continue
            kind = content[keys.KIND]
            if kind == contract.PROBES_KIND:
                count, labels = content.get(keys.COUNT), content.get(keys.LABELS)
                probes = {"tag": tag, "step": series.max_step, keys.COUNT: count, keys.LABELS: labels}
            elif content.get(keys.SCOPE) == contract.MODEL_SCOPE:
                model_kinds[kind] = tag
            else:
                layer = layers.setdefault(content[keys.LAYER], _layer(content))
                layer["kinds"][kind] = tag
        ordered = sorted(layers.values(), key=lambda layer: (layer["index"], layer["name"]))
        return {
            "run": run,
            "probes": probes,
            "layers": ordered,
            "model": {"kinds": model_kinds} if model_kinds else None,
        }

    def _warn_once(self, run: str, tag: str, reason: str) -> None:
        if (run, tag, reason) not in self._warned:
            self._warned.add((run, tag, reason))
            logger.warning("cnnviz: skipping run %r tag %r: %s", run, tag, reason)


def _content(plugin_content: bytes) -> contract.Content:
    """The tag's metadata content, checked; a layer's kind must name its layer."""
    content = contract.parse_plugin_content(plugin_content)
    kind, scope = content[keys.KIND], content.get(keys.SCOPE)
    if kind != contract.PROBES_KIND and scope != contract.MODEL_SCOPE and keys.LAYER not in content:
        raise ValueError(f"cnnviz metadata of kind {kind!r} names no {keys.LAYER!r} and no {keys.SCOPE!r} 'model'")
    return content


def _layer(content: contract.Content) -> dict:
    return {
        "name": content[keys.LAYER],
        "index": content.get(keys.LAYER_INDEX, 0),
        "type": content.get(keys.LAYER_TYPE),
        keys.SHAPE: content.get(keys.SHAPE),
        "kinds": {},
    }
