"""Evaluation and play-back of a trained pendulum policy: Gymnasium Pendulum-v1's measure, RGB episodes."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from rlcore import checkpoint as ckpt
from rlcore.config import check_seeds
from rlcore.pendulum.config import PendulumConfig
from rlcore.pendulum.env import MAX_TORQUE, gen_params, initial_state_of_seed, params_as_floats
from rlcore.pendulum.policy import build_net, make_policy
from rlcore.pendulum.rollout import tensor_rollout
from rlcore.runtime import resolve_device

EPISODE_STEPS = 200  # Gymnasium Pendulum-v1's episode length (its TimeLimit)


@dataclasses.dataclass
class PendulumAgent:
    """A loaded policy: `net` maps [cos th, sin th, thdot] to a torque; `policy` is its TensorDictModule."""

    net: nn.Sequential
    config: PendulumConfig
    checkpoint: Path

    @property
    def policy(self):
        return make_policy(self.net)

    @torch.no_grad()
    def act(self, observation) -> torch.Tensor:
        """Torque(s) for observation(s) [..., 3] = [cos th, sin th, thdot] (Gymnasium's order), clipped."""
        obs = torch.as_tensor(observation, dtype=torch.float32, device=next(self.net.parameters()).device)
        return self.net(obs).clamp(-MAX_TORQUE, MAX_TORQUE)


def load_agent(directory: Path, config: PendulumConfig, device: str = "cpu") -> PendulumAgent:
    """Rebuild the policy `config` describes and load the folder's model.safetensors into it. The config's
    bounds and the weights' header are checked first, so a bad checkpoint costs no memory."""
    ckpt.check_weights_file(directory, ckpt.meta_state_dict(lambda: build_net(config)))  # before any memory
    net = build_net(config)
    ckpt.load_weights_into(net, directory, probe=torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 8.0]]))
    net.to(resolve_device(device)).eval()
    return PendulumAgent(net=net, config=config, checkpoint=directory)


@torch.no_grad()
def evaluate_net(
    net: nn.Module,
    episodes: int = 10,
    seed: int = 0,
    steps: int = EPISODE_STEPS,
    physics: Mapping[str, float] | None = None,
) -> dict:
    """Returns and last-step rewards of `episodes` rollouts of `steps` steps; episode i starts from
    the random start of seed `seed + i` (play(seed=seed + i) replays it). Default physics (g 10, m 1, l 1)
    unless `physics` gives gen_params' g, m or l."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    check_seeds(seed, episodes)
    seeds = list(range(seed, seed + episodes))
    starts = [initial_state_of_seed(s) for s in seeds]
    device = next(net.parameters()).device
    th = torch.stack([s[0] for s in starts]).to(device)
    thdot = torch.stack([s[1] for s in starts]).to(device)
    traj = tensor_rollout(net, th, thdot, params_as_floats(gen_params(**(physics or {}))), steps)
    returns = traj.reward.sum(0).tolist()
    last_rewards = traj.reward[-1].tolist()
    return {
        "mean_reward": statistics.fmean(returns),
        "std_reward": statistics.pstdev(returns),
        "mean_last_reward": statistics.fmean(last_rewards),
        "std_last_reward": statistics.pstdev(last_rewards),
        "n_eval_episodes": episodes,
        "episode_steps": steps,
        "deterministic": True,
        "seeds": seeds,
        "episode_rewards": [round(r, 4) for r in returns],
        "last_rewards": [round(r, 8) for r in last_rewards],
    }
