"""The TensorBoard side: a loader, JSON and PNG routes over the data provider, and the tab's files.

No torch here (TensorBoard must start on machines without it) and no multiplexer: everything is
read through `context.data_provider`, which serves both `--load_fast` loaders.
"""

from __future__ import annotations

import json
import mimetypes
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from tensorboard.util import tb_logging
from werkzeug import wrappers

from tb_cnnviz import contract
from tb_cnnviz.tensorboard.step_statistics import channel_statistics
from tb_cnnviz.tensorboard.strips import channel_strip, tile_position

logger = tb_logging.get_logger()

KEEP_EVERY_STEP = 0  # --samples_per_plugin value meaning "no reservoir sampling"
_ALL_STEPS = 1 << 30  # read-time stand-in for "every step": downsample=0 returns nothing
_IMAGE_CACHE_SECONDS = 600
_CONCURRENT_READS = 16
_STATISTICS_CACHE_SIZE = 20_000  # steps' statistics kept in memory (a few KB each)
_STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # one path part of a frontend file
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


class CNNVizLoader(base_plugin.TBLoader):
    """Makes every logged step visible by default; a user's --samples_per_plugin cnnviz=N wins."""

    def fix_flags(self, flags) -> None:
        flags.samples_per_plugin.setdefault(contract.PLUGIN_NAME, KEEP_EVERY_STEP)

    def load(self, context: base_plugin.TBContext) -> CNNVizPlugin:
        return CNNVizPlugin(context)


class CNNVizPlugin(base_plugin.TBPlugin):
    """Serves the CNN Viz tab and the feature maps, probes and statistics it shows."""

    plugin_name = contract.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._data_provider = context.data_provider
        samples = (context.sampling_hints or {}).get(contract.PLUGIN_NAME, KEEP_EVERY_STEP)
        self._downsample = samples if samples > 0 else _ALL_STEPS
        self._frontend = _frontend_dir()
        self._statistics_cache: dict[str, dict] = {}
        self._readers = ThreadPoolExecutor(max_workers=_CONCURRENT_READS, thread_name_prefix="cnnviz-read")

    def get_plugin_apps(self) -> dict:
        return {
            "/runs": self._serve_runs,
            "/steps": self._serve_steps,
            "/info": self._serve_info,
            "/image": self._serve_image,
            "/series": self._serve_series,
            "/strip": self._serve_strip,
            "/static/*": self._serve_static,
        }

    def is_active(self) -> bool:
        # Only consulted when the data provider found no cnnviz data; nothing more to check.
        return False

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="CNN Viz")

    @wrappers.Request.application
    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        ctx, experiment = _context(request)
        listing = self._data_provider.list_blob_sequences(
            ctx, experiment_id=experiment, plugin_name=contract.PLUGIN_NAME
        )
        runs = [_describe_run(run, tags) for run, tags in sorted(listing.items())]
        return _json(request, {"runs": runs})

    @wrappers.Request.application
    def _serve_steps(self, request: wrappers.Request) -> wrappers.Response:
        series = self._series(request)
        return _json(
            request,
            {"steps": [datum.step for datum in series], "wall_times": [datum.wall_time for datum in series]},
        )

    @wrappers.Request.application
    def _serve_info(self, request: wrappers.Request) -> wrappers.Response:
        blobs = self._blobs_at_step(request)
        return http_util.Respond(
            request, self._read(request, blobs[0]), "application/json", expires=_IMAGE_CACHE_SECONDS
        )

    @wrappers.Request.application
    def _serve_series(self, request: wrappers.Request) -> wrappers.Response:
        """Per-channel statistics of every step of a tag, for charts, without fetching each info."""
        series = self._series(request)
        rows = self._steps_statistics(request, [datum.values[0] for datum in series])
        channels = rows[-1]["channels"] if rows else []
        names = sorted({name for row in rows for name in row["stats"]})
        stats = {name: [_by_channel(row, name, channels) for row in rows] for name in names}
        payload = {
            "kind": rows[-1]["kind"] if rows else None,
            "steps": [datum.step for datum in series],
            "wall_times": [datum.wall_time for datum in series],
            "channels": channels,
            "stats": stats,
        }
        return _json(request, payload)

    @wrappers.Request.application
    def _serve_strip(self, request: wrappers.Request) -> wrappers.Response:
        """Channel `channel`'s tile from image `index` at every step, in one PNG (a filmstrip in one request)."""
        channel, index = _int_arg(request, "channel"), _int_arg(request, "index")
        if index < 1:
            raise errors.InvalidArgumentError(f"index must be >= 1 (image 1 is probe 0), got {index}")
        series = self._series(request)
        rows = self._steps_statistics(request, [datum.values[0] for datum in series])
        positions = [
            tile_position(row["channels"], channel, index - 1) if index < len(datum.values) else None
            for datum, row in zip(series, rows, strict=True)
        ]
        if all(position is None for position in positions):
            raise errors.NotFoundError(f"no tile of channel {channel} in image {index} at any step of this tag")
        wanted = [
            datum.values[index] for datum, position in zip(series, positions, strict=True) if position is not None
        ]
        read = iter(self._read_many(request, wanted))
        atlases = [next(read) if position is not None else None for position in positions]
        strip = channel_strip(atlases, positions, rows[-1]["grid"], rows[-1]["tile"])
        return http_util.Respond(request, strip, "image/png")

    @wrappers.Request.application
    def _serve_image(self, request: wrappers.Request) -> wrappers.Response:
        blobs = self._blobs_at_step(request)
        index = _int_arg(request, "index")
        if not 1 <= index < len(blobs):
            raise errors.NotFoundError(f"index {index} is out of range: this step has images 1..{len(blobs) - 1}")
        return http_util.Respond(request, self._read(request, blobs[index]), "image/png", expires=_IMAGE_CACHE_SECONDS)

    @wrappers.Request.application
    def _serve_static(self, request: wrappers.Request) -> wrappers.Response:
        name = request.path.split("/static/", 1)[-1]
        # Only plain names inside the frontend folder (kinds/ included): no "..", no hidden files,
        # no absolute paths, no backslashes.
        parts = name.split("/")
        if not all(_STATIC_NAME.fullmatch(part) for part in parts):
            raise errors.NotFoundError(f"no frontend file {name!r}")
        file = self._frontend.joinpath(*parts)
        if not file.is_file():
            raise errors.NotFoundError(f"no frontend file {name!r}")
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        content_type = _STATIC_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return http_util.Respond(request, file.read_bytes(), content_type)

    def _series(self, request: wrappers.Request) -> list:
        ctx, experiment = _context(request)
        run, tag = _str_arg(request, "run"), _str_arg(request, "tag")
        data = self._data_provider.read_blob_sequences(
            ctx,
            experiment_id=experiment,
            plugin_name=contract.PLUGIN_NAME,
            downsample=self._downsample,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        series = data.get(run, {}).get(tag)
        if series is None:
            raise errors.NotFoundError(f"no CNN Viz data for run {run!r}, tag {tag!r}")
        return sorted(series, key=lambda datum: datum.step)

    def _blobs_at_step(self, request: wrappers.Request) -> tuple:
        step = _int_arg(request, "step")
        series = self._series(request)
        for datum in series:
            if datum.step == step:
                return datum.values
        steps = [datum.step for datum in series]
        raise errors.NotFoundError(
            f"step {step} is not logged; logged steps: {steps[:20]}{' ...' if len(steps) > 20 else ''}"
        )

    def _steps_statistics(self, request: wrappers.Request, blobs: list[provider.BlobReference]) -> list[dict]:
        """Each step's kind, channels, layout and per-channel statistics from its info blob.

        Cached, since a logged step never changes; the missing ones are read concurrently.
        """
        missing = [blob for blob in blobs if blob.blob_key not in self._statistics_cache]
        for blob, content in zip(missing, self._read_many(request, missing), strict=True):
            info = json.loads(content)
            if len(self._statistics_cache) >= _STATISTICS_CACHE_SIZE:
                self._statistics_cache.pop(next(iter(self._statistics_cache)))
            self._statistics_cache[blob.blob_key] = {
                "kind": info.get("kind"),
                "channels": info.get("channels", []),
                "grid": info.get("grid"),
                "tile": info.get("tile"),
                "stats": channel_statistics(info),
            }
        return [self._statistics_cache[blob.blob_key] for blob in blobs]

    def _read(self, request: wrappers.Request, blob: provider.BlobReference) -> bytes:
        ctx, _ = _context(request)
        return self._data_provider.read_blob(ctx, blob_key=blob.blob_key)

    def _read_many(self, request: wrappers.Request, blobs: list[provider.BlobReference]) -> list[bytes]:
        """Blobs in order, read concurrently: each read waits ~40 ms on the data server, not on the CPU."""
        ctx, _ = _context(request)
        return list(self._readers.map(lambda blob: self._data_provider.read_blob(ctx, blob_key=blob.blob_key), blobs))


def _frontend_dir() -> Path:
    """The tab's files: installed beside this module, or the checkout's frontend/ (editable install)."""
    package = Path(__file__).resolve().parent.parent
    installed, checkout = package / "frontend", package.parent / "frontend"
    return installed if installed.is_dir() else checkout


def _by_channel(row: dict, name: str, channels: list[int]) -> list:
    """One step's values of statistic `name` in the order of `channels`; None where it has none."""
    values = dict(zip(row["channels"], row["stats"].get(name, []), strict=False))
    return [values.get(channel) for channel in channels]


def _describe_run(run: str, tags: dict) -> dict:
    """One run's probes, layers (model order) and model-level kinds from the metadata of its time series."""
    probes, layers, model_kinds = None, {}, {}
    for tag, series in tags.items():
        try:
            content = contract.parse_plugin_content(series.plugin_content)
        except ValueError as error:
            logger.warning("cnnviz: skipping run %r tag %r: %s", run, tag, error)
            continue
        if content["kind"] == contract.PROBES_KIND:
            probes = {
                "tag": tag,
                "step": series.max_step,
                "count": content.get("count"),
                "labels": content.get("labels"),
            }
            continue
        if content.get("scope") == contract.MODEL_SCOPE:
            model_kinds[content["kind"]] = tag
            continue
        name = content.get("layer")
        layer = layers.setdefault(
            name,
            {
                "name": name,
                "index": content.get("layer_index", 0),
                "type": content.get("layer_type"),
                "shape": content.get("shape"),
                "kinds": {},
            },
        )
        layer["kinds"][content["kind"]] = tag
    ordered = sorted(layers.values(), key=lambda layer: (layer["index"], str(layer["name"])))
    model = {"kinds": model_kinds} if model_kinds else None
    return {"run": run, "probes": probes, "layers": ordered, "model": model}


def _context(request: wrappers.Request) -> tuple:
    """(request context, experiment id) that every data-provider call takes."""
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def _str_arg(request: wrappers.Request, name: str) -> str:
    value = request.args.get(name)
    if value is None:
        raise errors.InvalidArgumentError(f"missing query parameter {name!r}")
    return value


def _int_arg(request: wrappers.Request, name: str) -> int:
    value = _str_arg(request, name)
    try:
        return int(value)
    except ValueError:
        raise errors.InvalidArgumentError(f"query parameter {name!r} must be an integer, got {value!r}") from None


def _json(request: wrappers.Request, payload: dict) -> wrappers.Response:
    return http_util.Respond(request, json.dumps(payload), "application/json")
