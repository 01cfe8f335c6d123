"""The runs route's answer: each run's probes, layers and model-level kinds, from summary metadata alone.

Built without reading a blob; a time series whose metadata this release cannot read is skipped with a
warning, never hiding the run's other series.
"""

from __future__ import annotations

from tensorboard.util import tb_logging

from tb_cnnviz import contract
from tb_cnnviz.tensorboard import keys

logger = tb_logging.get_logger()


def describe_run(run: str, tags: dict) -> dict:
    """{run, probes, layers (model order), model} of one run; `tags` maps tag to its BlobSequenceTimeSeries."""
    probes, layers, model_kinds = None, {}, {}
    for tag, series in tags.items():
        try:
            content = contract.parse_plugin_content(series.plugin_content)
        except ValueError as error:
            logger.warning("cnnviz: skipping run %r tag %r: %s", run, tag, error)
            continue
        kind = content[keys.KIND]
        if kind == contract.PROBES_KIND:
            count, labels = content.get(keys.COUNT), content.get(keys.LABELS)
            probes = {"tag": tag, "step": series.max_step, keys.COUNT: count, keys.LABELS: labels}
        elif content.get(keys.SCOPE) == contract.MODEL_SCOPE:
            model_kinds[kind] = tag
        else:
            name = content.get(keys.LAYER)
            layer = layers.setdefault(name, _layer(content))
            layer["kinds"][kind] = tag
    ordered = sorted(layers.values(), key=lambda layer: (layer["index"], str(layer["name"])))
    return {"run": run, "probes": probes, "layers": ordered, "model": {"kinds": model_kinds} if model_kinds else None}


def _layer(content: contract.Content) -> dict:
    return {
        "name": content.get(keys.LAYER),
        "index": content.get(keys.LAYER_INDEX, 0),
        "type": content.get(keys.LAYER_TYPE),
        keys.SHAPE: content.get(keys.SHAPE),
        "kinds": {},
    }
