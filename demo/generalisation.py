"""The Watch tab's generalisation map: the agent's map.json (`rlcore map`) as a coloured grid; clicking a cell
plays that cell's episode (its level, or its physics, on the map's seed) in the Watch video.

A gr.Dataframe styled by pandas: its `.select` event gives the clicked cell, and the browser test can click
a cell like a visitor does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from demo.context import AppContext
from demo.ui import EXPECTED_ERRORS, form_lane, ordered_controls, refusal
from rlcore.config import from_dict
from rlcore.genmap import cell_text, map_legend, read_map, value_label
from rlcore.profile import profile_of
from rlcore.systems import System, get_system

# light backgrounds (dark text stays readable) from the scale's low end to its high end
SCALE = ((254, 202, 202), (253, 230, 138), (187, 247, 208))
TRAINED_OUTLINE = "outline: 3px solid #1e3a8a; outline-offset: -3px; font-weight: 700"


def background(fraction: float) -> str:
    """The cell colour of a position on the scale (0: low end, red; 1: high end, green)."""
    fraction = min(1.0, max(0.0, fraction)) * (len(SCALE) - 1)
    low = min(int(fraction), len(SCALE) - 2)
    mix = fraction - low
    rgb = (round(a + (b - a) * mix) for a, b in zip(SCALE[low], SCALE[low + 1]))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _cell_style(document: dict[str, Any], cell: dict[str, Any]) -> str:
    low, high = document["colour"]["range"]
    value = cell["summary"].get(document["colour"]["figure"])
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else low
    style = f"background-color: {background((number - low) / (high - low))}; color: #111827"
    return f"{style}; {TRAINED_OUTLINE}" if cell.get("trained_on") else style


def map_frame(document: dict[str, Any]):
    """The grid as a styled table: the row value first, then one cell text per column value."""
    rows, columns = document["rows"], document["columns"]
    # short headers (field names, plain values): five columns must fit a 390 px phone
    headers = [rows["field"], *map(value_label, columns["values"])]
    data = [
        [value_label(value), *(cell_text(document, cell) for cell in row)]
        for value, row in zip(rows["values"], document["cells"])
    ]
    styles = [
        ["font-weight: 700", *(_cell_style(document, cell) for cell in row)] for row in document["cells"]
    ]
    frame = pd.DataFrame(data, columns=headers)
    return frame.style.apply(lambda _: pd.DataFrame(styles, columns=headers), axis=None).hide(axis="index")


def legend(document: dict[str, Any], agent_ref: str) -> str:
    low, high = document["colour"]["range"]
    return (
        f"**Generalisation map of {agent_ref}** (rows: {document['rows']['label'].lower()}, columns: "
        f"{document['columns']['label'].lower()}). {map_legend(document)} Colour: red {low:g} -> "
        f"yellow -> green {high:g}; outlined: what it was trained on. **Click a cell** to play that episode."
    )


def map_view(ctx: AppContext, system_name: str, agent_ref: str | None):
    """(legend, table) for the chosen agent: its map, or a plain word on why there is none."""
    empty = pd.DataFrame({"": []})
    try:
        system = get_system(system_name)
        if system.generalisation is None:
            return f"{profile_of(system).label} has no generalisation map.", empty
        agent = ctx.catalog.resolve(agent_ref or "", system.name)
        document = read_map(agent.path)
    except EXPECTED_ERRORS as err:
        return f"No map: {err}", empty
    if document is None:
        return (
            f"**{agent.ref}** has no generalisation map yet (make one with `rlcore map CHECKPOINT`: "
            "its map.json goes beside the agent)."
        ), empty
    return legend(document, agent.ref), map_frame(document)


def clicked_cell(ctx: AppContext, system: System, agent_ref: str, index: Any) -> dict[str, Any]:
    """The play options of the clicked cell of the agent's map (checked like the Watch form's)."""
    agent = ctx.catalog.resolve(agent_ref, system.name)
    document = read_map(agent.path)
    if document is None:
        raise ValueError(f"{agent.ref} has no generalisation map")
    row, column = (int(i) for i in index)
    if column < 1:
        raise ValueError(f"click a cell, not the {document['rows']['label'].lower()} column")
    if not (0 <= row < len(document["cells"]) and column <= len(document["cells"][row])):
        raise ValueError("that cell is not on this agent's map (refresh the page)")
    options = document["cells"][row][column - 1]["options"]
    checked = from_dict(system.PlayOptions, options, source="map options")
    return {name: getattr(checked, name) for name in options}


def form_values(systems: list[System], system: System, options: dict[str, Any]) -> list[Any]:
    """The Watch form's seed and play-control values showing the played options (others left as they are)."""
    values = [gr.update(value=options.get("seed"))]
    for owner, control in ordered_controls(systems):  # the order of the form's widgets (toggles last)
        shown = owner is system and control.field in options
        values.append(gr.update(value=options[control.field]) if shown else gr.update())
    return values


def play_cell(
    ctx: AppContext,
    systems: list[System],
    show: Callable,
    system_name: str,
    agent_ref: str,
    evt: gr.SelectData,
):
    """A map cell clicked: its episode in the Watch video (through `show`, the Play button's path), the form
    set to its level or physics, and the options played (None: refused)."""
    n_controls = sum(len(profile_of(owner).play_controls) for owner in systems)
    try:
        system = get_system(system_name)
        options = clicked_cell(ctx, system, agent_ref, evt.index)
    except EXPECTED_ERRORS as err:
        return None, refusal(err), {}, gr.update(), *([gr.update()] * (1 + n_controls)), None
    return *show(ctx, system, agent_ref, None, options), *form_values(systems, system, options), options


def build(ctx: AppContext, shown: System, agent_ref: str | None) -> tuple[gr.Markdown, gr.Dataframe]:
    """The map's legend and table (inside the Watch tab's layout)."""
    text, frame = map_view(ctx, shown.name, agent_ref)
    with gr.Accordion("Generalisation map", open=True, elem_id="watch-map-box"):
        note = gr.Markdown(text, elem_id="watch-map-legend")
        table = gr.Dataframe(
            frame, interactive=False, elem_id="watch-map", buttons=[], max_height=520, show_label=False
        )
    return note, table


def wire(
    ctx: AppContext,
    systems: list[System],
    show: Callable,
    note,
    table,
    system,
    agent,
    form: list,
    outputs: list,
):
    """Agent or system changed: its map; a cell clicked: its episode (`outputs`) and the form (`form`).
    Returns the click's event and a State of the options it played (for what follows a cell's episode)."""

    def view(system_name: str, agent_ref: str | None):
        return map_view(ctx, system_name, agent_ref)

    def clicked(system_name: str, agent_ref: str, evt: gr.SelectData):  # Gradio fills `evt` from the hint
        return play_cell(ctx, systems, show, system_name, agent_ref, evt)

    # a system change sets the agent picker too, so agent.change covers both
    agent.change(view, [system, agent], [note, table], api_name="watch_map", **form_lane("watch"))
    played = gr.State(None)
    event = table.select(
        clicked,
        [system, agent],
        [*outputs, *form, played],
        api_name="watch_map_cell",
        show_progress_on=[outputs[0]],
        concurrency_limit=None,
    )  # as Play: renders wait
    return event, played
