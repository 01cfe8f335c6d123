"""The series route's answer: every step's chart numbers of a tag, by channel, from the infos' generic `series`.

No kind is named here: whatever a kind puts under its infos' `series` is charted.
"""

from __future__ import annotations

from tb_cnnviz.tensorboard import keys
from tb_cnnviz.tensorboard.infos import StepInfo, Unreadable


def series_answer(steps: list[tuple[int, float]], rows: list[StepInfo | Unreadable]) -> dict:
    """{kind, steps, wall_times, channels, stats: {name: [per step [per channel]]}, scalars, skipped}.

    `steps` holds (step, wall time) in step order, `rows` the matching infos. Channels are the last
    readable step's; a step without one of them gets None there. `scalars`: {name: [per step one number
    or None]}, from the infos' `scalars` (one number for the whole tag), None at a step without that name.
    Steps whose info cannot be read are left out and listed under `skipped` with the reason, so they never
    hide the good ones.
    """
    good = [(step, row) for step, row in zip(steps, rows, strict=True) if isinstance(row, StepInfo)]
    channels = good[-1][1].channels if good else []
    # Items that differ per probe share no channel axis to chart along (infos.read_info allows no series then).
    flat = not any(isinstance(item, list) for item in channels)
    names = sorted({name for _, row in good for name in row.series}) if flat else []
    scalar_names = sorted({name for _, row in good for name in row.scalars})
    return {
        keys.KIND: good[-1][1].kind if good else None,
        "steps": [step for (step, _), _ in good],
        "wall_times": [wall_time for (_, wall_time), _ in good],
        keys.CHANNELS: channels,
        "stats": {name: [_by_channel(row, name, channels) for _, row in good] for name in names},
        "scalars": {name: [row.scalars.get(name) for _, row in good] for name in scalar_names},
        "skipped": [
            {"step": step, "reason": row.reason}
            for (step, _), row in zip(steps, rows, strict=True)
            if isinstance(row, Unreadable)
        ],
    }


def _by_channel(row: StepInfo, name: str, channels: list) -> list[float | None]:
    """One step's values of chart `name` in the order of `channels`; None where the step has none."""
    if not row.series.get(name):
        return [None] * len(channels)
    values = dict(zip(row.channels, row.series[name], strict=True))
    return [values.get(channel) for channel in channels]
