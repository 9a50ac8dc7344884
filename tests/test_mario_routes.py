"""Go-Explore routes on the real emulator and the backward curriculum that trains from them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from rlcore.checkpoint import CheckpointError, read_json
from rlcore.cli import main
from rlcore.mario.config import MarioConfig
from rlcore.mario.curriculum import FAILED_START, LEVEL_START, BackwardCurriculum, RouteStarts, route_points
from rlcore.mario.env import make_env
from rlcore.mario.explore import Route, explore, replay, route_snapshots
from rlcore.mario.play import run_episode
from rlcore.mario.train import TrainingRun

ROUTES = Path(__file__).resolve().parent.parent / "checkpoints" / "routes"
ROUTE_1_4 = ROUTES / "mario-1-4"  # the shortest bundled route: 332 agent steps, right_only


def test_explore_finds_a_route_through_a_section_that_replays_and_is_deterministic(tmp_path):
    route = explore(1, 1, "right_jump", seed=3, max_frames=40_000, target_x=500)
    assert route.x_pos[-1] >= 500 and not route.flag and route.frames <= 40_000
    assert len(route.steps) == len(route.x_pos) and route.cells > 10
    assert replay(route)["x_pos"] == route.x_pos[-1]  # the emulator replays the actions exactly
    again = explore(1, 1, "right_jump", seed=3, max_frames=40_000, target_x=500)
    assert (again.steps, again.frames) == (route.steps, route.frames)
    route.save(tmp_path)
    assert Route.load(tmp_path) == route


@pytest.mark.parametrize("folder", sorted(p.name for p in ROUTES.iterdir() if p.is_dir()))
def test_every_bundled_route_replays_to_the_flag(folder):
    route = Route.load(ROUTES / folder)
    assert route.flag and folder.startswith(f"mario-{route.world}-{route.stage}")
    assert replay(route) == {"flag_get": True, "x_pos": route.x_pos[-1], "steps": len(route.steps)}


def test_a_bad_route_file_is_one_line_error(tmp_path):
    document = read_json(ROUTE_1_4 / "route.json")
    for change in ({"steps": [0, 9]}, {"steps": "right"}, {"world": 9}, {"format": "other"}, {"skip": 2}):
        (tmp_path / "route.json").write_text(json.dumps({**document, **change}))
        with pytest.raises(CheckpointError, match="route.json") as err:
            Route.load(tmp_path)
        assert "\n" not in str(err.value)


def test_route_starts_restore_save_states_in_the_window_or_the_level_start():
    route = Route.load(ROUTE_1_4)
    env = RouteStarts(make_env(1, 4, "right_only", sticky=0.25, noop_max=30), route, share=0.0)
    try:
        assert env.xs == route_points(route)  # the learner's x of each point is the worker's
        assert (env.env.noop_max, env.env.sticky) == (30, 0.25)  # restored after the exact replay
        env.set_start_window(40, 47)
        starts = set()
        for seed in range(6):
            _, info = env.reset(seed=seed)
            assert 40 <= info["route_start"] <= 47 and info["x_pos"] == env.xs[info["route_start"]]
            starts.add(info["route_start"])
            _, reward, _, _, info = env.step(1)
            assert info["route_start"] in starts and abs(reward) < 20  # the reward's bookkeeping was reset
        assert len(starts) > 1
        env.share = 1.0
        _, info = env.reset(seed=0)
        assert info["route_start"] == LEVEL_START and info["x_pos"] < 60
        env.share, env.behind = 0.0, 1.0  # behind the window: any earlier point, never the window's
        behind = {env.reset(seed=seed)[1]["route_start"] for seed in range(10)}
        assert behind <= set(range(40)) and len(behind) > 5, behind
        env.set_start_window(0, 7)  # nothing behind it: the window's own points
        assert 0 <= env.reset(seed=0)[1]["route_start"] <= 7
        with pytest.raises(ValueError, match="window"):
            env.set_start_window(5, len(env.snapshots))
    finally:
        env.close()


def test_route_snapshots_refuse_an_inexact_emulator():
    with pytest.raises(ValueError, match="sticky"):
        route_snapshots(make_env(1, 4, "right_only", sticky=0.25), Route.load(ROUTE_1_4), 4)


def test_the_window_moves_back_on_success_from_it_and_only_then():
    curriculum = BackwardCurriculum(list(range(0, 300, 10)), width=8, threshold=0.5, judge=4)
    assert curriculum.window == (22, 29)
    for _ in range(10):  # level-start episodes and starts outside the window do not judge it
        assert not curriculum.record(LEVEL_START, True, step=1)
        assert not curriculum.record(5, True, step=1)
    assert "failed_start_flag_rate" not in curriculum.summary()  # no failure starts yet: no rate
    assert not curriculum.record(FAILED_START, True, step=1) and not curriculum.record(
        FAILED_START, False, step=1
    )
    assert curriculum.summary()["failed_start_flag_rate"] == 0.5
    assert not any(curriculum.record(25, flag, step=2) for flag in (False, True, False))
    assert curriculum.record(29, True, step=3)  # 2 of the last 4: the threshold
    assert curriculum.window == (18, 25) and curriculum.moves == [{"step": 3, "start": 18, "x": 180}]
    state = json.loads(json.dumps(curriculum.state()))
    copy = BackwardCurriculum(list(range(0, 300, 10)), width=8, threshold=0.5, judge=4)
    copy.load_state(state)
    assert copy.window == (18, 25) and copy.summary() == curriculum.summary()
    for _ in range(40):
        curriculum.record(curriculum.window[0], True, step=4)
    assert curriculum.window == (0, 7)  # never behind the level's start
    before_x = BackwardCurriculum(list(range(0, 300, 10)), width=8, threshold=0.5, start_x=125)
    assert before_x.window == (5, 12)  # the last point before x 125 is 120: where a fine-tuned agent fails
    assert BackwardCurriculum(list(range(0, 300, 10)), width=8, threshold=0.5, start_x=5).window == (0, 7)


def test_training_starts_from_the_route_moves_the_window_back_and_evaluation_never_does(tmp_path):
    shutil.copytree(ROUTE_1_4, tmp_path / "route")
    config = MarioConfig(
        world=1,
        stage=4,
        actions="right_only",
        starts=str(tmp_path / "route"),
        start_share=0.0,
        start_window=4,
        start_threshold=0.3,
        num_envs=1,
        burnin=10**9,
        max_steps=500,
        memory_size=2000,
        log_every=5,
        checkpoint_every=10**9,
        seed=1,
    )
    run = TrainingRun(config, tmp_path / "run")
    first_window = run.curriculum.window
    try:
        records = []
        while not run.finished:
            records += run.step()
    finally:
        run.close()
    assert first_window == (len(run.curriculum.xs) - 4, len(run.curriculum.xs) - 1)
    assert run.curriculum.window[0] < first_window[0] and run.curriculum.moves  # random play passes the axe
    assert records and all(r["start_x"] == run.curriculum.xs[r["start_point"]] for r in records)
    assert Route.load(tmp_path / "run") == Route.load(ROUTE_1_4)  # the checkpoint records its route
    assert (tmp_path / "run" / "curriculum_plot.png").stat().st_size > 1000  # where episodes started, plotted
    shutil.rmtree(tmp_path / "route")  # moved since: the resumed run reads its own copy
    resumed = TrainingRun(MarioConfig(**{**config.__dict__, "max_steps": 600}), tmp_path / "run", resume=True)
    try:
        assert resumed.curriculum.window == run.curriculum.window
        assert resumed.config.starts == str(tmp_path / "run")
    finally:
        resumed.close(save=False)
    from rlcore.mario.agent import Mario

    agent = Mario.load(tmp_path / "run")
    assert agent.config.starts  # the run trained from the route, yet its episodes start at the level's start
    trace = run_episode(agent, seed=0, max_steps=2)["trace"]
    assert trace[0]["x_pos"] < 60


def test_a_route_of_another_level_or_action_set_is_refused(tmp_path):
    for change in ({"stage": 3}, {"actions": "right_jump"}):
        config = MarioConfig(
            **{"world": 1, "stage": 4, "actions": "right_only", **change}, starts=str(ROUTE_1_4)
        )
        with pytest.raises(ValueError, match="--starts"):
            TrainingRun(config, tmp_path / "run", env_fn=lambda: None)
    config = MarioConfig(
        stage=4,
        actions="right_only",
        starts=str(ROUTE_1_4),
        start_share=0.5,
        start_behind=0.3,
        start_failed=0.3,
    )
    with pytest.raises(
        ValueError, match="0.5, --start-behind 0.3 and --start-failed 0.3 add up to more than 1"
    ):
        TrainingRun(config, tmp_path / "run", env_fn=lambda: None)


def test_explore_command_writes_a_route_and_says_what_it_cost(tmp_path, capsys):
    assert (
        main(
            [
                "explore",
                "mario",
                "--stage",
                "1",
                "--until-x",
                "300",
                "--frames",
                "20000",
                "--out",
                str(tmp_path / "r"),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "reaches x 300" in out and "frames" in out and Route.load(tmp_path / "r").x_pos[-1] >= 300
    assert main(["explore", "mario", "--world", "9", "--out", str(tmp_path / "bad"), "--no-progress"]) == 2


AGENT_1_3 = Path(__file__).resolve().parent.parent / "checkpoints" / "mario-1-3-treetop"


def test_play_from_a_practice_spot_starts_at_the_bundled_routes_save_state_and_evaluate_cannot():
    from rlcore.mario.api import SYSTEM, PlayOptions

    route = Route.load(ROUTES / "mario-1-3")
    xs = route_points(route)
    spot = SYSTEM.practice(SYSTEM.config_of(AGENT_1_3), {"x_pos": 725, "flag_get": False}).play["start_x"]
    agent = SYSTEM.load(AGENT_1_3)
    summary = SYSTEM.map_episode(agent, PlayOptions(stage=3, start_x=spot, max_steps=3))
    trace = run_episode(agent, seed=0, stage=3, max_steps=1, start_x=spot)["trace"]
    assert spot in xs and abs(trace[0]["x_pos"] - spot) < 20  # one step after the route's save state there
    assert summary["start_x"] == spot and summary["steps"] == 3
    from_start = SYSTEM.map_episode(agent, PlayOptions(stage=3, max_steps=1))
    assert "start_x" not in from_start and from_start["x_pos"] < 60
    with pytest.raises(ValueError, match="no bundled route"):
        run_episode(agent, seed=0, world=2, stage=1, max_steps=1, start_x=500)
    with pytest.raises(TypeError):  # the evaluation protocol has no start but the level's
        SYSTEM.evaluate(AGENT_1_3, episodes=1, start_x=spot)


def test_practice_starts_before_where_the_agent_failed_on_a_level_with_a_route_of_its_actions():
    from rlcore.mario.api import PRACTICE_BURNIN, PRACTICE_WINDOW, SYSTEM

    config = SYSTEM.config_of(AGENT_1_3)
    practice = SYSTEM.practice(config, {"x_pos": 725, "flag_get": False})
    assert practice.config == {
        "starts": str(ROUTES / "mario-1-3"),
        "start_x": 725,
        "start_window": PRACTICE_WINDOW,
        "burnin": PRACTICE_BURNIN,
    }
    xs = route_points(Route.load(ROUTES / "mario-1-3"))
    window = BackwardCurriculum(xs, PRACTICE_WINDOW, 0.5, start_x=725).window
    assert practice.play["start_x"] == xs[window[0]] < 725 and "x 725" in practice.note
    assert xs[window[1]] < 725 <= xs[window[1] + 1]  # the training window ends just before the failure
    assert SYSTEM.practice(config, {"x_pos": 2400, "flag_get": True}) is None  # nothing to practise
    assert (
        SYSTEM.practice(MarioConfig(world=2, stage=1), {"x_pos": 300, "flag_get": False}) is None
    )  # no route
    other_actions = MarioConfig(world=1, stage=4, actions="right_jump")  # 1-4's route needs right_only
    assert SYSTEM.practice(other_actions, {"x_pos": 700, "flag_get": False}) is None
    right_only = SYSTEM.practice(
        MarioConfig(world=1, stage=3, actions="right_only"), {"x_pos": 1500, "flag_get": False}
    )
    assert right_only.config["starts"] == str(ROUTES / "mario-1-3-right_only")  # the level's second route


def test_the_cap_note_says_what_a_practice_run_needs_beside_what_the_whole_level_needs(tmp_path):
    """A Mario run from a bundled agent practises where it fails: the Train tab's note before Start gives the
    practice figure (docs/experiments/2026-12-07-practice-in-the-train-tab.md)
    and the whole level's beside it."""
    from demo.context import AppContext, AppSettings
    from demo.finetune import cap_note
    from rlcore.profile import profile_of
    from rlcore.systems import get_system

    system = get_system("mario")
    knobs = profile_of(system).knobs
    context = AppContext(AppSettings(checkpoints_dir=Path("checkpoints"), work_dir=tmp_path / "work"))
    from_agent = cap_note(context, system, "mario-1-3-treetop")
    assert 0 < knobs.practice_needs < knobs.start_needs
    assert (
        f"needs about **{knobs.practice_needs:,}**" in from_agent
        and "practises where the agent fails" in from_agent
    )
    assert f"on the whole task it needs about **{knobs.start_needs:,}**" in from_agent
    assert f"{knobs.practice_needs:,}" not in cap_note(context, system, None)  # a new agent does not practise


def test_failure_starts_restore_a_level_start_episodes_own_state_a_few_steps_before_it_died(tmp_path):
    from mario_fake_env import fake_route, make_fake_env

    from rlcore.mario.curriculum import REWIND

    # a fake level whose episodes die after 60-100 frames (15-25 agent steps), its flag out of reach
    env = RouteStarts(make_fake_env(min_frames=60, max_frames=100), fake_route(12), share=0.5, failed=0.5)
    passed: list[list[int]] = []  # x before each step of each level-start episode, up to its death
    starts: list[int] = []
    for seed in range(40):
        _, info = env.reset(seed=seed)
        start, xs, done = info["route_start"], [], False
        if start == FAILED_START:
            starts.append(info["x_pos"])
        while not done:
            xs.append(info["x_pos"])
            _, _, done, _, info = env.step(0)
        if start == LEVEL_START:
            passed.append(xs)
    assert env.failures and len(env.failures) <= len(passed) and starts  # every death kept its state
    rewound = {x for xs in passed for x in xs[-REWIND[1] : len(xs) - REWIND[0] + 1]}
    assert set(starts) <= rewound and len(set(starts)) > 1  # 4-32 steps before a death, varied
    env.failed = 0.0  # off: no episode starts from a failure, none is kept
    env.failures.clear()
    for seed in range(10):
        assert env.reset(seed=seed)[1]["route_start"] != FAILED_START
        env.step(0)
        assert not env.trail


def test_the_route_as_a_demonstration_teaches_its_actions_by_the_margin_loss(tmp_path):
    from rlcore.mario.agent import DEMO_MARGIN, Mario
    from rlcore.mario.curriculum import route_demonstration

    route = Route.load(ROUTE_1_4)
    states, actions = route_demonstration(route)
    assert states.shape == (len(route.steps), 4, 84, 84) and states.dtype == torch.uint8
    assert actions.tolist() == route.steps and not torch.equal(states[0], states[-1])
    agent = Mario(
        config=MarioConfig(stage=4, actions="right_only", starts=str(ROUTE_1_4), demo_weight=1.0, lr=1e-3)
    )
    agent.demo = (states[:8], actions[:8])  # the route's first 8 states: run right (+B) from the start
    before = agent.demo_margin_loss().item()
    for _ in range(100):
        agent.update_Q_online(torch.zeros(1), torch.zeros(1), extra=agent.demo_margin_loss())
    after = agent.demo_margin_loss().item()
    assert 0.0 <= after < before and after < 0.2 * DEMO_MARGIN  # Q_online ranks the route's actions first
    assert (agent.greedy_actions(states[:8]) == actions[:8].numpy()).all()
    with pytest.raises(ValueError, match="--demo-weight and --start-failed need --starts"):
        TrainingRun(MarioConfig(demo_weight=1.0), tmp_path / "run", env_fn=lambda: None)


def test_a_run_with_demo_weight_learns_from_its_own_route_as_the_demonstration(tmp_path):
    from mario_fake_env import fake_route, make_fake_route_env

    fake_route(12).save(tmp_path / "route")  # 12 "right A" steps: replayed on the real 1-1 for its states
    config = MarioConfig(
        starts=str(tmp_path / "route"), demo_weight=1.0, num_envs=1, memory_size=500, pin_cpus=False
    )
    env_fn = lambda: make_fake_route_env(str(tmp_path / "route"), 0.0, min_frames=40, max_frames=200)  # noqa: E731
    run = TrainingRun(config, tmp_path / "run", device="cpu", env_fn=env_fn)
    try:
        states, actions = run.agent.demo
    finally:
        run.close(save=False)
    assert actions.tolist() == [1] * 12 and states.shape == (12, 4, 84, 84)
    assert Route.load(tmp_path / "run").steps == [1] * 12  # the run keeps its copy of the route
