"""Training metrics: an append-only JSONL history, the same numbers as TensorBoard event files, PNG plots."""

from __future__ import annotations

import json
import math
import os
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

EVENT_FILES = "events.out.tfevents.*"  # TensorBoard's names: the Hub shows such files as "Training metrics"


class MetricsFile:
    """Appends one JSON object per line, flushed at once, so a killed run keeps every record so far; every
    numeric value of a record also goes to TensorBoard (TensorBoardLog, beside the file, at the record's
    `step_key`). The one place training records are written: both trainers and the app's runs use it."""

    def __init__(self, path: str | os.PathLike, resume: bool = False, step_key: str = "step"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.step_key = step_key
        self.tensorboard = TensorBoardLog(self.path.parent)
        if not resume:  # a fresh run starts a fresh history, in both
            self.path.write_text("")
            self.tensorboard.clear()

    def append(self, record: Mapping[str, Any]) -> None:
        record = _jsonable(record)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.tensorboard.add(record, self.step_key)

    def truncate_after(self, key: str, value: float) -> None:
        """Drop records whose `key` exceeds `value` (a resumed run rewinds to its checkpoint); TensorBoard
        hides the event files' records past it."""
        from rlcore.checkpoint import atomic_write_bytes

        kept = [r for r in read_metrics(self.path) if r.get(key, -math.inf) <= value]
        atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())
        if key == self.step_key:
            self.tensorboard.purge_after(value)


class TensorBoardLog:
    """TensorBoard event files in `folder` (torch.utils.tensorboard's writer, opened at the first record):
    a record's numeric values as scalars at its step, in one event per record (one protobuf, not one per
    value: ~0.1 ms a record). The writer's thread flushes every FLUSH_SECONDS and at exit."""

    FLUSH_SECONDS = 5

    def __init__(self, folder: Path):
        self.folder = folder
        self._writer = None
        self._purge_step: int | None = None

    def clear(self) -> None:
        for old in self.folder.glob(EVENT_FILES):
            old.unlink()

    def purge_after(self, step: float) -> None:
        """Records of earlier event files past `step` are hidden (SummaryWriter's purge_step: a restart)."""
        self._purge_step = math.floor(step) + 1

    def add(self, record: Mapping[str, Any], step_key: str) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        from rlcore.systems import finite_number

        step = finite_number(record.get(step_key))
        values = [
            Summary.Value(tag=key, simple_value=float(value))
            for key, value in record.items()
            if key != step_key and finite_number(value) is not None
        ]
        if step is None or not values:
            return
        self._open().file_writer.add_summary(Summary(value=values), int(step))

    def _open(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(
                str(self.folder), purge_step=self._purge_step, flush_secs=self.FLUSH_SECONDS
            )
            weakref.finalize(self, self._writer.close)  # flushed when the run's logger goes, or at exit
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _jsonable(record: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in record.items():
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl, each line through the capped JSON reader (checkpoint.parse_json)
    and a JSON object; a line that is not JSON at all (torn: killed mid-write) is skipped, anything else
    (an array, nesting past the cap, a 5,000-digit number) is a CheckpointError naming the file and line."""
    from rlcore.checkpoint import CheckpointError, InvalidJSON, parse_json

    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            record = parse_json(line, f"{path} line {number}")
        except InvalidJSON:
            continue
        if not isinstance(record, dict):
            raise CheckpointError(
                f"{path} line {number}: a training record must be a JSON object, got {type(record).__name__}"
            )
        records.append(record)
    return records


def plot_metrics(
    records: Sequence[Mapping[str, Any]],
    x: str,
    ys: Iterable[str],
    path: str | os.PathLike,
    title: str = "",
    x_label: str = "",
) -> Path:
    """One PNG with a panel per metric in `ys` against `x` (matplotlib, headless); the x axis is titled
    `x_label` (what `x` counts, "iteration"), else `x`."""
    return plot_runs({"": records}, x, ys, path, title=title, x_label=x_label)


def plot_runs(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    x: str,
    ys: Iterable[str],
    path: str | os.PathLike,
    title: str = "",
    x_label: str = "",
) -> Path:
    """Like plot_metrics, with one line per run (label -> records) in every panel, and a legend when the
    runs have labels."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import EngFormatter

    ys = list(ys)
    fig, axes = plt.subplots(1, len(ys), figsize=(4.2 * len(ys), 3.4), squeeze=False)
    for ax, y in zip(axes[0], ys):
        for label, records in runs.items():
            pts = [(r[x], r[y]) for r in records if r.get(x) is not None and r.get(y) is not None]
            if pts:
                ax.plot(*zip(*pts), linewidth=1.2, label=label or None)
        ax.set_title(y)
        ax.set_xlabel(x_label or x)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 700k, not 700000 (steps overlap otherwise)
        ax.grid(alpha=0.3)
    if any(runs) and ys:
        axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def window_means(
    records: Sequence[Mapping[str, Any]], x: str, ys: Iterable[str], width: float
) -> dict[int, dict[str, float]]:
    """The mean of each metric in `ys` over the records whose `x` falls in each window [k * width,
    (k + 1) * width): window index k -> {metric: mean} (a metric with no value in a window is left out)."""
    from rlcore.systems import finite_number

    ys = list(ys)
    sums: dict[int, dict[str, list[float]]] = {}
    for record in records:
        if record.get(x) is None:
            continue
        window = sums.setdefault(int(record[x] // width), {})
        for y in ys:
            if finite_number(record.get(y)) is not None:
                window.setdefault(y, []).append(record[y])
    return {k: {y: sum(v) / len(v) for y, v in window.items()} for k, window in sorted(sums.items())}


def save_figure(fig, path: str | os.PathLike, dpi: int = 90) -> Path:
    """Write a matplotlib figure as a PNG atomically (the one atomic-write helper) and close it."""
    from matplotlib import pyplot as plt

    from rlcore.checkpoint import atomic_path

    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return Path(path)
