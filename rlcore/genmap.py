"""The generalisation map: one greedy episode of an agent on every cell of its system's grid of play options
(Mario: the 32 levels; Pendulum: gravity x mass), all on one seed, shipped beside the agent as map.json.

Each cell keeps the full play options of its episode, so `System.play` (the app's Watch video) replays
exactly that episode. The grid itself is the system's (System.generalisation); this module only plays it,
checks a map.json read back, and writes its text table.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlcore.checkpoint import checkpoint_dir, read_json, reading
from rlcore.config import check_bounds, check_seeds
from rlcore.systems import GeneralisationMap, MapAxis, System, system_of_checkpoint

MAP_FILE = "map.json"
MAP_FORMAT = 1
MAX_MAP_BYTES = 1 << 20  # a full Mario map (32 cells) is ~16 KB: a 740x740 one is refused before it is parsed


def grid_of(system: System) -> GeneralisationMap:
    """The system's grid, or a ValueError saying plainly that it has none."""
    if system.generalisation is None:
        raise ValueError(f"{system.name} checkpoints have no generalisation map")
    return system.generalisation


def _chosen(axis: MapAxis, only: Sequence[Any] | None) -> list[Any]:
    """The axis' values, or the subset `only` of them (in the axis' order; "10" matches 10.0); a value off
    the axis is refused."""
    if not only:
        return list(axis.values)
    keys = [_key(v) for v in only]
    unknown = [str(v) for v, key in zip(only, keys) if key not in {_key(a) for a in axis.values}]
    if unknown:
        raise ValueError(
            f"{axis.field} {', '.join(unknown)} is not on the map "
            f"(choose from {', '.join(map(str, axis.values))})"
        )
    return [v for v in axis.values if _key(v) in keys]


def _key(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def cell_options(system: System, row: Any, column: Any, seed: int | None, steps: int | None) -> Any:
    """The PlayOptions of one cell: the map's seed, the row's and column's values, the step cap if given."""
    grid = grid_of(system)
    values = {grid.rows.field: row, grid.columns.field: column}
    if steps is not None and grid.step_field:
        values[grid.step_field] = steps
    options = system.play_options(seed=seed, **values)
    check_bounds(options, "map options")
    return options


def generalisation_grid(
    system: System,
    checkpoint: str | Path,
    seed: int | None = None,
    *,
    rows: Sequence[Any] | None = None,
    columns: Sequence[Any] | None = None,
    steps: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Play one greedy episode per cell and return the map document (what map.json holds). `rows` / `columns`
    restrict it to some values of each axis, `steps` caps each episode, `progress(cell)` follows each cell."""
    grid = grid_of(system)
    row_values, column_values = _chosen(grid.rows, rows), _chosen(grid.columns, columns)
    options = [[cell_options(system, r, c, seed, steps) for c in column_values] for r in row_values]
    agent, config = system.load(checkpoint), system.config_of(checkpoint)
    started = time.perf_counter()
    cells = []
    for row in options:
        cells.append([])
        for cell in row:
            entry = {
                "options": dataclasses.asdict(cell),
                "summary": _plain(system.map_episode(agent, cell)),
                "trained_on": system.trained_on(config, cell),
            }
            cells[-1].append(entry)
            if progress is not None:
                progress(entry)
    return {
        "format": MAP_FORMAT,
        "system": system.name,
        "agent": Path(checkpoint_dir(checkpoint)).name,
        "seed": options[0][0].seed,
        "rows": {"field": grid.rows.field, "label": grid.rows.label, "values": row_values},
        "columns": {"field": grid.columns.field, "label": grid.columns.label, "values": column_values},
        "colour": {"figure": grid.colour, "label": grid.colour_label, "range": list(grid.colour_range)},
        "mark": {"figure": grid.mark, "label": grid.mark_label},
        "cells": cells,
        "wall_s": round(time.perf_counter() - started, 1),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _plain(summary: dict[str, Any]) -> dict[str, Any]:
    """Summary figures as JSON numbers (numpy and torch scalars unwrapped), floats to 4 decimals."""
    plain = {}
    for key, value in summary.items():
        value = value.item() if hasattr(value, "item") else value
        plain[key] = round(value, 4) if isinstance(value, float) else value
    return plain


def read_map(folder: str | Path) -> dict[str, Any] | None:
    """A checkpoint folder's map.json, checked against its system's grid (a CheckpointError naming the file
    when it is malformed); None when the folder has none. Its axes must be the grid's fields, their values
    on the grid and none twice (so a map is never larger than the grid); its labels, figures and colour
    range are the system's, whatever the file says (a downloaded map's text is never rendered)."""
    file = Path(folder) / MAP_FILE
    if not file.is_file():
        return None
    grid = grid_of(system_of_checkpoint(folder))
    document = read_json(file, MAX_MAP_BYTES)
    with reading(file):
        for key, axis in (("rows", grid.rows), ("columns", grid.columns)):
            _check_axis(document[key], axis, key)
        shape = (len(document["rows"]["values"]), len(document["columns"]["values"]))
        cells = document["cells"]
        if not isinstance(cells, list) or [len(row) for row in cells] != [shape[1]] * shape[0]:
            raise ValueError(f"cells are not a {shape[0]}x{shape[1]} grid")
        for row in document["cells"]:
            for cell in row:
                if not isinstance(cell["options"], dict) or not isinstance(cell["summary"], dict):
                    raise TypeError("a cell's options and summary must be objects")
        check_seeds(document["seed"])
    document["rows"]["label"], document["columns"]["label"] = grid.rows.label, grid.columns.label
    document["colour"] = {"figure": grid.colour, "label": grid.colour_label, "range": list(grid.colour_range)}
    document["mark"] = {"figure": grid.mark, "label": grid.mark_label}
    return document


def _check_axis(axis: Any, expected: MapAxis, name: str) -> None:
    """One axis of a map.json: the grid's field, values on the grid (numbers as the grid's), none twice."""
    if not isinstance(axis, dict) or axis.get("field") != expected.field:
        raise ValueError(f"{name} must be the map's '{expected.field}' axis")
    values = axis["values"]
    on_grid = {_key(v) for v in expected.values}
    if not isinstance(values, list) or not values or len(values) > len(on_grid):
        raise ValueError(f"{name} must list 1 to {len(on_grid)} values")
    keys = [_key(v) if type(v) in (int, float) else None for v in values]
    if any(key not in on_grid for key in keys) or len(set(keys)) != len(keys):
        raise ValueError(
            f"{name} values must be distinct values of {expected.field}: "
            f"{', '.join(map(str, expected.values))}"
        )


def cell_text(document: dict[str, Any], cell: dict[str, Any]) -> str:
    """What a cell shows: its colour figure, with the mark (a flag, a swing-up) when the episode earned it."""
    value = cell["summary"].get(document["colour"]["figure"])
    text = f"{value:.0f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"
    mark = document["mark"]["figure"]
    return f"{text} ✓" if mark and cell["summary"].get(mark) else text


def value_label(value: Any) -> str:
    """An axis value as tables show it: 10.0 as 10, 0.75 as 0.75."""
    return format(value, "g") if isinstance(value, (int, float)) else str(value)


def map_table(document: dict[str, Any]) -> str:
    """The map as a Markdown table (the CLI's summary and the model card): rows x columns of cell texts, the
    cell of what the agent trained on in bold."""
    rows, columns = document["rows"], document["columns"]
    header = (
        f"| {rows['label']} \\ {columns['label']} | " + " | ".join(map(value_label, columns["values"])) + " |"
    )
    lines = [header, "|---|" + "---:|" * len(columns["values"])]
    for value, row in zip(rows["values"], document["cells"]):
        texts = (
            f"**{cell_text(document, cell)}**" if cell.get("trained_on") else cell_text(document, cell)
            for cell in row
        )
        lines.append(f"| {value_label(value)} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def map_legend(document: dict[str, Any]) -> str:
    """One line saying what a cell shows."""
    mark = f"; ✓: {document['mark']['label']}" if document["mark"]["figure"] else ""
    return f"Each cell: {document['colour']['label']} of one greedy episode on seed {document['seed']}{mark}."
