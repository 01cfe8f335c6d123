"""The one contract between the writer (callback) and the reader (plugin).

Plugin name, tag scheme and the JSON metadata each summary carries. No torch here: TensorBoard
imports this through the plugin on machines that never import torch.
"""

from __future__ import annotations

import json

from tensorboard.compat.proto.summary_pb2 import DATA_CLASS_BLOB_SEQUENCE, SummaryMetadata

PLUGIN_NAME = "cnnviz"

# Bumped when the layout of metadata or info blobs changes; readers accept every version up to
# their own, so logdirs written by an older release keep opening in a newer one.
VERSION = 1

PROBES_TAG = "probes"
PROBES_KIND = "probes"
FEATURE_MAPS = "feature_maps"
FILTERS = "filters"
DECONV = "deconv"
DECONV_TOP = "deconv_top"  # dataset top-9 patches and their projections; logged alongside DECONV
LAYER_KINDS = (FEATURE_MAPS, FILTERS, DECONV)

# Model-level kinds: about the whole classifier, not one layer; logged under "model/<kind>".
SALIENCY = "saliency"
GRAD_CAM = "grad_cam"
CLASS_VISUALIZATION = "class_visualization"
FOOLING = "fooling"
MODEL_KINDS = (SALIENCY, GRAD_CAM, CLASS_VISUALIZATION, FOOLING)
MODEL_SCOPE = "model"


def layer_tag(layer: str, kind: str) -> str:
    """Tag of one layer's time series of one kind, e.g. "features.0/feature_maps"."""
    return f"{layer}/{kind}"


def model_tag(kind: str) -> str:
    """Tag of a model-level kind's time series, e.g. "model/saliency"."""
    return f"{MODEL_SCOPE}/{kind}"


def create_summary_metadata(kind: str, **content) -> SummaryMetadata:
    """Metadata for a blob-sequence summary of `kind`; `content` describes the series."""
    payload = {"version": VERSION, "kind": kind, **content}
    return SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(plugin_name=PLUGIN_NAME, content=json.dumps(payload).encode("utf-8")),
        data_class=DATA_CLASS_BLOB_SEQUENCE,
    )


def parse_plugin_content(content: bytes) -> dict:
    """Metadata content as a dict; ValueError for content this release cannot read."""
    try:
        payload = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cnnviz metadata is not JSON: {error}") from error
    if not isinstance(payload, dict) or "kind" not in payload:
        raise ValueError(f"cnnviz metadata lacks a 'kind': {payload!r}")
    version = payload.get("version", 0)
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(
            f"cnnviz metadata version {version!r} is newer than this release reads ({VERSION}); upgrade tb-cnnviz"
        )
    return payload
