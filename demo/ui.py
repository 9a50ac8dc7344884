"""Small helpers the tabs share: readable refusals, figure tables, trace plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr
import pandas as pd

from rlcore.checkpoint import CheckpointError
from rlcore.hub import HubError

SYSTEM_LABELS = {"mario": "Super Mario Bros (Double DQN)", "pendulum": "Pendulum (differentiable rollouts)"}
# The per-step figure plotted under a replay.
TRACE_FIGURE = {"mario": "x_pos", "pendulum": "reward"}
# Summary figures shown first, in this order; the rest follow.
SUMMARY_ORDER = ("return", "x_pos", "flag_get", "last_reward", "steps")


# What bad input or an unreachable Hub raise: shown as a readable refusal, never as a stack trace.
EXPECTED_ERRORS = (CheckpointError, HubError, ValueError, TypeError, KeyError, OSError, ImportError)


def refusal(err: BaseException | str) -> str:
    """A readable one-line refusal: shown as a toast and returned for the status Markdown."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
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


def figures_table(columns: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown table: one row per figure, one column per agent."""
    keys: list[str] = []
    for summary in columns.values():
        for key in summary:
            if key not in keys:
                keys.append(key)
    keys.sort(key=lambda k: (SUMMARY_ORDER.index(k) if k in SUMMARY_ORDER else len(SUMMARY_ORDER), k))
    lines = ["| figure | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for key in keys:
        cells = [_format(summary.get(key, "")) for summary in columns.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def trace_frame(system: str, traces: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Long-format (step, value, agent) rows of the system's per-step figure, for a gr.LinePlot."""
    figure = TRACE_FIGURE.get(system, "reward")
    rows = []
    for agent, trace in traces.items():
        for step, entry in enumerate(trace):
            if figure in entry:
                rows.append({"step": step, "value": float(entry[figure]), "agent": agent})
    return pd.DataFrame(rows, columns=["step", "value", "agent"])


def empty_frame(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in columns})
