"""The TensorBoard side: a loader and the tab's routes over the data provider (see docs/http-api.md).

No torch here (TensorBoard must start on machines without it) and no multiplexer: everything is
read through `context.data_provider`, which serves both `--load_fast` loaders. No kind is named
either: infos are read through infos.read_info, which gives every version today's layout.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tensorboard import errors
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from tensorboard.util import tb_logging
from werkzeug import wrappers

from tb_cnnviz import contract
from tb_cnnviz.tensorboard.align import align_query
from tb_cnnviz.tensorboard.dynamics import dynamics_answer
from tb_cnnviz.tensorboard.infos import InfoCache, StepInfo, Unreadable, read_info
from tb_cnnviz.tensorboard.requests import (
    UnreadableInfoError,
    UnreadablePictureError,
    context,
    int_arg,
    json_answer,
    str_arg,
)
from tb_cnnviz.tensorboard.runs import RunDescriber
from tb_cnnviz.tensorboard.series import series_answer
from tb_cnnviz.tensorboard.static import frontend_dir, read_static
from tb_cnnviz.tensorboard.strips import Frame, channel_strip, check_picture, tile_position

logger = tb_logging.get_logger()

KEEP_EVERY_STEP = 0  # --samples_per_plugin value meaning "no reservoir sampling"
_ALL_STEPS = 1 << 30  # read-time stand-in for "every step": downsample=0 returns nothing
_IMAGE_CACHE_SECONDS = 600  # a logged step never changes
_CONCURRENT_READS = 16
_INFO_CACHE_SIZE = 20_000  # steps' infos kept in memory (a few KB each)
_SKIPPED_HEADER = "X-CNNViz-Skipped-Steps"  # the strip's blank frames of bad steps, by step
_SKIPPED_LISTED = 100  # steps the header names at most


class CNNVizLoader(base_plugin.TBLoader):
    """Makes every logged step visible by default; a user's --samples_per_plugin cnnviz=N wins."""

    def fix_flags(self, flags) -> None:
        flags.samples_per_plugin.setdefault(contract.PLUGIN_NAME, KEEP_EVERY_STEP)

    def load(self, context: base_plugin.TBContext) -> CNNVizPlugin:
        return CNNVizPlugin(context)


class CNNVizPlugin(base_plugin.TBPlugin):
    """Serves the CNN Viz tab and the pictures, infos and series it shows."""

    plugin_name = contract.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._data_provider = context.data_provider
        samples = (context.sampling_hints or {}).get(contract.PLUGIN_NAME, KEEP_EVERY_STEP)
        self._downsample = samples if samples > 0 else _ALL_STEPS
        self._frontend = frontend_dir()
        self._infos = InfoCache(_INFO_CACHE_SIZE, logger)
        self._runs = RunDescriber()
        self._unreadable_blobs: set[str] = set()  # blob keys the data provider failed to read (logged once)
        self._readers = ThreadPoolExecutor(max_workers=_CONCURRENT_READS, thread_name_prefix="cnnviz-read")

    def get_plugin_apps(self) -> dict:
        return {
            "/runs": self._serve_runs,
            "/steps": self._serve_steps,
            "/info": self._serve_info,
            "/image": self._serve_image,
            "/series": self._serve_series,
            "/dynamics": self._serve_dynamics,
            "/strip": self._serve_strip,
            "/align": self._serve_align,
            "/static/*": self._serve_static,
        }

    def is_active(self) -> bool:
        # Only consulted when the data provider found no cnnviz data; nothing more to check.
        return False

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="CNN Viz")

    @wrappers.Request.application
    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        ctx, experiment = context(request)
        listing = self._data_provider.list_blob_sequences(
            ctx, experiment_id=experiment, plugin_name=contract.PLUGIN_NAME
        )
        return json_answer(
            request, {"runs": [self._runs.describe_run(run, tags) for run, tags in sorted(listing.items())]}
        )

    @wrappers.Request.application
    def _serve_steps(self, request: wrappers.Request) -> wrappers.Response:
        series = self._read_series(request)
        steps, wall_times = [datum.step for datum in series], [datum.wall_time for datum in series]
        return json_answer(request, {"steps": steps, "wall_times": wall_times})

    @wrappers.Request.application
    def _serve_info(self, request: wrappers.Request) -> wrappers.Response:
        blobs = self._blobs_at_step(request)
        try:
            if len(blobs) <= contract.INFO_BLOB:
                raise ValueError("the step holds no blobs, so no info")
            info = read_info(self._read(request, blobs[contract.INFO_BLOB]))
            try:
                answer = json.dumps(info, allow_nan=False)
            except ValueError:
                raise ValueError("its info holds NaN or Infinity, which a browser's JSON cannot read") from None
        except ValueError as error:
            raise UnreadableInfoError(f"step {request.args['step']} of this tag: {error}") from None
        return http_util.Respond(request, answer, "application/json", expires=_IMAGE_CACHE_SECONDS)

    @wrappers.Request.application
    def _serve_series(self, request: wrappers.Request) -> wrappers.Response:
        """Every step's chart numbers of a tag, for charts, without fetching each info."""
        series = self._read_series(request)
        rows = self._step_infos(request, series)
        return json_answer(request, series_answer([(datum.step, datum.wall_time) for datum in series], rows))

    @wrappers.Request.application
    def _serve_dynamics(self, request: wrappers.Request) -> wrappers.Response:
        """How the run's layers and channels changed over training (dynamics.py), in one answer for the tab."""
        ctx, experiment = context(request)
        run = str_arg(request, "run")
        reading = {"experiment_id": experiment, "plugin_name": contract.PLUGIN_NAME}
        reading["run_tag_filter"] = provider.RunTagFilter(runs=[run])
        listing = self._data_provider.list_blob_sequences(ctx, **reading)
        if run not in listing:
            raise errors.NotFoundError(f"no CNN Viz data for run {run!r}")
        # Every tag's blob references in one call: one round trip to the data server, not one per tag.
        data = self._data_provider.read_blob_sequences(ctx, downsample=self._downsample, **reading).get(run, {})
        series = {tag: sorted(data[tag], key=lambda datum: datum.step) for tag in data}

        def read_rows(tag: str) -> list:
            rows = self._step_infos(request, series.get(tag, []), f"run {run!r} tag {tag!r}")
            return [(datum.step, row) for datum, row in zip(series.get(tag, []), rows, strict=True)]

        def read_whole_info(tag: str, step: int) -> dict | None:
            datum = next(datum for datum in series[tag] if datum.step == step)  # a step read_rows found readable
            try:
                return read_info(self._read_many(request, [datum.values[contract.INFO_BLOB]])[0])
            except ValueError:
                return None  # the step's row in read_rows said why; the answer falls back to the default

        layers = self._runs.describe_run(run, listing[run])["layers"]
        return json_answer(request, dynamics_answer(run, layers, read_rows, read_whole_info))

    @wrappers.Request.application
    def _serve_strip(self, request: wrappers.Request) -> wrappers.Response:
        """Channel `channel`'s tile from picture `index` at every step, in one PNG (a filmstrip in one request)."""
        channel, index = int_arg(request, "channel"), int_arg(request, "index")
        if index < contract.FIRST_PICTURE_BLOB:
            raise errors.InvalidArgumentError(
                f"index must be >= {contract.FIRST_PICTURE_BLOB} (picture {contract.FIRST_PICTURE_BLOB} is probe 0), "
                f"got {index}"
            )
        series = self._read_series(request)
        rows = self._step_infos(request, series)
        probe = index - contract.FIRST_PICTURE_BLOB
        positions = [
            tile_position(row.channels, channel, probe) if isinstance(row, StepInfo) and index < len(values) else None
            for values, row in zip((datum.values for datum in series), rows, strict=True)
        ]
        if all(position is None for position in positions):
            raise errors.NotFoundError(f"no tile of channel {channel} in image {index} at any step of this tag")
        wanted = [datum.values[index] for datum, at in zip(series, positions, strict=True) if at is not None]
        read = iter(self._read_many(request, wanted))
        frames = [
            Frame(next(read), at, row.grid, row.tile) if at is not None else None
            for row, at in zip(rows, positions, strict=True)
        ]
        png, blank = channel_strip(frames)
        skipped = {
            datum.step: row.reason for datum, row in zip(series, rows, strict=True) if isinstance(row, Unreadable)
        }
        skipped.update({series[frame].step: reason for frame, reason in blank.items()})
        if png is None:
            step, reason = next(iter(sorted(skipped.items())))
            raise UnreadablePictureError(
                f"no step's tile of channel {channel} in image {index} can be read; step {step}: {reason}"
            )
        listed = ",".join(str(step) for step in sorted(skipped)[:_SKIPPED_LISTED])
        return http_util.Respond(request, png, "image/png", headers=[(_SKIPPED_HEADER, listed)] if listed else None)

    @wrappers.Request.application
    def _serve_image(self, request: wrappers.Request) -> wrappers.Response:
        blobs = self._blobs_at_step(request)
        index = int_arg(request, "index")
        if not contract.FIRST_PICTURE_BLOB <= index < len(blobs):
            raise errors.NotFoundError(
                f"index {index} is out of range: this step has images {contract.FIRST_PICTURE_BLOB}..{len(blobs) - 1}"
            )
        picture = self._read(request, blobs[index])
        try:
            check_picture(picture)
        except ValueError as error:
            raise UnreadablePictureError(
                f"picture {index} of step {request.args['step']} of this tag: {error}"
            ) from None
        return http_util.Respond(request, picture, "image/png", expires=_IMAGE_CACHE_SECONDS)

    @wrappers.Request.application
    def _serve_align(self, request: wrappers.Request) -> wrappers.Response:
        """Channels of a feature-maps tag at one step matched to those of another run or step (align.py)."""

        def at_step(run: str, tag: str, step: int) -> list[bytes]:
            return self._read_many(request, list(self._blobs_at_step(request, run, tag, step)))

        def latest(run: str, tag: str) -> list[bytes]:
            series = self._read_series(request, run, tag)
            return self._read_many(request, list(series[-1].values)) if series else []

        return json_answer(request, align_query(request, at_step, latest))

    @wrappers.Request.application
    def _serve_static(self, request: wrappers.Request) -> wrappers.Response:
        content, content_type = read_static(self._frontend, request.path.split("/static/", 1)[-1])
        return http_util.Respond(request, content, content_type)

    def _read_series(self, request: wrappers.Request, run: str | None = None, tag: str | None = None) -> list:
        """The blob sequence of (run, tag), the query's by default, in step order; NotFoundError if it has none."""
        ctx, experiment = context(request)
        run = str_arg(request, "run") if run is None else run
        tag = str_arg(request, "tag") if tag is None else tag
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

    def _blobs_at_step(
        self, request: wrappers.Request, run: str | None = None, tag: str | None = None, step: int | None = None
    ) -> tuple:
        """The blobs of (run, tag) at `step`, the query's by default; NotFoundError naming the logged steps."""
        step = int_arg(request, "step") if step is None else step
        series = self._read_series(request, run, tag)
        for datum in series:
            if datum.step == step:
                return datum.values
        steps = [datum.step for datum in series]
        raise errors.NotFoundError(
            f"step {step}{'' if run is None else f' of run {run!r}'} is not logged; "
            f"logged steps: {steps[:20]}{' ...' if len(steps) > 20 else ''}"
        )

    def _step_infos(self, request: wrappers.Request, series: list, where: str | None = None) -> list:
        """Each step's StepInfo, or Unreadable with the reason; cached, the missing ones read concurrently.

        `where` names the run and tag in warnings (default: the query's).
        """
        infos = [datum.values[contract.INFO_BLOB] for datum in series if len(datum.values) > contract.INFO_BLOB]
        where = where or f"run {request.args.get('run')!r} tag {request.args.get('tag')!r}"
        read = iter(self._infos.get_many(infos, lambda blobs: self._read_many(request, blobs), where))
        empty = Unreadable("the step holds no blobs, so no info")
        return [next(read) if len(datum.values) > contract.INFO_BLOB else empty for datum in series]

    def _read(self, request: wrappers.Request, blob: provider.BlobReference) -> bytes:
        ctx, _ = context(request)
        return self._data_provider.read_blob(ctx, blob_key=blob.blob_key)

    def _read_many(self, request: wrappers.Request, blobs: list[provider.BlobReference]) -> list[bytes]:
        """Blobs in order, read concurrently: each read waits ~40 ms on the data server, not on the CPU.

        A blob the data provider cannot read reads as b"" (neither JSON nor PNG), so it costs its step
        alone; the first failure of each blob is logged.
        """
        ctx, _ = context(request)

        def read(blob: provider.BlobReference) -> bytes:
            try:
                return self._data_provider.read_blob(ctx, blob_key=blob.blob_key)
            except errors.PublicError as error:
                if blob.blob_key not in self._unreadable_blobs:
                    self._unreadable_blobs.add(blob.blob_key)
                    logger.warning("cnnviz: cannot read blob %r: %s", blob.blob_key, error)
                return b""

        return list(self._readers.map(read, blobs))
