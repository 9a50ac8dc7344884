"""Small helpers the tabs share: readable refusals, figure tables, trace plots."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import gradio as gr
import pandas as pd

from rlcore.checkpoint import CheckpointError, one_line
from rlcore.hub import HubError
from rlcore.profile import PlayControl, profile_of
from rlcore.systems import System, all_systems

SIDES = ("left", "right")  # the two agents of a comparison, as placed in the video
SIDE_COLOURS = {"left": "#f97316", "right": "#2563eb"}
# Every plot's axis labels (d3 formats): counts of steps as 500, 1.5k, 700k (as the PNG plots); values with
# at most 6 significant digits, trailing zeros dropped ("501", not the "501.000000" of a one-point axis)
AXIS_FORMATS = {"x_axis_format": "~s", "y_axis_format": "~r"}
# Summary figures shown first and last; the others keep the order the system reports them in.
SUMMARY_FIRST, SUMMARY_LAST = "return", "steps"


def form_lane(tab: str) -> dict[str, Any]:
    """Event options for the quick updates that fill `tab`'s form from its own widgets (the tab shown, a
    system or agent picked): one at a time, in the order pages sent them (Gradio's queue is first in, first
    out within a concurrency group). Run side by side, a slow early update could land after a later one: the
    Watch tab shown, then Pendulum picked, left a Mario agent in the picker when the tab's update ended last."""
    return {"concurrency_id": f"{tab}-form", "concurrency_limit": 1}


# What bad input or an unreachable Hub raise: shown as a readable refusal, never as a stack trace.
EXPECTED_ERRORS = (
    CheckpointError,
    HubError,
    ValueError,
    TypeError,
    KeyError,
    OSError,
    ImportError,
    OverflowError,
)


def refusal(err: BaseException | str) -> str:
    """A readable one-line refusal: shown as a toast and returned for the status Markdown."""
    text = one_line(err)  # first line, over-long names shortened
    gr.Warning(text)
    return f"**Refused:** {text}"


def format_value(value: Any) -> str:
    """A figure as tables show it: 4 significant digits, thousands separated, yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value[:8]) + (" ..." if len(value) > 8 else "")
    return str(value)


def option_echoes(system: System) -> tuple[str, ...]:
    """Summary entries that only echo the play options (shown next to the video already)."""
    return tuple(f.name for f in dataclasses.fields(system.PlayOptions))


def _summary_rank(key: str) -> int:
    return 0 if key == SUMMARY_FIRST else 2 if key == SUMMARY_LAST else 1


def watch_order() -> list[System]:
    """Every system, the showcase ones first (the Watch tab opens on them)."""
    return sorted(all_systems(), key=lambda system: not profile_of(system).showcase)


def is_toggle(system: System, control: PlayControl) -> bool:
    return isinstance(getattr(system.PlayOptions(), control.field), bool)


def ordered_controls(systems: Sequence[System]) -> list[tuple[System, PlayControl]]:
    """Every system's controls in the order of the Watch API's arguments: toggles (checkboxes) after all the
    others, so a system that adds one does not shift the positional arguments existing callers pass."""
    controls = [(system, control) for system in systems for control in profile_of(system).play_controls]
    return sorted(controls, key=lambda pair: is_toggle(*pair))  # stable: declaration order otherwise


def labelled_choices(systems: Sequence[System]) -> list[tuple[str, str]]:
    return [(profile_of(system).label, system.name) for system in systems]


def figures_line(summary: Mapping[str, Any], hide: Sequence[str] = ()) -> str:
    """The figures of one episode on one line: "return -152, last_reward -0.001, steps 200"."""
    keys = sorted((k for k in summary if k not in hide), key=_summary_rank)
    return ", ".join(f"{k} **{format_value(summary[k])}**" for k in keys)


def figures_table(columns: Mapping[str, Mapping[str, Any]], hide: Sequence[str] = ()) -> str:
    """A Markdown table: one row per figure, one column per agent (figures in `hide` left out)."""
    keys: list[str] = []
    for summary in columns.values():
        for key in summary:
            if key not in keys and key not in hide:
                keys.append(key)
    keys.sort(key=_summary_rank)
    lines = ["| figure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key in keys:
        cells = [format_value(summary.get(key, "")) for summary in columns.values()]
        lines.append(f"| {key.replace('_', ' ')} | " + " | ".join(cells) + " |")  # "swung up", not swung_up
    return "\n".join(lines)


def trace_frame(system: System, traces: Sequence[Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Long-format (step, value, side) rows of the system's per-step figure for a gr.LinePlot: the first
    trace is the "left" agent, the second the "right" one (as in the side-by-side video)."""
    figure = profile_of(system).trace_figure
    return per_step_frame(
        [
            [(step, float(entry[figure])) for step, entry in enumerate(trace) if figure in entry]
            for trace in traces
        ]
    )


def series_frame(name: str, series: Sequence[Mapping[str, Sequence[float]]]) -> pd.DataFrame:
    """The same rows for one named series of Episode.series, the first agent's "left",
    the second's "right"."""
    return per_step_frame(
        [[(step, float(value)) for step, value in enumerate(each.get(name, ()))] for each in series]
    )


def per_step_frame(sides: Sequence[Sequence[tuple[int, float]]]) -> pd.DataFrame:
    """(step, value) points of each side -> (step, value, side) rows; the placeholder when there are none."""
    rows = [
        {"step": step, "value": value, "side": side}
        for side, points in zip(SIDES, sides)
        for step, value in points
    ]
    return pd.DataFrame(rows, columns=["step", "value", "side"]) if rows else trace_placeholder()


def trace_placeholder() -> pd.DataFrame:
    """What a per-step plot starts with: one point per side (steps 0 and 10, value 0), which draws no line.
    The browser fixes the plot's colour scale from its first value and does not redo it for later data, so
    both sides must be named from the start, or later lines are drawn without a colour; and Vega lays the
    chart out once, for its first value: with a point there are tick labels to make room for, so the x-axis
    title stays inside the chart once the episode's points come
    (with none it falls below the chart, clipped)."""
    return pd.DataFrame({"step": [0.0, 10.0], "value": [0.0, 0.0], "side": list(SIDES)})


def numeric_frame(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a frame of float64 columns, also when there are none. Gradio sends each column's type
    with the data and the browser fixes a plot's axis types when it first draws it: an untyped (object)
    column, as an empty frame has, would make a category axis that later numbers never undo."""
    return pd.DataFrame(list(rows), columns=list(columns), dtype="float64")


def fitted_plot(frame: pd.DataFrame, x: str = "step", y: str = "value", **props: Any) -> gr.LinePlot:
    """A plot update with `frame` and axis limits fitted to it. Vega lays a chart out (room for tick labels
    and axis titles) when Gradio embeds it, and Gradio embeds it again when a setting such as the limits
    changes, not for new data alone: without new limits, labels that outgrow the first layout are clipped."""
    xs, ys = frame[x].dropna(), frame[y].dropna()
    x_lim = [float(xs.min()), float(xs.max())] if xs.nunique() > 1 else None  # one x: Vega centres it
    y_lim = None
    if not ys.empty:
        low, high = float(ys.min()), float(ys.max())
        margin = (high - low) * 0.05 or abs(high) * 0.01 or 1.0  # a flat line: a band around its value
        y_lim = [low - margin, high + margin]
    return gr.LinePlot(value=frame, x_lim=x_lim, y_lim=y_lim, **props)
