"""Per-channel numbers of one step's info, aggregated over probes, for charts across steps.

Plain Python on the info dicts the writer stored: the plugin imports this, so no torch here.
"""

from __future__ import annotations

from tb_cnnviz import contract


def channel_statistics(info: dict) -> dict[str, list]:
    """{name: [one number per channel]} of a step; None where the logged value was non-finite."""
    if info.get("kind") == contract.FEATURE_MAPS:
        stats = info["stats"]
        return {
            "mean": _over_probes(stats["mean"], _mean),
            "max": _over_probes(stats["max"], max),
            "dead": _over_probes(stats["dead"], _mean),
        }
    if info.get("kind") == contract.FILTERS:
        return {"activation": list(info["activations"])}
    if info.get("kind") in (contract.SALIENCY, contract.GRAD_CAM):
        return {"probability": list(info["probabilities"])}
    if info.get("kind") == contract.CLASS_VISUALIZATION:
        return {"probability": list(info["probabilities"]), "score": list(info["scores"])}
    if info.get("kind") == contract.FOOLING:
        return {"steps": list(info["steps"]), "target_probability": list(info["target_probabilities"])}
    return {}


def _over_probes(per_probe: list[list], combine) -> list:
    """Combine a (probe, channel) table over probes, skipping nulls; None where a channel has none."""
    columns = zip(*per_probe, strict=True)
    return [_round(combine(values)) if (values := [v for v in column if v is not None]) else None for column in columns]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _round(value: float) -> float:
    return float(f"{value:.5g}")
