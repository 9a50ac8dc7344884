"""Small helpers the tabs share: readable refusals, figure tables, trace plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr
import pandas as pd

from rlcore.checkpoint import CheckpointError, one_line
from rlcore.hub import HubError

SYSTEM_LABELS = {"mario": "Super Mario Bros (Double DQN)", "pendulum": "Pendulum (differentiable rollouts)"}
# The per-step figure plotted under a replay.
TRACE_FIGURE = {"mario": "x_pos", "pendulum": "reward"}
SIDES = ("left", "right")  # the two agents of a comparison, as placed in the video
SIDE_COLOURS = {"left": "#f97316", "right": "#2563eb"}
# Summary figures shown first, in this order; the rest follow.
SUMMARY_ORDER = ("return", "x_pos", "flag_get", "last_reward", "steps")
# Summary entries that only echo the play options (shown next to the video already).
OPTION_ECHOES = ("seed", "g", "m", "l", "world", "stage")


# What bad input or an unreachable Hub raise: shown as a readable refusal, never as a stack trace.
EXPECTED_ERRORS = (CheckpointError, HubError, ValueError, TypeError, KeyError, OSError, ImportError, OverflowError)


def refusal(err: BaseException | str) -> str:
    """A readable one-line refusal: shown as a toast and returned for the status Markdown."""
    text = one_line(err)  # first line, over-long names shortened
    gr.Warning(text)
    return f"**Refused:** {text}"


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value[:8]) + (" ..." if len(value) > 8 else "")
    return str(value)


def figures_line(summary: Mapping[str, Any], hide: Sequence[str] = ()) -> str:
    """The figures of one episode on one line: "return -152, last_reward -0.001, steps 200"."""
    keys = sorted((k for k in summary if k not in hide),
                  key=lambda k: (SUMMARY_ORDER.index(k) if k in SUMMARY_ORDER else len(SUMMARY_ORDER), k))
    return ", ".join(f"{k} **{_format(summary[k])}**" for k in keys)


def figures_table(columns: Mapping[str, Mapping[str, Any]], hide: Sequence[str] = ()) -> str:
    """A Markdown table: one row per figure, one column per agent (figures in `hide` left out)."""
    keys: list[str] = []
    for summary in columns.values():
        for key in summary:
            if key not in keys and key not in hide:
                keys.append(key)
    keys.sort(key=lambda k: (SUMMARY_ORDER.index(k) if k in SUMMARY_ORDER else len(SUMMARY_ORDER), k))
    lines = ["| figure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key in keys:
        cells = [_format(summary.get(key, "")) for summary in columns.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def trace_frame(system: str, traces: Sequence[Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Long-format (step, value, side) rows of the system's per-step figure for a gr.LinePlot: the first
    trace is the "left" agent, the second the "right" one (as in the side-by-side video)."""
    figure = TRACE_FIGURE.get(system, "reward")
    rows = []
    for side, trace in zip(SIDES, traces):
        for step, entry in enumerate(trace):
            if figure in entry:
                rows.append({"step": step, "value": float(entry[figure]), "side": side})
    return pd.DataFrame(rows, columns=["step", "value", "side"]) if rows else trace_placeholder()


def trace_placeholder() -> pd.DataFrame:
    """What a per-step plot starts with: no points, but both sides named. The browser fixes the plot's
    colour scale from its first value and does not redo it for later data, so the names must be there
    from the start, or later lines are drawn without a colour."""
    nothing = float("nan")
    return pd.DataFrame({"step": [nothing, nothing], "value": [nothing, nothing], "side": list(SIDES)})


def empty_frame(*columns: str) -> pd.DataFrame:
    """No rows yet, but typed as numbers (an untyped column would not be read as a numeric axis)."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
