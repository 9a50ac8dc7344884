"""The generalisation map (`rlcore map`, rlcore/genmap.py): one greedy episode per cell of a system's grid,
written as map.json beside the agent; a cell's options replay exactly its episode
(what the app's click does)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from app_support import bundled_agent, small_agent

from rlcore import cli
from rlcore.checkpoint import CheckpointError
from rlcore.genmap import MAP_FILE, cell_text, generalisation_grid, map_table, read_map
from rlcore.systems import get_system

BUNDLED_PENDULUM = bundled_agent("pendulum")
BUNDLED_MARIO = bundled_agent("mario")


@pytest.fixture(scope="module")
def pendulum_agent(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("map") / "pendulum"
    if BUNDLED_PENDULUM is not None:
        shutil.copytree(BUNDLED_PENDULUM, folder, ignore=shutil.ignore_patterns(MAP_FILE, "*.mp4"))
    else:
        small_agent("pendulum", folder)
    return folder


def test_a_pendulum_map_plays_each_cell_and_its_options_replay_that_episode(pendulum_agent):
    system = get_system("pendulum")
    document = generalisation_grid(system, pendulum_agent, rows=["10"], columns=["1", "2"], steps=60)
    assert document["rows"]["values"] == [10.0] and document["columns"]["values"] == [1.0, 2.0]
    assert [len(row) for row in document["cells"]] == [2]
    trained, heavy = document["cells"][0]
    assert trained["options"] == {"seed": 3, "g": 10.0, "m": 1.0, "l": 1.0, "steps": 60}
    assert trained["trained_on"] is True and heavy["trained_on"] is False
    assert trained["summary"]["return"] != heavy["summary"]["return"]  # the mass really changed the episode
    for cell in (trained, heavy):  # the app's click plays these options: the same episode, frames and all
        played = system.play(pendulum_agent, system.play_options(**cell["options"])).summary
        assert played["return"] == pytest.approx(cell["summary"]["return"], abs=1e-3)
        assert played["swung_up"] == cell["summary"]["swung_up"]


def test_the_map_command_writes_map_json_beside_the_agent(pendulum_agent, capsys):
    code = cli.main(
        [
            "map",
            str(pendulum_agent),
            "--rows",
            "5,20",
            "--columns",
            "1",
            "--seed",
            "4",
            "--steps",
            "50",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    document = read_map(pendulum_agent)  # the default place, read back and checked
    assert document["seed"] == 4 and document["rows"]["values"] == [5.0, 20.0]
    assert all(
        cell["options"]["seed"] == 4 and cell["options"]["steps"] == 50
        for row in document["cells"]
        for cell in row
    )
    assert map_table(document) in out and f"wrote {pendulum_agent / MAP_FILE}" in out
    assert not list(pendulum_agent.glob(".map.*"))  # the atomic write left no temporary file


def test_the_map_command_refuses_values_off_the_grid_in_one_line(pendulum_agent, capsys, tmp_path):
    before = (pendulum_agent / MAP_FILE).read_bytes() if (pendulum_agent / MAP_FILE).exists() else None
    code = cli.main(["map", str(pendulum_agent), "--rows", "9.81", "--no-progress"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert err.strip().splitlines() == [
        "rlcore: error: g 9.81 is not on the map (choose from 5.0, 7.5, 10.0, 12.5, 15.0, 20.0)"
    ]
    after = (pendulum_agent / MAP_FILE).read_bytes() if (pendulum_agent / MAP_FILE).exists() else None
    assert after == before  # nothing lost


def test_a_system_without_a_map_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RLCORE_SYSTEMS", "bandit=toy_system")
    bandit = get_system("bandit")
    for _ in bandit.train(bandit.Config(episodes=5), tmp_path / "bandit"):
        pass
    assert cli.main(["map", str(tmp_path / "bandit"), "--no-progress"]) == cli.EXIT_BAD_INPUT
    assert capsys.readouterr().err.strip() == "rlcore: error: bandit checkpoints have no generalisation map"
    assert not (tmp_path / "bandit" / MAP_FILE).exists()


def test_a_malformed_map_json_is_one_clear_error(pendulum_agent, tmp_path):
    shutil.copyfile(
        pendulum_agent / "config.json", tmp_path / "config.json"
    )  # a map is read beside its agent
    (tmp_path / MAP_FILE).write_text(
        json.dumps(
            {
                "rows": {"field": "g", "values": [5.0, 7.5]},
                "columns": {"field": "m", "values": [1.0]},
                "cells": [[{"options": {}, "summary": {}}]],
            }
        )
    )
    with pytest.raises(CheckpointError, match=r"map.json: malformed \(cells are not a 2x1 grid\)"):
        read_map(tmp_path)
    (tmp_path / MAP_FILE).write_text("not json")
    with pytest.raises(CheckpointError, match="map.json"):
        read_map(tmp_path)
    assert read_map(tmp_path / "elsewhere") is None


@pytest.mark.skipif(BUNDLED_MARIO is None, reason="no bundled Mario agent")
def test_a_mario_map_on_the_real_emulator_replays_each_level(tmp_path):
    system = get_system("mario")
    document = generalisation_grid(system, BUNDLED_MARIO, rows=["1"], columns=["1", "2"], steps=40)
    own, unseen = document["cells"][0]
    # the full play options (greedy: no sticky or random actions, no Q overlay), so the cell replays exactly
    assert own["options"] == {
        "seed": 0,
        "world": 1,
        "stage": 1,
        "max_steps": 40,
        "noop_max": 30,
        "sticky": 0.0,
        "epsilon": 0.0,
        "show_q": False,
        "start_x": 0,
    }
    assert (own["trained_on"], unseen["trained_on"]) == (True, False)
    assert unseen["options"]["stage"] == 2 and 0 < unseen["summary"]["steps"] <= 40
    for cell in (own, unseen):  # the map's figures are those of the episode the app plays for the cell
        episode = system.play(BUNDLED_MARIO, system.play_options(**cell["options"]))
        assert {k: episode.summary[k] for k in ("return", "x_pos", "flag_get", "steps")} == {
            k: cell["summary"][k] for k in ("return", "x_pos", "flag_get", "steps")
        }
    assert own["summary"]["x_pos"] != unseen["summary"]["x_pos"]  # two different levels were played


@pytest.mark.parametrize("name", ["mario", "pendulum"])
def test_the_shipped_maps_cover_the_whole_grid(name):
    folder = bundled_agent(name)
    if folder is None or not (folder / MAP_FILE).is_file():
        pytest.skip(f"no bundled {name} map")
    document, grid = read_map(folder), get_system(name).generalisation
    assert document["rows"]["values"] == list(grid.rows.values)
    assert document["columns"]["values"] == list(grid.columns.values)
    trained = [cell for row in document["cells"] for cell in row if cell["trained_on"]]
    assert len(trained) == 1  # exactly the level / physics it trained on is marked


@pytest.fixture
def app_context(tmp_path, pendulum_agent):
    from demo.context import AppContext, AppSettings

    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(pendulum_agent, checkpoints / "mapped", ignore=shutil.ignore_patterns(MAP_FILE))
    generalisation_grid_to(checkpoints / "mapped", rows=["10", "20"], columns=["1", "2"])
    shutil.copytree(pendulum_agent, checkpoints / "unmapped", ignore=shutil.ignore_patterns(MAP_FILE))
    context = AppContext(AppSettings(checkpoints_dir=checkpoints, work_dir=tmp_path / "work"))
    yield context
    context.close()


def generalisation_grid_to(folder: Path, **cells) -> None:
    assert (
        cli.main(
            [
                "map",
                str(folder),
                "--steps",
                "20",
                "--no-progress",
                *(f"--{k}={','.join(v)}" for k, v in cells.items()),
            ]
        )
        == 0
    )


def test_the_app_shows_the_map_of_an_agent_and_says_when_there_is_none(app_context, monkeypatch, tmp_path):
    from demo.generalisation import clicked_cell, map_view

    legend, table = map_view(app_context, "pendulum", "mapped")
    assert legend.startswith("**Generalisation map of mapped** (rows: gravity g, columns: mass m)")
    document = read_map(app_context.settings.checkpoints_dir / "mapped")
    assert list(table.data.columns) == ["g", "1", "2"]
    assert table.data.values.tolist() == [
        ["10", *(cell_text(document, c) for c in document["cells"][0])],
        ["20", *(cell_text(document, c) for c in document["cells"][1])],
    ]
    assert table.to_html().count("outline: 3px solid") == 1  # the trained-on cell (g 10, m 1) alone
    options = clicked_cell(app_context, get_system("pendulum"), "mapped", (1, 2))
    assert options == {"seed": 3, "g": 20.0, "m": 2.0, "l": 1.0, "steps": 20}
    with pytest.raises(ValueError, match="click a cell, not the gravity g column"):
        clicked_cell(app_context, get_system("pendulum"), "mapped", (0, 0))
    assert (
        "has no generalisation map yet (make one with `rlcore map CHECKPOINT`"
        in map_view(app_context, "pendulum", "unmapped")[0]
    )
    monkeypatch.setenv("RLCORE_SYSTEMS", "bandit=toy_system")
    assert (
        map_view(app_context, "bandit", None)[0] == "Two-armed bandit (REINFORCE) has no generalisation map."
    )


def test_the_model_card_shows_the_map_when_the_agent_has_one(pendulum_agent, tmp_path):
    from rlcore.modelcard import build_model_card

    folder = tmp_path / "agent"  # without its card written by hand (README.md), so the generated one is made
    shutil.copytree(pendulum_agent, folder, ignore=shutil.ignore_patterns(MAP_FILE, "README.md"))
    assert "## Generalisation map" not in build_model_card(folder, "alice/pendulum")
    generalisation_grid_to(folder, rows=["10"], columns=["1", "2"])
    card = build_model_card(folder, "alice/pendulum")
    assert map_table(read_map(folder)) in card and "| 10 | **-" in card  # the trained-on cell in bold
