"""Infos written by release 1 (metadata version 1), upgraded to today's layout: the one place that knows them.

Release 1 stored each kind's chart numbers under its own keys and the plugin derived them per kind;
since version 2 every info carries them under `series`. The kind names and keys below are frozen
history, spelled as literals on purpose: they must not follow later renames in the contract or registry.
"""

from __future__ import annotations

from collections.abc import Callable

from tb_cnnviz import contract
from tb_cnnviz.tensorboard import keys

LAST_VERSION = 1  # the highest info version this module upgrades


def upgrade_info(info: dict) -> contract.Info:
    """`info` with `series` added from release 1's per-kind keys; ValueError if those keys are malformed."""
    derive = _SERIES_OF_KIND.get(info.get(keys.KIND))
    try:
        series = derive(info) if derive else {}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"version-1 {info.get(keys.KIND)!r} info lacks or garbles the numbers release 1 charted: {error!r}"
        ) from error
    return {**info, keys.SERIES: series}


def _feature_maps(info: dict) -> dict[str, list]:
    stats = info["stats"]  # {name: [per probe [per channel]]}
    return {
        "mean": _over_probes(stats["mean"], _mean),
        "max": _over_probes(stats["max"], max),
        "dead": _over_probes(stats["dead"], _mean),
    }


def _over_probes(per_probe: list[list], combine: Callable[[list[float]], float]) -> list:
    """Combine a (probe, channel) table over probes, skipping nulls; None where a channel has none."""
    columns = zip(*per_probe, strict=True)
    return [_round(combine(values)) if (values := [v for v in column if v is not None]) else None for column in columns]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _round(value: float) -> float:
    return float(f"{value:.5g}")


_SERIES_OF_KIND: dict[str, Callable[[dict], dict[str, list]]] = {
    "feature_maps": _feature_maps,
    "filters": lambda info: {"activation": list(info["activations"])},
    "saliency": lambda info: {"probability": list(info["probabilities"])},
    "grad_cam": lambda info: {"probability": list(info["probabilities"])},
    "class_visualization": lambda info: {
        "probability": list(info["probabilities"]),
        "score": list(info["scores"]),
    },
    "fooling": lambda info: {"steps": list(info["steps"]), "target_probability": list(info["target_probabilities"])},
    # deconv, deconv_top and probes charted nothing.
}
