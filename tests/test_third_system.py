"""A third system, defined only in tests/toy_system.py, goes through every generic layer: `rlcore train`,
`evaluate`, `play`, `push`, `pull` (the real entry point, against the local Hub server) and the app's
Watch and Agents tabs. It is added as an installed package adds it, by an "rlcore.systems" entry point in
its metadata (tests/toy_system.py is imported from tests/); nothing in rlcore/ or demo/ was changed for it.
The app shows it through its presentation profile (tests/toy_system_ui.py, found beside it as the built-in
systems' rlcore/<system>/ui.py are); a system without one is shown with a generic profile."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from app_support import running_app
from gradio_client import Client
from hub_server import TOKEN, HubServer

from rlcore.resolve import resolve_config

ROOT = Path(__file__).resolve().parents[1]


def entry_point_package(folder: Path, entry_points: str = "bandit = toy_system") -> Path:
    """A folder holding what `pip install` of a package declaring `entry_points` in the "rlcore.systems"
    group leaves in site-packages: its .dist-info metadata (importlib.metadata reads it from sys.path)."""
    info = folder / "rlcore_bandit-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rlcore-bandit\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[rlcore.systems]\n{entry_points}\n")
    return folder


def rlcore(*args, endpoint: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE", "RLCORE_SYSTEMS"))}
    site = entry_point_package(home / "site")
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(home),
        HF_HUB_DISABLE_XET="1",
        HF_TOKEN=TOKEN,
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(site)]),
    )
    result = subprocess.run(
        [sys.executable, "-m", "rlcore", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def bandit(monkeypatch, tmp_path):
    monkeypatch.delenv("RLCORE_SYSTEMS", raising=False)
    monkeypatch.syspath_prepend(str(entry_point_package(tmp_path / "site")))
    from rlcore.systems import get_system

    return get_system("bandit")


def test_systems_are_found_by_entry_point_and_a_plugin_never_replaces_a_built_in(monkeypatch, tmp_path):
    import importlib.metadata
    import tomllib

    from rlcore.systems import BUILTIN_SYSTEMS, ENTRY_POINT_GROUP, system_modules

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"][ENTRY_POINT_GROUP]
    installed = {e.name: e.value for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert declared == BUILTIN_SYSTEMS == installed  # rlcore's own, picked up by its (editable) install
    monkeypatch.delenv("RLCORE_SYSTEMS", raising=False)
    assert "bandit" not in system_modules()
    monkeypatch.syspath_prepend(str(entry_point_package(tmp_path, "bandit = toy_system\nmario = toy_system")))
    assert system_modules() == {**BUILTIN_SYSTEMS, "bandit": "toy_system"}


@pytest.mark.extended
def test_the_third_system_trains_evaluates_plays_and_goes_to_the_hub_and_back(tmp_path):
    run, home = tmp_path / "run", tmp_path / "hf"
    with HubServer(tokens={TOKEN: "alice"}) as server:
        hub = {"endpoint": server.url, "home": home}
        trained = rlcore("train", "bandit", "--out", run, "--episodes", 60, "--preset", "eager", **hub)
        assert "train bandit" in trained.stderr and "60/60" in trained.stderr  # the bar counts its budget
        assert json.loads((run / "config.json").read_text())["config"] == {
            "probabilities": [0.2, 0.8],
            "lr": 2.0,
            "episodes": 60,
            "seed": 0,
        }
        resumed = rlcore(
            "train", "bandit", "--out", run, "--resume", "--episodes", 80, "--no-progress", **hub
        )
        assert "step=80" in resumed.stderr  # the saved config, with the flag given overriding it
        evaluated = rlcore("evaluate", run, "--episodes", 20, "--seed", 3, "--write", **hub)
        assert "TwoArmedBandit-v0, 20 episodes, seeds 3-22" in evaluated.stdout
        results = json.loads((run / "results.json").read_text())
        assert (
            results["n_eval_episodes"] == 20 and results["protocols"]["greedy"]["protocol"]["first_seed"] == 3
        )
        assert results["best_arm_rate"] == 1.0
        played = rlcore("play", run, "--out", tmp_path / "bandit.mp4", "--pulls", 6, **hub)
        assert "(6 frames)" in played.stdout and (tmp_path / "bandit.mp4").stat().st_size > 500
        rlcore("push", run, "alice/bandit", **hub)
        card = server.files("alice/bandit")["README.md"].decode()
        assert "| best arm rate | 100% |" in card and "- type: best_arm_rate" in card
        assert "python -m rlcore train bandit --lr 2.0 --episodes 80" in card
        pulled = Path(
            rlcore("pull", "alice/bandit", endpoint=server.url, home=tmp_path / "fresh")
            .stdout.strip()
            .splitlines()[-1]
        )
    assert (pulled / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes()


def test_the_third_system_declares_its_bounds_on_its_fields_as_rlcore_does(bandit):
    """option(..., ge=, le=, max_length=) on its own fields: the same model checks the resolver's configs and
    config.json documents, in one line each, and `train --help` shows the bounds."""
    from rlcore import cli
    from rlcore.config import from_dict

    with pytest.raises(ValueError, match=r"^config: field 'episodes' must be from 1 to 1000000, got 0$"):
        resolve_config(bandit, overrides={"episodes": 0})
    with pytest.raises(
        ValueError, match=r"^config: field 'probabilities' must have at most 16 items, got 17$"
    ):
        from_dict(bandit.Config, {"probabilities": [0.5] * 17})
    with pytest.raises(ValueError, match=r"^config: field 'lr' must be a finite number, got nan$"):
        from_dict(bandit.Config, {"lr": float("nan")})
    train = cli.build_parser(["train", "bandit"])._subparsers._group_actions[0].choices["train"]
    text = " ".join(train._subparsers._group_actions[0].choices["bandit"].format_help().split())
    assert (
        "--episodes EPISODES pulls to learn from (one pull is an episode) (from 1 to 1000000; default: 200)"
        in text
    )


def test_the_third_system_in_the_app_watch_and_agents_tabs(bandit, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    for _ in bandit.train(
        resolve_config(bandit, preset="eager", overrides={"episodes": 50}), checkpoints / "bandit-agent"
    ):
        pass
    with running_app(checkpoints, tmp_path / "work") as (url, _):
        client = Client(url, verbose=False)
        choices = client.predict("bandit", None, api_name="/watch_system")[0]["choices"]
        assert [c[0] for c in choices] == ["bandit-agent"]
        # the inputs: system, agent, compare, seed, then every system's controls (Mario's level, the
        # pendulum's physics, the bandit's pulls), as the Watch tab lays them out
        video, status, figures, plot = client.predict(
            "bandit", "bandit-agent", "(none)", 2, 1, 1, 10.0, 1.0, 1.0, 5, api_name="/watch"
        )
        summary = figures["agents"]["bandit-agent"]["summary"]
        assert summary["steps"] == 5 and figures["agents"]["bandit-agent"]["frames"] == 5
        assert Path(video).stat().st_size > 500 and "| return |" in status
        assert [row[0] for row in plot["data"]] == [0, 1, 2, 3, 4]  # the per-step trace_figure
        table = client.predict(False, api_name="/agents")[0]
        rows = [dict(zip(table["headers"], row)) for row in table["data"]]
        (row,) = [r for r in rows if r["agent"] == "bandit-agent"]
        assert row["system"] == "bandit" and "best arm rate" in table["headers"]


PLAIN_SYSTEM = """from toy_system import Bandit

class Plain(Bandit):
    name = "plain"

SYSTEM = Plain()
"""


def plain_system(monkeypatch, folder: Path, name: str = "plain", profile: str | None = None):
    """A bandit named `name` in a top-level module of its own (`<name>_system`), registered through
    RLCORE_SYSTEMS; with `profile`, the source of its profile module beside it (`<name>_system_ui`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}_system.py").write_text(PLAIN_SYSTEM.replace('"plain"', repr(name)))
    if profile is not None:
        (folder / f"{name}_system_ui.py").write_text(profile)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("RLCORE_SYSTEMS", f"{name}={name}_system")
    from rlcore.systems import get_system

    return get_system(name)


def test_each_system_has_its_profile_beside_its_module_with_widgets_for_its_task_fields(bandit):
    import toy_system_ui

    from rlcore.mario import ui as mario_ui
    from rlcore.pendulum import ui as pendulum_ui
    from rlcore.profile import profile_module, profile_of
    from rlcore.systems import get_system

    assert profile_module("rlcore.mario.api") == "rlcore.mario.ui"
    assert profile_module("toy_system") == "toy_system_ui"
    assert profile_module("rlcore.mario") == "rlcore.mario.ui"  # a system defined in a package's __init__
    assert profile_of(bandit) is toy_system_ui.PROFILE
    for module in (mario_ui, pendulum_ui):
        system = get_system(module.__name__.split(".")[1])
        assert profile_of(system) is module.PROFILE
        assert tuple(c.field for c in module.PROFILE.knobs.task) == system.task_fields  # a widget for each
        fields = {f.name for f in dataclasses.fields(system.PlayOptions)}
        assert {c.field for c in module.PROFILE.play_controls} <= fields and set(system.task_fields) <= fields


def test_a_system_without_a_profile_is_shown_with_a_generic_one_and_a_bad_profile_is_one_line(
    monkeypatch, tmp_path
):
    from demo.train import run_config
    from rlcore.profile import profile_of

    profile = profile_of(plain_system(monkeypatch, tmp_path))
    assert profile.label == "plain (REINFORCE)" and profile.play_controls == () and not profile.showcase
    knobs = profile.knobs  # the Config's budget (200 episodes) is the Train tab's default and its cap
    assert (knobs.budget_label, knobs.default_budget, knobs.max_budget) == ("Steps", 200, 200)
    assert run_config("plain", "tutorial", 50, 0.5, 1)["episodes"] == 50
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 200"):
        run_config("plain", "tutorial", 201, 0.5, 1)
    not_one = plain_system(monkeypatch, tmp_path, "odd", profile="PROFILE = {'label': 'Odd'}\n")
    with pytest.raises(TypeError, match=r"^odd_system_ui.PROFILE must be an rlcore.profile.Profile$"):
        profile_of(not_one)
    stray = plain_system(
        monkeypatch,
        tmp_path,
        "stray",
        profile=(
            "from rlcore.profile import PlayControl, Profile, TrainKnobs\n"
            "PROFILE = Profile('Stray', TrainKnobs('Pulls', '', 10, 10,\n"
            "                  task=(PlayControl('pulls', 'Pulls'),)))\n"
        ),
    )
    with pytest.raises(TypeError, match=r"task widgets \['pulls'\] are not stray's task_fields"):
        profile_of(stray)
    broken = plain_system(monkeypatch, tmp_path, "broken", profile="import no_such_module_here\n")
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):  # not mistaken for "no profile"
        profile_of(broken)


def test_a_system_without_a_profile_plays_in_the_watch_tab(monkeypatch, tmp_path):
    system = plain_system(monkeypatch, tmp_path / "modules")
    checkpoints = tmp_path / "checkpoints"
    for _ in system.train(resolve_config(system, overrides={"episodes": 20}), checkpoints / "plain-agent"):
        pass
    with running_app(checkpoints, tmp_path / "work") as (url, _):
        client = Client(url, verbose=False)
        # the inputs: system, agent, compare, seed, then the built-in systems' controls (none of its own)
        video, status, figures, plot = client.predict(
            "plain", "plain-agent", "(none)", 2, 1, 1, 10.0, 1.0, 1.0, False, api_name="/watch"
        )
        summary = figures["agents"]["plain-agent"]["summary"]
        assert summary["steps"] == 8 and Path(video).stat().st_size > 500  # its PlayOptions' default: 8 pulls
        assert [row[0] for row in plot["data"]] == list(range(8))  # the generic profile's trace: reward
