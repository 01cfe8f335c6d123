"""The dynamics route's answer: how each layer and channel changed over training, from the dynamics kind's infos.

Pure functions over infos already read (no torch, no data provider), so the plugin's route and the tests
share them. The writer (writer/kinds/dynamics.py) puts per log and layer: scalars cka_previous, cka_first,
dead_fraction and drift (median channel drift), series "drift" per shown channel (1 - the correlation of
its feature maps with the previous log's), and its settle threshold; the filters kind adds a scalar
"similarity" (how alike the layer's filter images are).
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import fmean

from tb_cnnviz.tensorboard.infos import StepInfo, Unreadable

KIND = "dynamics"
FILTERS_KIND = "filters"
CHANGE = ("cka_previous", "cka_first", "dead_fraction", "drift")
DRIFT = "drift"  # the series of per-channel drifts
SIMILARITY = "similarity"
THRESHOLD_KEY = "settle_threshold"
DEFAULT_THRESHOLD = 0.05  # the writer's default, for logs whose infos do not say
RECENT = 3  # a channel's recent drift: the mean of its last this many known drifts

Rows = list[tuple[int, StepInfo | Unreadable]]  # (step, its info) in step order


def settled_step(steps: list[int], changes: list[float | None], threshold: float) -> int | None:
    """The first step from which (itself included) every later change stays below `threshold`; None: still changing.

    A None change (the first log has no previous one; a constant channel has no correlation) neither
    breaks the settled stretch nor starts it: the stretch starts at a known change below the threshold.
    """
    settled = None
    for step, change in zip(reversed(steps), reversed(changes), strict=True):
        if change is None:
            continue
        if change >= threshold:
            break
        settled = step
    return settled


def recent_mean(values: list[float | None], count: int = RECENT) -> float | None:
    """Mean of the last `count` known values; None when none is known."""
    known = [value for value in values if value is not None][-count:]
    return fmean(known) if known else None


def rank_channels(steps: list[int], rows: list[StepInfo], threshold: float) -> list[dict]:
    """Each channel of the last step's info with its drift now, recently and its settled step, most drifting first.

    Channels missing at a step (or its drift None there) count as unknown at that step. Channels with no
    known recent drift go last, in their logged order.
    """
    if not rows or any(isinstance(item, list) for item in rows[-1].channels):
        return []  # no channels, or one list per probe: no channel axis to rank along
    channels = rows[-1].channels
    # A series implies one flat channel list (infos.read_info checks it): one drift per channel.
    by_step = [dict(zip(row.channels, row.series[DRIFT], strict=True)) if DRIFT in row.series else {} for row in rows]
    ranked = []
    for channel in channels:
        drifts = [drifts_at.get(channel) for drifts_at in by_step]
        ranked.append(
            {
                "channel": channel,
                "drift": drifts[-1],
                "recent_drift": recent_mean(drifts),
                "settled_step": settled_step(steps, drifts, threshold),
            }
        )
    ranked.sort(key=lambda entry: (entry["recent_drift"] is None, -(entry["recent_drift"] or 0.0)))
    return ranked


def one_minus(values: list[float | None]) -> list[float | None]:
    return [None if value is None else 1.0 - value for value in values]


def layer_dynamics(layer: dict, rows: Rows, similarity_rows: Rows | None, threshold: float) -> dict:
    """One layer's entry of the answer; `layer` is the runs listing's ({name, kinds}), rows its dynamics tag's."""
    good = [(step, row) for step, row in rows if isinstance(row, StepInfo)]
    steps, infos = [step for step, _ in good], [row for _, row in good]
    change = {name: [row.scalars.get(name) for row in infos] for name in CHANGE}
    return {
        "layer": layer["name"],
        "tag": layer["kinds"][KIND],
        "feature_maps_tag": layer["kinds"].get("feature_maps"),
        "steps": steps,
        "change": change,
        "settled_step": settled_step(steps, one_minus(change["cka_previous"]), threshold),
        "channels": rank_channels(steps, infos, threshold),
        "similarity": _similarity(similarity_rows),
    }


def _similarity(rows: Rows | None) -> dict | None:
    """The filters tag's similarity per readable step that has it; None without a filters tag or any such step."""
    good = [
        (step, row.scalars[SIMILARITY])
        for step, row in rows or []
        if isinstance(row, StepInfo) and SIMILARITY in row.scalars
    ]
    if not good:
        return None
    return {"steps": [step for step, _ in good], "values": [value for _, value in good]}


def heat_map(entries: list[dict]) -> dict:
    """Layers x the union of their steps: 1 - cka_previous, None where a layer has no value at that step."""
    steps = sorted({step for entry in entries for step in entry["steps"]})
    values = []
    for entry in entries:
        at = dict(zip(entry["steps"], one_minus(entry["change"]["cka_previous"]), strict=True))
        values.append([at.get(step) for step in steps])
    return {"layers": [entry["layer"] for entry in entries], "steps": steps, "values": values}


def threshold_of(info: dict | None) -> float:
    """The settle threshold an info names; the default when it names none (or not a positive number)."""
    value = (info or {}).get(THRESHOLD_KEY)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return DEFAULT_THRESHOLD


def dynamics_answer(
    run: str, layers: list[dict], read_rows: Callable[[str], Rows], read_info: Callable[[str, int], dict | None]
) -> dict:
    """The dynamics route's answer for `run` (layers as the runs listing orders them).

    `read_rows(tag)` gives a tag's (step, StepInfo or Unreadable) in step order; `read_info(tag, step)` one
    step's whole info (None if unreadable), asked only for the latest dynamics step, for the threshold.
    """
    logged = [layer for layer in layers if KIND in layer["kinds"]]
    rows = {layer["name"]: read_rows(layer["kinds"][KIND]) for layer in logged}
    latest = max(
        (
            (step, layer["kinds"][KIND])
            for layer in logged
            for step, row in rows[layer["name"]]
            if isinstance(row, StepInfo)
        ),
        default=None,
    )
    threshold = threshold_of(read_info(latest[1], latest[0]) if latest else None)
    entries, skipped = [], []
    for layer in logged:
        filters_tag = layer["kinds"].get(FILTERS_KIND)
        similarity_rows = read_rows(filters_tag) if filters_tag else None
        entries.append(layer_dynamics(layer, rows[layer["name"]], similarity_rows, threshold))
        for tag, tag_rows in ((layer["kinds"][KIND], rows[layer["name"]]), (filters_tag, similarity_rows or [])):
            skipped += [
                {"tag": tag, "step": step, "reason": row.reason}
                for step, row in tag_rows
                if isinstance(row, Unreadable)
            ]
    heat = heat_map(entries)
    return {
        "run": run,
        "threshold": threshold,
        "steps": heat["steps"],
        "layers": entries,
        "heat": heat,
        "skipped": skipped,
    }
