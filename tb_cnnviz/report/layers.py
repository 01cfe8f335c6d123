"""One layer of a run: its dynamics, its health (mean activation, dead channels, as the tab's Layer health
panel computes them) and a filmstrip of a few channels' feature maps for the first probe image."""

from __future__ import annotations

from tb_cnnviz.report.dynamics import layer_dynamics_html, ranked_channels
from tb_cnnviz.report.html_parts import absent, missing, picture, text
from tb_cnnviz.report.numbers import evenly_spaced, format_number, format_percent
from tb_cnnviz.report.routes import RouteError
from tb_cnnviz.report.source import RunSource
from tb_cnnviz.report.svg import line_chart
from tb_cnnviz.report.tiles import cut_tile

FRAMES = 8  # the tab's default filmstrip length (state.js FRAME_COUNTS / DEFAULTS)
CHANNELS = 4  # channels per filmstrip
PROBE = 0  # the first probe image: its atlas is picture 1 of a feature-maps step
FEATURE_MAPS = "feature_maps"
FILTERS = "filters"  # filter images: not per probe, so their atlas is picture 1 too


def layer_html(source: RunSource, layer: dict, dynamics: dict | None, threshold: float | None) -> str:
    """The layer's article; `dynamics` is its entry of the dynamics route (None: none logged), `threshold` the
    run's settle threshold (None: the run has no dynamics at all, which the run's section says once)."""
    shape = "\u00d7".join(str(side) for side in layer.get("shape") or []) or "?"
    heading = f'{text(layer["name"])} <span class="muted">{text(layer.get("type") or "")} {text(shape)}</span>'
    tag = layer["kinds"].get(FEATURE_MAPS)
    body = [layer_dynamics_html(dynamics, threshold)] if threshold is not None else []
    if tag is None:
        body.append(missing(f"Layer {layer['name']}: no feature maps logged, so no health charts and no filmstrip."))
        return _article(layer, heading, body)
    body.append(_health_html(source, layer["name"], tag))
    try:
        channels, why = _strip_channels(source, tag, dynamics)
    except RouteError as error:
        body.append(missing(source.note(f"Layer {layer['name']}: its feature maps cannot be read: {error.reason}")))
        return _article(layer, heading, body)
    caption = f"Feature maps of probe image {PROBE + 1} over training: {why} (grey, each tile its own range)"
    body.append(_filmstrip_html(source, layer["name"], tag, channels, caption))
    filters = layer["kinds"].get(FILTERS)
    if filters is not None:
        body.append(_filmstrip_html(source, layer["name"], filters, channels, "Filter images of the same channels"))
    return _article(layer, heading, body)


def _article(layer: dict, heading: str, body: list[str]) -> str:
    return f'<article class="layer" data-layer="{text(layer["name"])}"><h4>{heading}</h4>{"".join(body)}</article>'


def _health_html(source: RunSource, name: str, tag: str) -> str:
    """Mean activation over channels and the share of dead channels per step (health.js's layerHealth)."""
    try:
        series = source.series(tag)
    except RouteError as error:
        return missing(source.note(f"Layer {name}: its health numbers cannot be read: {error.reason}"))
    for skipped in series.get("skipped", []):
        source.note(f"Layer {name}: feature maps of step {skipped['step']} cannot be read: {skipped['reason']}")
    steps, stats = series["steps"], series["stats"]
    if not steps or "mean" not in stats or "max" not in stats:
        return missing(source.note(f"Layer {name}: no health numbers logged."))
    channels = len(series["channels"])
    means = [_mean([value for value in row if value is not None]) for row in stats["mean"]]
    dead = [sum(1 for value in row if value is not None and value <= 0) for row in stats["max"]]
    shares = [count / channels if channels else None for count in dead]
    now = f"step {steps[-1]}: mean {format_number(means[-1])} · {dead[-1]} of {channels} dead"
    charts = line_chart("Mean activation", steps, means) + line_chart(
        "Dead channels", steps, shares, (0.0, 1.0), format_percent
    )
    return f'<div class="health"><p class="health-now">{text(now)}</p><div class="charts">{charts}</div></div>'


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _strip_channels(source: RunSource, tag: str, dynamics: dict | None) -> tuple[list[int], str]:
    """The filmstrip's channels, and which they are: the highest recent drift, else the first few."""
    ranked = ranked_channels(dynamics, CHANNELS)
    if ranked:
        return ranked, "the channels of highest recent drift"
    return source.series(tag)["channels"][:CHANNELS], f"the first {CHANNELS} channels"


def _filmstrip_html(source: RunSource, name: str, tag: str, channels: list[int], caption: str) -> str:
    """Rows of channels, columns of evenly spaced steps: each frame the tab's filmstrip frame of that step."""
    try:
        shown = evenly_spaced(source.steps(tag), FRAMES)
    except RouteError as error:
        return missing(source.note(f"Layer {name}: {tag} cannot be read: {error.reason}"))
    head = "".join(f'<th scope="col">step {step}</th>' for step in shown)
    rows = "".join(
        f'<tr><th scope="row">channel {text(channel)}</th>'
        + "".join(f"<td>{_frame(source, name, tag, step, channel)}</td>" for step in shown)
        + "</tr>"
        for channel in channels
    )
    return (
        f'<p class="caption">{text(caption)}</p><table class="frames filmstrip" data-tag="{text(tag)}">'
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _frame(source: RunSource, name: str, tag: str, step: int, channel: int) -> str:
    where = {"tag": tag, "step": step, "channel": channel}
    try:
        info = source.info(tag, step)
        atlas = source.image(tag, step, PROBE + 1)
        channels = info["channels"]
        channels = channels[PROBE] if channels and isinstance(channels[0], list) else channels  # one list per probe
        if channel not in channels:
            return absent(f"channel not logged at step {step}", **where)
        tile = cut_tile(atlas, info["tile"], info["grid"], channels.index(channel))
    except RouteError as error:
        reason = error.reason
    except (ValueError, KeyError, TypeError, OSError) as error:
        reason = f"its picture cannot be cut: {error}"
    else:
        return picture(tile, f"{name}, channel {channel}, step {step}", **where)
    source.note(f"Layer {name}: {tag.rsplit('/', 1)[-1].replace('_', ' ')} of step {step} cannot be read: {reason}")
    return absent(f"Step {step} cannot be read", **where)
