"""The report page: one section per run (its notes, heat map, layers and model-level views) in the template.

The Content-Security-Policy allows nothing but the inline style (by its hash) and data: pictures, so the page
cannot load anything from anywhere, and runs no script.
"""

from __future__ import annotations

import base64
import hashlib
import string
from importlib import resources

from tb_cnnviz.report.dynamics import heat_map_html
from tb_cnnviz.report.html_parts import missing, text
from tb_cnnviz.report.layers import layer_html
from tb_cnnviz.report.model_views import model_views_html
from tb_cnnviz.report.source import RunSource

DEFAULT_THRESHOLD = 0.05  # spec: the dynamics route's threshold when no info gives one


def run_section(source: RunSource, listing: dict, anchor: str) -> str:
    """A run's section; the pieces it cannot show are listed at its top (source.notes)."""
    dynamics = source.dynamics()
    entries = {entry["layer"]: entry for entry in (dynamics or {}).get("layers", [])}
    threshold = dynamics.get("threshold", DEFAULT_THRESHOLD) if entries else None
    parts = []
    if dynamics is not None and not entries:
        parts.append(missing(source.note('No training dynamics logged in this run (the "dynamics" kind).')))
    elif dynamics is not None:
        for skipped in dynamics.get("skipped", []):
            source.note(f"Dynamics of {skipped['tag']} at step {skipped['step']} cannot be read: {skipped['reason']}")
        parts.append(heat_map_html(dynamics))
    layers = listing.get("layers", [])
    parts.append("<h3>Layers</h3>" if layers else missing(source.note("No layer logged in this run.")))
    parts += [layer_html(source, layer, entries.get(layer["name"]), threshold) for layer in layers]
    parts.append("<h3>Model-level views</h3>")
    parts.append(model_views_html(source, (listing.get("model") or {}).get("kinds", {})))
    notes = "".join(f"<li>{text(note)}</li>" for note in source.notes)
    header = f"<h2>Run {text(source.run)}</h2>"
    if notes:
        summary = f"Left out of this run's report ({len(source.notes)})"
        header += f'<details class="notes" open><summary>{summary}</summary><ul>{notes}</ul></details>'
    return f'<section class="run" id="{anchor}" data-run="{text(source.run)}">{header}{"".join(parts)}</section>'


def page(title: str, summary: str, runs: list[tuple[str, str]], sections: list[str]) -> str:
    """The whole HTML page; `runs` holds (run name, its section's anchor) for the index."""
    style = _read("report.css")
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    index = "".join(f'<li><a href="#{anchor}">{text(run)}</a></li>' for run, anchor in runs)
    return string.Template(_read("template.html")).substitute(
        policy=policy, title=text(title), style=style, summary=text(summary), runs=index, sections="\n".join(sections)
    )


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
