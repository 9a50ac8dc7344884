"""agent.pt, the Open RL Leaderboard's format: loaded with torch.jit.load alone, it plays Gymnasium's own
Pendulum-v1 and earns the returns `rlcore evaluate` reports on the same seeds.

What matches and how: rlcore's episode `seed` starts from initial_state_of_seed(seed) (a torch generator),
which is NOT the start Gymnasium's reset(seed=seed) draws (numpy's generator). So each Gymnasium
episode is reset and then set to rlcore's start state explicitly; from there both run the same
equations (Gymnasium in float64, rlcore in float32) for 200 steps. The torques agree to float32
rounding, and so do the returns (the test allows 0.01 per episode)."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlcore.cli import main
from rlcore.pendulum import api
from rlcore.pendulum.env import initial_state_of_seed

SEEDS = range(0, 8)
BUNDLED = Path(__file__).resolve().parents[1] / "checkpoints" / "pendulum-swingup"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "agent.pt"
    assert main(["export", str(BUNDLED), "--out", str(out)]) == 0
    return out


def _gymnasium_return(policy, seed: int) -> float:
    env = gym.make("Pendulum-v1")
    env.reset(seed=seed)
    th, thdot = (v.item() for v in initial_state_of_seed(seed))
    env.unwrapped.state = np.array([th, thdot], dtype=np.float64)  # rlcore's start for this seed
    obs = env.unwrapped._get_obs()
    total, done = 0.0, False
    while not done:
        with torch.no_grad():
            torque = policy(torch.as_tensor(obs, dtype=torch.float32).reshape(1, 3))
        assert torque.shape == (1, 1) and torque.dtype == torch.float32
        obs, reward, terminated, truncated, _ = env.step(torque[0].numpy())
        total += float(reward)
        done = terminated or truncated
    env.close()
    return total


def test_agent_pt_plays_gymnasium_pendulum_with_rlcore_evaluate_returns(exported):
    code = (
        "import sys, torch; m = torch.jit.load(sys.argv[1]); "
        "print(m(torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 2.0]])).tolist())"
    )
    alone = subprocess.run(
        [sys.executable, "-c", code, str(exported)], capture_output=True, text=True, check=True
    )
    assert len(eval(alone.stdout)) == 2  # loads with torch alone: no rlcore import needed
    policy = torch.jit.load(str(exported))
    results = api.evaluate(str(BUNDLED), episodes=len(SEEDS), seed=SEEDS[0])
    returns = [_gymnasium_return(policy, seed) for seed in SEEDS]
    assert returns == pytest.approx(results["episode_rewards"], rel=0, abs=0.01)


def test_agent_pt_gives_the_policys_torques_on_a_batch(exported):
    policy = torch.jit.load(str(exported))
    agent = api.load(str(BUNDLED))
    th = torch.linspace(-3.1, 3.1, 64)
    obs = torch.stack([th.cos(), th.sin(), torch.linspace(-8, 8, 64)], dim=1)
    torques = policy(obs)
    assert torques.shape == (64, 1)
    assert torch.equal(torques, agent.act(obs))  # the same float32 network and clip
    assert torques.abs().max() <= 2.0
