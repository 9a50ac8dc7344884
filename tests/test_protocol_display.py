"""Cards and the Agents table show greedy and sticky figures side by side when results.json has both."""

from pathlib import Path

from hub_server import make_checkpoint
from huggingface_hub import ModelCard

from rlcore.evaluation import merge_protocol
from rlcore.modelcard import build_model_card

GREEDY = {
    "mean_reward": 3083.5,
    "std_reward": 2.7,
    "mean_x_pos": 3161.0,
    "flag_rate": 1.0,
    "flags": 100,
    "flag_rate_ci95": [0.963, 1.0],
    "n_eval_episodes": 100,
    "seeds": list(range(100)),
    "protocol": {"name": "greedy", "sticky": 0.0, "epsilon": 0.0},
}
STICKY = {
    **GREEDY,
    "mean_reward": 1500.0,
    "std_reward": 900.0,
    "mean_x_pos": 2000.0,
    "flag_rate": 0.4,
    "flags": 40,
    "flag_rate_ci95": [0.309, 0.498],
    "protocol": {"name": "sticky_0.25", "sticky": 0.25, "epsilon": 0.0},
}


def _mario(folder: Path, results: dict) -> Path:
    return make_checkpoint(
        folder, system="mario", algorithm="Double DQN", env_id="SuperMarioBros-1-1-v0", results=results
    )


def test_the_card_puts_protocols_side_by_side_and_keeps_greedy_in_the_model_index(tmp_path):
    folder = _mario(tmp_path / "mario", merge_protocol(merge_protocol(None, GREEDY), STICKY))
    card = ModelCard(build_model_card(folder, "alice/mario"))
    assert "| metric | greedy | sticky_0.25 |" in card.text
    assert "| flag rate | 100% (95% CI 96%-100%) | 40% (95% CI 31%-50%) |" in card.text
    assert "| mean reward (+/- std) | 3083.50 +/- 2.70 | 1500.00 +/- 900.00 |" in card.text
    metrics = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert metrics["mean_reward"] == "3083.50 +/- 2.70" and metrics["flag_rate"] == 1.0


def test_the_agents_table_shows_the_sticky_flag_rate_beside_the_greedy_one(tmp_path):
    from demo.agents import agent_row
    from demo.catalog import Agent

    agent = Agent(ref="mario", path=tmp_path, system="mario", source="bundled")
    both = agent_row(agent, merge_protocol(merge_protocol(None, GREEDY), STICKY))
    assert (both["flag rate"], both["sticky flag (per frame, ALE v5)"], both["mean return"]) == (
        1.0,
        0.4,
        3083.5,
    )
    greedy_only = agent_row(
        agent, {k: v for k, v in GREEDY.items() if k != "protocol"}
    )  # an older results.json
    assert (greedy_only["flag rate"], greedy_only["sticky flag (per frame, ALE v5)"]) == (1.0, None)
    # figures of the older per-agent-step stickiness are never shown as the standard (per frame, ALE v5) one
    step_sticky = {**STICKY, "protocol": {**STICKY["protocol"], "name": "step_sticky_0.25"}}
    older = agent_row(agent, merge_protocol(merge_protocol(None, GREEDY), step_sticky))
    assert (older["flag rate"], older["sticky flag (per frame, ALE v5)"]) == (1.0, None)


def test_the_card_has_the_snapshot_learning_curve_and_push_carries_it(tmp_path):
    from rlcore.checkpoint import atomic_write_json
    from rlcore.hub import files_to_push
    from rlcore.snapshots import SNAPSHOT_EVALS_FILE, curve_entry, plot_curve

    folder = _mario(tmp_path / "mario", GREEDY)
    episodes = [{"seed": s, "return": 1.0, "flag_get": False} for s in range(4)]
    evaluations = []
    for step, greedy_flags, sticky_flags in ((25_000, 1, 0), (50_000, 4, 3)):
        for protocol, flags in (({"name": "greedy"}, greedy_flags), ({"name": "sticky_0.25"}, sticky_flags)):
            results = {
                "mean_reward": 1.0,
                "n_eval_episodes": 4,
                "protocol": protocol,
                "episodes": [{**e, "flag_get": e["seed"] < flags} for e in episodes],
            }
            evaluations.append(curve_entry(step, f"step-{step:08d}", results))
    atomic_write_json(folder / SNAPSHOT_EVALS_FILE, {"evaluations": evaluations})
    plot_curve(evaluations, folder / "snapshot_evals.png")
    text = build_model_card(folder, "alice/mario")
    assert "| training steps | greedy | sticky_0.25 |" in text
    assert "| 25000 | 1/4 (return 1.0) | 0/4 (return 1.0) |" in text
    assert "| 50000 | 4/4 (return 1.0) | 3/4 (return 1.0) |" in text
    assert "![snapshot_evals](snapshot_evals.png)" in text
    assert {folder / SNAPSHOT_EVALS_FILE, folder / "snapshot_evals.png"} <= set(files_to_push(folder))


def test_the_learning_curve_says_where_a_backward_curriculum_started_its_episodes(tmp_path):
    from rlcore.checkpoint import atomic_write_json
    from rlcore.modelcard import snapshot_section
    from rlcore.snapshots import SNAPSHOT_EVALS_FILE, curve_entry

    folder = _mario(tmp_path / "mario", GREEDY)
    results = {
        "mean_reward": 1.0,
        "n_eval_episodes": 1,
        "protocol": {"name": "greedy"},
        "episodes": [{"seed": 0, "return": 1.0, "flag_get": True}],
    }
    atomic_write_json(
        folder / SNAPSHOT_EVALS_FILE,
        {"evaluations": [curve_entry(s, f"step-{s:08d}", results) for s in (1000, 3000)]},
    )
    records = [{"step": 900, "start_x": 2962}, {"step": 2000, "start_x": 1767}, {"step": 3500, "start_x": 40}]
    text = "\n".join(snapshot_section(folder, records))
    assert "| training steps | greedy | training episodes started at |" in text
    assert "| 1000 | 1/1 (return 1.0) | x 2,962 |" in text and "| 3000 | 1/1 (return 1.0) | x 1,767 |" in text
    assert "started at" not in "\n".join(snapshot_section(folder, [{"step": 900, "x_pos": 1.0}]))
