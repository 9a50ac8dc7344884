"""The evaluation protocol: Wilson intervals, paired comparisons, the protocols map of results.json,
and Mario's sticky / epsilon evaluation (deterministic per seed) on the fake emulator."""

from pathlib import Path

import numpy as np
import pytest
from mario_fake_env import make_fake_env

from rlcore import evaluation
from rlcore.mario.agent import Mario
from rlcore.mario.config import MarioConfig
from rlcore.mario.play import EpsilonActions, evaluate

# ----------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    "successes, n, expected",
    [
        (93, 100, (0.8625, 0.9657)),  # Wilson (1927) by hand: centre 0.9101, half-width 0.0516
        (10, 10, (0.7225, 1.0)),  # all successes: the interval still admits failures
        (0, 10, (0.0, 0.2775)),
        (50, 100, (0.4038, 0.5962)),
    ],
)
def test_wilson_interval_on_known_counts(successes, n, expected):
    low, high = evaluation.wilson_interval(successes, n)
    assert low == pytest.approx(expected[0], abs=1e-4) and high == pytest.approx(expected[1], abs=1e-4)


def test_wilson_interval_refuses_impossible_counts():
    with pytest.raises(ValueError, match="successes <= n"):
        evaluation.wilson_interval(11, 10)


def test_mcnemar_exact_p_values():
    assert evaluation.mcnemar_p_value(0, 0) == 1.0
    assert evaluation.mcnemar_p_value(0, 6) == pytest.approx(2 / 64)  # 2 * (1/2)^6
    assert evaluation.mcnemar_p_value(3, 3) == 1.0
    assert evaluation.mcnemar_p_value(1, 9) == pytest.approx(2 * 11 / 1024)


def _results(returns, flags, seeds=None):
    seeds = seeds or list(range(len(returns)))
    return {
        "protocol": {"name": "greedy"},
        "episodes": [
            {"seed": s, "return": r, "flag_get": f, "length": 5} for s, r, f in zip(seeds, returns, flags)
        ],
    }


def test_paired_comparison_pairs_by_seed():
    a = _results([10.0, 20.0, 30.0, 40.0], [True, False, False, True])
    b = _results([12.0, 21.0, 33.0, 44.0], [True, True, True, False])
    comparison = evaluation.compare_results(a, b)
    assert [p["return_difference"] for p in comparison["per_seed"]] == [2.0, 1.0, 3.0, 4.0]
    ret = comparison["return"]
    assert ret["mean_difference"] == pytest.approx(2.5)
    assert (
        1.0 <= ret["ci95"][0] < 2.5 < ret["ci95"][1] <= 4.0
    )  # every difference is positive: so is the interval
    flags = comparison["flag_get"]
    assert (flags["both"], flags["only_a"], flags["only_b"], flags["neither"]) == (1, 1, 2, 0)
    assert flags["rate_difference"] == pytest.approx(0.25) and flags["mcnemar_p"] == pytest.approx(1.0)
    table = evaluation.comparison_table({"a": "A", "b": "B", **comparison})
    assert "+2.50" in table and "only A 1, only B 2" in table and "paired bootstrap" in table


def test_paired_comparison_refuses_different_seeds():
    with pytest.raises(ValueError, match="same seeds"):
        evaluation.compare_results(_results([1.0], [True], [0]), _results([1.0], [True], [1]))


def test_protocol_names_and_merging_keeps_every_protocol():
    assert evaluation.protocol_name({"sticky": 0.0, "epsilon": 0.0}) == "greedy"
    assert evaluation.protocol_name({"sticky": 0.25, "epsilon": 0.0}) == "sticky_0.25"
    old = {
        "mean_reward": 3083.5,
        "std_reward": 2.7,
        "flag_rate": 1.0,
        "seeds": [0, 1],
    }  # written before protocols
    sticky = {
        "mean_reward": 1500.0,
        "std_reward": 900.0,
        "flag_rate": 0.4,
        "seeds": [0, 1],
        "protocol": {"name": "sticky_0.25", "sticky": 0.25},
    }
    merged = evaluation.merge_protocol(old, sticky)
    assert set(merged["protocols"]) == {"greedy", "sticky_0.25"}
    assert merged["mean_reward"] == 3083.5  # the headline (model-index) stays greedy
    assert "seeds" not in merged  # per-episode lists live in the map only
    again = evaluation.merge_protocol(
        merged, {**sticky, "mean_reward": 1600.0}
    )  # a re-run replaces its protocol
    assert again["protocols"]["sticky_0.25"]["mean_reward"] == 1600.0 and again["mean_reward"] == 3083.5
    assert evaluation.protocols_of(again) == again["protocols"]


def test_episodes_are_capped():
    assert evaluation.check_episodes(1_000) == 1_000
    with pytest.raises(ValueError, match="between 1 and 1,000"):
        evaluation.check_episodes(1_001)


# ----------------------------------------------------------------------------- Mario protocols (fake env)


def _fake_factory(world, stage, actions, *, noop_max, sticky):
    return make_fake_env(noop_max=noop_max, sticky=sticky, min_frames=40, max_frames=160)


class FrameParityMario(Mario):
    """An untrained agent whose greedy action follows the last frame (an untrained net tends to pick one
    action everywhere, and then sticky repeats change nothing to test)."""

    def q_values(self, states):
        best = int(int(np.asarray(states)[-1].mean()) % 3 == 0)
        return np.eye(self.action_dim, dtype=np.float32)[[best]]


@pytest.fixture(scope="module")
def agent():
    return FrameParityMario(config=MarioConfig(noop_max=30, seed=3), memory=False)


def _evaluate(agent, **kwargs):
    return evaluate(agent, episodes=6, seed=10, env_factory=_fake_factory, **kwargs)


@pytest.mark.parametrize("protocol", [{"sticky": 0.25}, {"epsilon": 0.3}, {"sticky": 0.25, "epsilon": 0.3}])
def test_sticky_and_epsilon_evaluations_are_deterministic_per_seed(agent, protocol):
    first, second = _evaluate(agent, **protocol), _evaluate(agent, **protocol)
    assert first["episodes"] == second["episodes"]
    greedy = _evaluate(agent)
    assert [e["return"] for e in first["episodes"]] != [e["return"] for e in greedy["episodes"]]  # it acted
    assert first["protocol"] == {
        "name": evaluation.protocol_name(
            {"sticky": protocol.get("sticky", 0.0), "epsilon": protocol.get("epsilon", 0.0)}
        ),
        "sticky": protocol.get("sticky", 0.0),
        "epsilon": protocol.get("epsilon", 0.0),
        "noop_max": 30,
        "max_steps": 3000,
        "first_seed": 10,
        "episodes": 6,
        **({"sticky_per": "frame (ALE v5)"} if "sticky" in protocol else {}),
    }


def test_mario_results_report_the_flag_rate_interval_and_progress(agent):
    ticks = []
    results = _evaluate(agent, progress=ticks.append)
    assert ticks == [1] * 6
    assert results["flags"] == 0 and results["flag_rate_ci95"] == [0.0, pytest.approx(0.3903, abs=1e-4)]
    assert results["std_x_pos"] >= 0 and results["seeds"] == list(range(10, 16))
    summary = evaluation.results_summary(results)
    assert "flag_get rate  0/6 = 0.0% (95% Wilson interval 0.0% - 39.0%)" in summary
    assert "protocol" in summary and "greedy (sticky 0, epsilon 0, noop_max 30, max_steps 3000)" in summary


def test_epsilon_actions_draw_their_own_stream():
    explorer = EpsilonActions(0.5, 7, seed=4)
    same = EpsilonActions(0.5, 7, seed=4)
    picks = [explorer(lambda: -1) for _ in range(200)]
    assert picks == [same(lambda: -1) for _ in range(200)]
    assert 0.35 < picks.count(-1) / 200 < 0.65 and set(picks) - {-1} <= set(range(7))
    assert all(EpsilonActions(0.0, 7, seed=4)(lambda: -1) == -1 for _ in range(50))
    with pytest.raises(ValueError, match="probability"):
        EpsilonActions(1.5, 7, seed=0)


def test_on_the_emulator_an_episode_depends_only_on_its_seed():
    """The bundled agent under sticky actions and epsilon-random actions: seed 1 played alone is the
    second episode of seeds 0-1 (the fake env's frames carry over between episodes, the emulator's do not)."""
    bundled = Path(__file__).resolve().parents[1] / "checkpoints" / "mario-1-1"
    protocol = {"sticky": 0.25, "epsilon": 0.3, "max_steps": 150}  # the first 150 steps: enough to differ
    pair = evaluate(bundled, episodes=2, seed=0, **protocol)
    alone = evaluate(bundled, episodes=1, seed=1, **protocol)
    assert alone["episodes"][0] == pair["episodes"][1]
    greedy = evaluate(bundled, episodes=1, seed=1, max_steps=150)
    assert alone["episodes"][0] != greedy["episodes"][0]  # the protocol changed the play


def test_mario_snapshot_curve_has_greedy_and_sticky_points_and_skips_what_is_done(tmp_path, agent):
    import types

    from rlcore.snapshots import SNAPSHOT_PLOT_FILE, evaluate_snapshots, read_evaluations

    calls = []

    def evaluate_on_fake_env(folder, **kwargs):
        calls.append((Path(folder).name, kwargs.get("sticky", 0.0)))
        return evaluate(Mario.load(folder), env_factory=_fake_factory, **kwargs)

    system = types.SimpleNamespace(evaluate=evaluate_on_fake_env)
    for step in (100, 50):
        agent.curr_step = step
        agent.save(tmp_path / "snapshots" / f"step-{step:08d}")
    lines = list(
        evaluate_snapshots(tmp_path, system, [{}, {"sticky": 0.25}], episodes=3, seed=0, progress=False)
    )
    assert len(lines) == 4 and lines[0].startswith("step-00000050 greedy: return ")
    curve = read_evaluations(tmp_path)
    assert [(e["step"], e["protocol"]["name"]) for e in curve] == [
        (50, "greedy"),
        (50, "sticky_0.25"),
        (100, "greedy"),
        (100, "sticky_0.25"),
    ]
    assert curve[1]["rates"]["flag_get"] == {
        "count": 0,
        "rate": 0.0,
        "ci95": [0.0, pytest.approx(0.5615, abs=1e-4)],
    }
    assert (tmp_path / SNAPSHOT_PLOT_FILE).is_file()
    calls.clear()
    assert list(evaluate_snapshots(tmp_path, system, [{}, {"sticky": 0.25}], episodes=3, seed=0)) == []
    assert calls == []  # resumed: nothing evaluated twice


def test_every_kth_snapshot_keeps_the_first_and_the_last_and_stays_put_as_a_run_grows():
    from rlcore.snapshots import every_kth

    run = [(step, Path(f"step-{step:08d}")) for step in range(10, 80, 10)]  # 7 snapshots
    assert [s for s, _ in every_kth(run, 1)] == [10, 20, 30, 40, 50, 60, 70]
    assert [s for s, _ in every_kth(run, 3)] == [10, 40, 70]
    assert [s for s, _ in every_kth(run, 4)] == [10, 50, 70]
    assert [s for s, _ in every_kth(run[:6], 3)] == [10, 40, 60]  # earlier: 10 and 40 already there
    assert every_kth([], 2) == []
    with pytest.raises(ValueError, match="every must be >= 1"):
        every_kth(run, 0)
