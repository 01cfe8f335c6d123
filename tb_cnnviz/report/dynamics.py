"""The Dynamics view as text: the layer x step heat map of change, and per layer its change curves, the step it
settled at (or "still changing") and its channels ranked by recent drift, all from the `dynamics` route."""

from __future__ import annotations

from tb_cnnviz.report.html_parts import missing, text
from tb_cnnviz.report.numbers import format_number, format_percent
from tb_cnnviz.report.svg import heat_map, line_chart

RANKED = 8  # channels listed per layer, highest recent drift first


def heat_map_html(dynamics: dict) -> str:
    heat = dynamics.get("heat") or {}
    if not heat.get("layers"):
        return ""
    label = "Change since the previous log (1 - CKA), per layer and step"
    chart = heat_map(heat["layers"], heat["steps"], heat["values"], label)
    return f'<figure class="heat"><figcaption>{text(label)}</figcaption>{chart}</figure>'


def settled_text(entry: dict) -> str:
    step = entry.get("settled_step")
    return "still changing" if step is None else f"settled from step {step}"


def layer_dynamics_html(entry: dict | None, threshold: float) -> str:
    """One layer's curves, settled step and ranked channels; a line saying so when the layer has none."""
    if entry is None:
        return missing("No training dynamics logged for this layer.")
    steps, change = entry["steps"], entry["change"]
    previous = [None if value is None else 1 - value for value in change.get("cka_previous", [])]
    charts = [
        line_chart("Change since the previous log (1 - CKA)", steps, previous),
        line_chart("Similarity to the first log (CKA)", steps, change.get("cka_first", []), (0.0, 1.0)),
        line_chart("Dead fraction", steps, change.get("dead_fraction", []), (0.0, 1.0), format_percent),
        line_chart("Channel drift (median)", steps, change.get("drift", [])),
    ]
    similarity = entry.get("similarity")
    if similarity:
        charts.append(line_chart("Filter-image similarity", similarity["steps"], similarity["values"]))
    settled = settled_text(entry)
    why = f"1 - CKA with the previous log below {format_number(threshold)} at every later log"
    return (
        f'<div class="dynamics" data-layer="{text(entry["layer"])}">'
        f'<p class="settled" title="{text(why)}">{text(settled)}</p>'
        f'<div class="charts">{"".join(charts)}</div>{_ranked_html(entry.get("channels", []))}</div>'
    )


def _ranked_html(channels: list[dict]) -> str:
    if not channels:
        return ""
    rows = "".join(
        f"<tr><td>{text(row['channel'])}</td><td>{format_number(row.get('recent_drift'))}</td>"
        f"<td>{format_number(row.get('drift'))}</td><td>{text(settled_text(row))}</td></tr>"
        for row in channels[:RANKED]
    )
    return (
        '<table class="ranked"><caption>Channels ranked by recent drift</caption><thead><tr>'
        '<th scope="col">channel</th><th scope="col">recent drift</th><th scope="col">latest drift</th>'
        f'<th scope="col">settled</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def ranked_channels(entry: dict | None, count: int) -> list[int]:
    """The `count` channels of highest recent drift (those with one), for the filmstrip."""
    if entry is None:
        return []
    return [row["channel"] for row in entry.get("channels", []) if row.get("recent_drift") is not None][:count]
