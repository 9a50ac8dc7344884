"""Training, resuming, checkpoints, evaluation and play of the pendulum system (through its api)."""

import json
import threading
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rlcore import checkpoint as ckpt
from rlcore.metrics import read_metrics
from rlcore.pendulum import api
from rlcore.pendulum.env import gen_params, initial_state_of_seed, params_as_floats, random_initial_state
from rlcore.pendulum.rollout import tensor_rollout
from rlcore.pendulum.train import PLOT_FILE, PendulumConfig, read_records, train
from rlcore.resolve import resolve_config

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN = dict(iterations=60, lr=5e-3, checkpoint_every=20)


def _score(checkpoint) -> float:
    """Mean reward of 100-step rollouts from 256 fixed random starts (the training objective)."""
    net = api.load(checkpoint).net
    th, thdot = random_initial_state((256,), torch.Generator().manual_seed(123))
    with torch.no_grad():
        return tensor_rollout(net, th, thdot, params_as_floats(gen_params()), 100).reward.mean().item()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pendulum")
    records = list(api.train(api.Config(**TRAIN), out / "trained", device="cpu"))
    list(api.train(api.Config(**{**TRAIN, "iterations": 0}), out / "untrained", device="cpu"))
    return out / "trained", out / "untrained", records


def test_training_lowers_the_cost(trained):
    checkpoint, untrained, records = trained
    before, after = _score(untrained), _score(checkpoint)
    assert before < -5.5  # the random policy mostly hangs down
    assert after > before + 0.8, (before, after)


def test_training_writes_a_checkpoint_with_metrics_and_plot(trained):
    checkpoint, _, records = trained
    assert [r["step"] for r in records] == list(range(1, 61))
    assert {"step", "reward_per_step", "return", "last_reward", "grad_norm", "lr"} <= set(records[0])
    assert all(r["grad_norm"] > 0 and np.isfinite(r["reward_per_step"]) for r in records)
    assert [r["step"] for r in records if "return" in r] == [1, 20, 40, 60]  # eval_every 20, first and last
    assert read_metrics(checkpoint / ckpt.METRICS_FILE) == records
    assert (checkpoint / PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = ckpt.load_config(checkpoint, system="pendulum")
    assert document["algorithm"] == api.ALGORITHM and document["env_id"] == "Pendulum-v1"
    assert document["config"]["iterations"] == 60 and document["iterations_done"] == 60


def test_the_live_return_is_the_200_step_return_that_evaluate_reports(trained):
    """One meaning of "return": the last record's is results.json's mean_reward for the same weights
    (evaluate's default episodes), a 200-step sum, not the per-step mean the loss uses."""
    checkpoint, _, records = trained
    results = api.evaluate(checkpoint, episodes=10, seed=0)
    assert records[-1]["return"] == pytest.approx(results["mean_reward"], rel=1e-5)
    assert (
        records[-1]["return"] < 40 * records[-1]["reward_per_step"]
    )  # about 200x a per-step figure, both < 0


def test_records_of_older_runs_read_their_per_step_return_as_reward_per_step(tmp_path):
    old = {"step": 1, "return": -6.4, "last_reward": -6.7}  # checkpoints/pendulum-swingup's metrics.jsonl
    new = {"step": 2, "reward_per_step": -6.2, "last_reward": -6.4, "return": -1150.0}
    (tmp_path / ckpt.METRICS_FILE).write_text(json.dumps(old) + "\n" + json.dumps(new) + "\n")
    assert read_records(tmp_path) == [{"step": 1, "reward_per_step": -6.4, "last_reward": -6.7}, new]
    bundled = read_records(REPO_ROOT / "checkpoints" / "pendulum-swingup")
    assert bundled and all("return" not in r and r["reward_per_step"] < 0 for r in bundled)


def test_resume_continues_exactly(tmp_path):
    config = PendulumConfig(iterations=12, batch_size=8, rollout_steps=20, checkpoint_every=4, eval_every=5)
    whole = list(train(config, tmp_path / "whole"))
    stop = threading.Event()
    first = []
    for record in train(config, tmp_path / "split", stop=stop):
        first.append(record)
        if record["step"] == 6:
            stop.set()  # saves at step 6 (between the checkpoints at 4 and 8) and returns
    assert first[-1]["step"] == 6
    rest = list(train(config, tmp_path / "split", resume=True))
    assert [r["step"] for r in rest] == list(range(7, 13))
    for a, b in zip(whole, first + rest):
        assert a.keys() == b.keys()
        for key in {"reward_per_step", "return"} & a.keys():
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7)
    w1 = ckpt.load_tensors(tmp_path / "whole" / ckpt.WEIGHTS_FILE)
    w2 = ckpt.load_tensors(tmp_path / "split" / ckpt.WEIGHTS_FILE)
    for name in w1:
        torch.testing.assert_close(w1[name], w2[name], rtol=1e-6, atol=1e-7)
    assert [r["step"] for r in read_metrics(tmp_path / "split" / ckpt.METRICS_FILE)] == list(range(1, 13))


def test_env_engine_and_fast_engine_train_the_same(tmp_path):
    """Same seed: same initial weights, same random starts, same rollouts -> the same updates."""
    base = dict(iterations=3, batch_size=8, rollout_steps=25)
    fast = list(train(PendulumConfig(**base, engine="fast"), tmp_path / "fast"))
    env = list(train(PendulumConfig(**base, engine="env"), tmp_path / "env"))
    for a, b in zip(fast, env):
        assert a["reward_per_step"] == pytest.approx(b["reward_per_step"], rel=1e-4)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-3)


def test_checkpoint_round_trip_gives_identical_actions(trained, tmp_path):
    checkpoint, _, _ = trained
    agent = api.load(checkpoint)
    ckpt.save_checkpoint(
        tmp_path,
        system="pendulum",
        algorithm=api.ALGORITHM,
        env_id=api.ENV_ID,
        config=ckpt.load_config(checkpoint)["config"],
        state_dict=agent.net.state_dict(),
    )
    again = api.load(tmp_path)
    observations = torch.randn(64, 3)
    assert torch.equal(agent.act(observations), again.act(observations))
    saved = ckpt.load_tensors(checkpoint / ckpt.WEIGHTS_FILE)
    assert all(torch.equal(saved[k], v) for k, v in again.net.state_dict().items())
    td = agent.policy(make_td(observations))
    torch.testing.assert_close(td["action"], agent.net(observations))


def make_td(observations):
    from tensordict import TensorDict

    return TensorDict({"observation": observations}, batch_size=[observations.shape[0]])


def _corrupt(checkpoint, tmp_path, edit):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in (ckpt.WEIGHTS_FILE, ckpt.CONFIG_FILE):
        (broken / name).write_bytes((checkpoint / name).read_bytes())
    edit(broken)
    return broken


def _edit_config(**changes):
    def edit(directory):
        document = json.loads((directory / ckpt.CONFIG_FILE).read_text())
        document["config"].update(changes.get("config", {}))
        document.update({k: v for k, v in changes.items() if k != "config"})
        (directory / ckpt.CONFIG_FILE).write_text(json.dumps(document))

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: (d / ckpt.WEIGHTS_FILE).unlink(), r"model\.safetensors: missing"),
        (
            lambda d: (d / ckpt.WEIGHTS_FILE).write_bytes((d / ckpt.WEIGHTS_FILE).read_bytes()[:500]),
            r"model\.safetensors: not a readable safetensors file",
        ),
        (lambda d: torch.save({"x": torch.zeros(1)}, d / ckpt.WEIGHTS_FILE), r"model\.safetensors: .*pickle"),
        (
            _edit_config(config={"hidden_size": 32}),
            r"model\.safetensors: tensor '0\.weight' has shape \(64, 3\)",
        ),
        (
            lambda d: save_file({"0.weight": torch.zeros(64, 3)}, str(d / ckpt.WEIGHTS_FILE)),
            r"model\.safetensors: weights do not match .*missing",
        ),
        (_edit_config(config={"learning_rate": 1.0}), r"config\.json: unknown field\(s\) learning_rate"),
        (_edit_config(system="mario"), r"config\.json: a mario checkpoint, expected a pendulum checkpoint"),
        (lambda d: (d / ckpt.CONFIG_FILE).write_text("{not json"), r"config\.json: not valid JSON"),
    ],
)
def test_bad_checkpoint_files_give_one_clear_line(trained, tmp_path, edit, message):
    broken = _corrupt(trained[0], tmp_path, edit)
    with pytest.raises(ckpt.CheckpointError, match=message) as error:
        api.load(broken)
    assert "\n" not in str(error.value) and str(broken) in str(error.value)


def test_evaluate_reports_gymnasium_measure_and_play_replays_its_episodes(trained):
    checkpoint, _, _ = trained
    results = api.evaluate(checkpoint, episodes=5, seed=3)
    assert results["n_eval_episodes"] == 5 and results["seeds"] == [3, 4, 5, 6, 7]
    assert results["episode_steps"] == 200
    assert results["mean_reward"] == pytest.approx(np.mean(results["episode_rewards"]), abs=1e-3)
    assert results["std_reward"] == pytest.approx(np.std(results["episode_rewards"]), abs=1e-3)
    episode = api.play(checkpoint, api.PlayOptions(seed=4, steps=200))
    assert episode.summary["return"] == pytest.approx(results["episode_rewards"][1], abs=1e-3)
    assert episode.summary["last_reward"] == pytest.approx(results["last_rewards"][1], abs=1e-5)


def test_evaluate_agrees_with_gymnasium_pendulum(trained):
    """The same policy from the same starts in Gymnasium's own Pendulum-v1 earns the same returns."""
    checkpoint, _, _ = trained
    agent = api.load(checkpoint)
    results = api.evaluate(checkpoint, episodes=3, seed=0)
    env = gym.make("Pendulum-v1")
    for seed, expected in zip(results["seeds"], results["episode_rewards"]):
        env.reset(seed=0)
        th, thdot = initial_state_of_seed(seed)
        env.unwrapped.state = np.array([th.item(), thdot.item()], dtype=np.float64)
        obs = np.array([np.cos(th.item()), np.sin(th.item()), thdot.item()], dtype=np.float32)
        total, steps, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs).numpy())
            total += reward
            steps += 1
            done = terminated or truncated
        assert steps == 200
        assert total == pytest.approx(expected, rel=2e-3, abs=0.1)


def test_play_uses_the_viewer_physics(trained):
    checkpoint, _, _ = trained
    normal = api.play(checkpoint, api.PlayOptions(seed=1, steps=30))
    heavy = api.play(checkpoint, api.PlayOptions(seed=1, steps=30, g=20.0, m=2.0, l=0.5))
    assert len(normal.frames) == 31 and normal.fps == 20
    assert normal.trace[0]["th"] == heavy.trace[0]["th"]  # same start
    assert normal.trace[-1]["th"] != pytest.approx(heavy.trace[-1]["th"], abs=1e-3)
    assert heavy.summary["g"] == 20.0 and heavy.summary["l"] == 0.5


def test_curriculum_grows_the_rollout_and_init_from_starts_from_a_checkpoint(trained, tmp_path):
    from rlcore.pendulum.train import rollout_steps

    config = PendulumConfig(
        iterations=5,
        batch_size=4,
        rollout_steps=10,
        rollout_steps_final=30,
        init_from=str(trained[0]),
        lr=0.0,
    )
    assert [rollout_steps(config, i) for i in range(5)] == [10, 15, 20, 25, 30]
    records = list(train(config, tmp_path))
    assert [r["rollout_steps"] for r in records] == [10, 15, 20, 25, 30]
    # lr 0: the weights stay those of the checkpoint it started from
    start = ckpt.load_tensors(trained[0] / ckpt.WEIGHTS_FILE)
    end = ckpt.load_tensors(tmp_path / ckpt.WEIGHTS_FILE)
    assert all(torch.equal(start[k], end[k]) for k in start)


def test_presets(tmp_path):
    assert resolve_config(api.SYSTEM, preset="tutorial") == api.Config()
    swingup = resolve_config(api.SYSTEM, preset="swingup", overrides={"seed": 3})
    assert swingup.gradient_decay < 1 and swingup.seed == 3 and swingup.engine == "fast"
    with pytest.raises(ValueError, match="unknown Pendulum preset 'fastest'"):
        resolve_config(api.SYSTEM, preset="fastest")
    with pytest.raises(ValueError, match="engine='fast'"):
        list(train(PendulumConfig(engine="env", gradient_decay=0.9, iterations=1), tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.gpu
def test_training_on_cuda_gives_a_checkpoint_that_loads_on_cpu(tmp_path):
    records = list(
        train(PendulumConfig(iterations=5, batch_size=16, rollout_steps=30), tmp_path, device="cuda")
    )
    assert len(records) == 5 and all(np.isfinite(r["reward_per_step"]) for r in records)
    agent = api.load(tmp_path)  # weights saved from the GPU, loaded on the CPU
    assert next(agent.net.parameters()).device.type == "cpu"
    assert api.evaluate(tmp_path, episodes=3)["n_eval_episodes"] == 3
