"""rlcore.resolve: the one answer to "which config does this run get?", for the CLI,
the app and the benches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rlcore.mario.api import SYSTEM as MARIO
from rlcore.mario.config import FAST_CHANGES, MarioConfig
from rlcore.resolve import resolve_config

AGENT = Path(__file__).resolve().parent.parent / "checkpoints" / "mario-1-1"
STORED = json.loads((AGENT / "config.json").read_text())["config"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A checkpoint whose config asks for where and how it ran
    (a Ray address, 6 workers), and a run's folder."""
    root = tmp_path_factory.mktemp("resolve")
    for name, changes in (
        ("agent", {"collector": "ray", "ray_address": "127.0.0.1:1", "num_envs": 6}),
        # trained from a route on its trainer's disk, with starts along it and the route as a demonstration
        ("routed", {"starts": "/elsewhere/route", "start_failed": 0.4, "demo_weight": 5.0, "start_x": 41}),
        ("run", {"num_envs": 2, "lr": 0.001, "max_steps": 5000, "init_from": ""}),  # a run from scratch
    ):
        shutil.copytree(
            AGENT, root / name, ignore=shutil.ignore_patterns("snapshots", "*.mp4", "training_state.*")
        )
        document = json.loads((root / name / "config.json").read_text())
        document["config"].update(changes)
        (root / name / "config.json").write_text(json.dumps(document))
    return root


# (base, overrides) -> the fields expected; "stored": the value in mario-1-1's config.json
CASES = [
    ({}, {}, {"gamma": MarioConfig.gamma, "n_step": MarioConfig.n_step, "num_envs": MarioConfig.num_envs}),
    (
        {"preset": "fast"},
        {},
        {k: FAST_CHANGES[k] for k in ("n_step", "num_envs", "precision", "gamma") if k in FAST_CHANGES},
    ),
    ({"preset": "fast"}, {"n_step": 5, "num_envs": 1}, {"n_step": 5, "num_envs": 1}),  # flags beat the preset
    # --init: the learned config from the checkpoint, where/how to run from the defaults,
    # then fine_tune, then flags
    (
        {"init": "agent"},
        {},
        {
            "gamma": STORED["gamma"],
            "dueling": STORED["dueling"],
            "collector": "local",
            "ray_address": "",
            "num_envs": MARIO.fine_tune["num_envs"],
            "exploration_rate": MARIO.fine_tune["exploration_rate"],
        },
    ),
    (
        {"init": "agent"},
        {"stage": 2, "exploration_rate": 0.5, "num_envs": 1},
        {"stage": 2, "exploration_rate": 0.5, "num_envs": 1, "gamma": STORED["gamma"]},
    ),
    # --init from an agent trained from a route: a new run starts at the level's start unless it names one
    (
        {"init": "routed"},
        {},
        {"starts": "", "start_failed": 0.0, "demo_weight": 0.0, "start_x": 0, "gamma": STORED["gamma"]},
    ),
    ({"init": "routed"}, {"starts": "r", "start_failed": 0.4}, {"starts": "r", "start_failed": 0.4}),
    # --resume: the run's saved config, run-time fields included, then flags
    ({"resume": "run"}, {}, {"num_envs": 2, "lr": 0.001, "max_steps": 5000}),
    ({"resume": "run"}, {"max_steps": 9000}, {"num_envs": 2, "max_steps": 9000}),
]


@pytest.mark.parametrize("base, overrides, expected", CASES)
def test_precedence(folders, base, overrides, expected):
    base = {k: (folders / v if k in ("init", "resume") else v) for k, v in base.items()}
    config = resolve_config(MARIO, overrides=overrides, **base)
    assert {k: getattr(config, k) for k in expected} == expected
    assert bool(config.init_from) == ("init" in base)


def test_one_base_at_most_known_presets_and_bounds(folders):
    with pytest.raises(ValueError, match="not from preset and init"):
        resolve_config(MARIO, preset="fast", init=folders / "agent")
    with pytest.raises(ValueError, match="unknown Mario preset 'fastest'"):
        resolve_config(MARIO, preset="fastest")
    with pytest.raises(ValueError, match="num_envs"):
        resolve_config(MARIO, init=folders / "agent", overrides={"num_envs": 10**6})
