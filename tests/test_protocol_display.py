"""Cards and the Agents table show greedy and sticky figures side by side when results.json has both."""

from pathlib import Path

from huggingface_hub import ModelCard
from hub_server import make_checkpoint

from rlcore.evaluation import merge_protocol
from rlcore.modelcard import build_model_card

GREEDY = {"mean_reward": 3083.5, "std_reward": 2.7, "mean_x_pos": 3161.0, "flag_rate": 1.0, "flags": 100,
          "flag_rate_ci95": [0.963, 1.0], "n_eval_episodes": 100, "seeds": list(range(100)),
          "protocol": {"name": "greedy", "sticky": 0.0, "epsilon": 0.0}}
STICKY = {**GREEDY, "mean_reward": 1500.0, "std_reward": 900.0, "mean_x_pos": 2000.0, "flag_rate": 0.4, "flags": 40,
          "flag_rate_ci95": [0.309, 0.498], "protocol": {"name": "sticky_0.25", "sticky": 0.25, "epsilon": 0.0}}


def _mario(folder: Path, results: dict) -> Path:
    return make_checkpoint(folder, system="mario", algorithm="Double DQN", env_id="SuperMarioBros-1-1-v0",
                           results=results)


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
    assert (both["flag rate"], both["sticky flag"], both["mean return"]) == (1.0, 0.4, 3083.5)
    greedy_only = agent_row(agent, {k: v for k, v in GREEDY.items() if k != "protocol"})  # an older results.json
    assert (greedy_only["flag rate"], greedy_only["sticky flag"]) == (1.0, None)
