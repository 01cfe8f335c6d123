"""The model-level views over steps (saliency, Grad-CAM, class images, fooling): per view, one row of tiles per
shown step, each tile cut from the step's atlas as the tab cuts it, with the caption the tab writes under it."""

from __future__ import annotations

from tb_cnnviz.report.html_parts import absent, missing, picture, text
from tb_cnnviz.report.numbers import evenly_spaced, format_percent
from tb_cnnviz.report.routes import RouteError
from tb_cnnviz.report.source import RunSource
from tb_cnnviz.report.tiles import cut_tile

FRAMES = 8  # the tab's default filmstrip length (state.js)
LABELS = {  # the tab's names of the kinds (frontend/kinds/*.js)
    "saliency": "Saliency",
    "grad_cam": "Grad-CAM",
    "class_visualization": "Class images",
    "fooling": "Fooling images",
}
_PROBE_KINDS = ("saliency", "grad_cam", "fooling")


def model_views_html(source: RunSource, kinds: dict[str, str]) -> str:
    """Every logged model-level kind (`kinds`: kind -> tag), in the tab's order, then any other."""
    if not kinds:
        views = "saliency, Grad-CAM, class images, fooling"
        return missing(source.note(f"No model-level views logged in this run ({views})."))
    ordered = [kind for kind in LABELS if kind in kinds] + sorted(kind for kind in kinds if kind not in LABELS)
    return "".join(_kind_html(source, kind, kinds[kind]) for kind in ordered)


def _kind_html(source: RunSource, kind: str, tag: str) -> str:
    label = LABELS.get(kind, kind)
    try:
        shown = evenly_spaced(source.steps(tag), FRAMES)
    except RouteError as error:
        return missing(source.note(f"{label}: its steps cannot be read: {error.reason}"))
    rows, names = [], []
    for step in shown:
        cells, step_names = _step_cells(source, kind, tag, step)
        rows.append(f'<tr><th scope="row">step {step}</th>{cells}</tr>')
        names = step_names or names
    head = "".join(f'<th scope="col">{text(name)}</th>' for name in names)
    return (
        f'<figure class="model-view" data-kind="{text(kind)}"><figcaption>{text(label)}</figcaption>'
        f'<table class="frames"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></figure>'
    )


def _step_cells(source: RunSource, kind: str, tag: str, step: int) -> tuple[str, list[str]]:
    """(the step's cells, its items' names); one cell saying why when the step cannot be read."""
    try:
        info = source.info(tag, step)
        atlas = source.image(tag, step, 1)
        cells, names = [], []
        for position, item in enumerate(info["channels"]):
            name = item_name(kind, info, item)
            tile = cut_tile(atlas, info["tile"], info["grid"], position)
            image = picture(tile, f"{name}, step {step}", tag=tag, step=step, position=position)
            words = text(caption(kind, info, position))
            cells.append(f"<td><figure>{image}<figcaption>{words}</figcaption></figure></td>")
            names.append(name)
        return "".join(cells), names
    except RouteError as error:
        reason = error.reason
    except (ValueError, KeyError, TypeError, OSError) as error:
        reason = f"its picture cannot be cut: {error}"
    message = source.note(f"{LABELS.get(kind, kind)}: step {step} cannot be read: {reason}")
    return f'<td colspan="99">{absent(message, step=step)}</td>', []


def item_name(kind: str, info: dict, item: int) -> str:
    """A tile's name as the tab labels it: the probe's label, or the class's name."""
    if kind in _PROBE_KINDS:
        labels = info.get("labels") or []
        return labels[item] if item < len(labels) else f"Probe {item + 1}"
    if kind == "class_visualization":
        return class_name(info, item)
    return str(item)


def class_name(info: dict, index: int) -> str:
    names = info.get("class_names") or []
    return names[index] if index is not None and index < len(names) else f"class {index}"


def caption(kind: str, info: dict, position: int) -> str:
    """The caption the tab writes under a tile (frontend/kinds/*.js), or "" when the info lacks its numbers."""
    try:
        return _caption(kind, info, position)
    except (KeyError, IndexError, TypeError):
        return ""


def _caption(kind: str, info: dict, position: int) -> str:
    if kind in ("saliency", "grad_cam"):
        return f"{class_name(info, info['predicted'][position])} {format_percent(info['probabilities'][position])}"
    if kind == "class_visualization":
        return format_percent(info["probabilities"][position])
    if kind == "fooling":
        probability = format_percent(info["target_probabilities"][position])
        target = f"{class_name(info, info['targets'][position])} {probability}"
        if not info["succeeded"][position]:
            return f"not fooled · {target}"
        steps = info["steps"][position]
        return f"already {target}" if steps == 0 else f"→ {target} · {steps} step{'' if steps == 1 else 's'}"
    return ""
