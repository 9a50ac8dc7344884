"""The Pendulum system behind rlcore.systems' contract (used by the CLI, the Hub code and the app)."""

from __future__ import annotations

import dataclasses
import datetime
import statistics
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from rlcore import checkpoint as ckpt
from rlcore.config import MAX_SEED, check_bounds, check_seeds, option
from rlcore.evaluation import check_episodes, protocol_name
from rlcore.pendulum import ALGORITHM, ENV_ID, NAME
from rlcore.pendulum.env import GRAVITY, LENGTH, MASS, MAX_TORQUE, gen_params, initial_state_of_seed, params_as_floats
from rlcore.pendulum.export import EXPORT_FILE, export_torchscript
from rlcore.pendulum.policy import make_policy
from rlcore.pendulum.render import render_episode
from rlcore.pendulum.rollout import tensor_rollout
from rlcore.pendulum.train import PRESETS, PendulumConfig, build_net, config_from_checkpoint, preset
from rlcore.pendulum.train import train as _train
from rlcore.runtime import resolve_device
from rlcore.systems import Episode

__all__ = ["NAME", "ALGORITHM", "ENV_ID", "Config", "PlayOptions", "PRESETS", "preset", "PendulumAgent", "train",
           "load", "evaluate", "play", "evaluate_net", "EPISODE_STEPS", "EXPORT_FILE", "export"]

Config = PendulumConfig
EPISODE_STEPS = 200  # Gymnasium Pendulum-v1's episode length (its TimeLimit)


@dataclasses.dataclass
class PlayOptions:
    seed: int = option(0, "random start of the episode (evaluate's episode with the same seed)")
    g: float = option(GRAVITY, "gravity (m/s^2)")
    m: float = option(MASS, "mass of the bob (kg)")
    l: float = option(LENGTH, "length of the rod (m)")  # noqa: E741
    steps: int = option(EPISODE_STEPS, "steps to play (dt = 0.05 s each)")

    # a frame is 300 KB: 1,000 steps are a 33 s video and at most ~300 MB of frames per render
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "seed": (0, MAX_SEED), "g": (0.1, 100.0), "m": (0.05, 20.0), "l": (0.05, 20.0), "steps": (1, 1000)}


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


def train(config: PendulumConfig, out_dir, *, resume: bool = False, device: str = "auto",
          stop: threading.Event | None = None, progress: bool = False) -> Iterator[dict]:
    return _train(config, out_dir, resume=resume, device=device, stop=stop, progress=progress)


train.__doc__ = _train.__doc__


def load(checkpoint, device: str = "cpu") -> PendulumAgent:
    """Rebuild the policy described by config.json and load model.safetensors into it. The config's
    bounds and the weights' header are checked first, so a bad checkpoint costs no memory."""
    directory = ckpt.checkpoint_dir(checkpoint)
    config = config_from_checkpoint(directory)
    ckpt.check_weights_file(directory, ckpt.meta_state_dict(lambda: build_net(config)))
    net = build_net(config)
    ckpt.load_weights_into(net, directory)
    net.to(resolve_device(device)).eval()
    return PendulumAgent(net=net, config=config, checkpoint=directory)


@torch.no_grad()
def evaluate_net(net: nn.Module, episodes: int = 10, seed: int = 0, steps: int = EPISODE_STEPS) -> dict:
    """Returns and last-step rewards of `episodes` rollouts of `steps` steps; episode i starts from
    the random start of seed `seed + i` (play(seed=seed + i) replays it). Default physics (g 10, m 1, l 1)."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    check_seeds(seed, episodes)
    seeds = list(range(seed, seed + episodes))
    starts = [initial_state_of_seed(s) for s in seeds]
    device = next(net.parameters()).device
    th = torch.stack([s[0] for s in starts]).to(device)
    thdot = torch.stack([s[1] for s in starts]).to(device)
    traj = tensor_rollout(net, th, thdot, params_as_floats(gen_params()), steps)
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


def evaluate(checkpoint, episodes: int = 10, seed: int = 0, *,
             progress: Callable[[int], None] | None = None) -> dict:
    """Gymnasium Pendulum-v1's measure: the return of 200-step episodes from random starts
    (see evaluate_net), with the mean last-step reward; the results.json document. All episodes run
    as one batch: `progress(episodes)` is called once at the end."""
    check_episodes(episodes)
    results = evaluate_net(load(checkpoint).net, episodes, seed, EPISODE_STEPS)
    if progress is not None:
        progress(episodes)
    protocol = {"name": protocol_name({}), "episode_steps": EPISODE_STEPS, "first_seed": seed, "episodes": episodes}
    per_episode = [{"seed": s, "return": r, "last_reward": last} for s, r, last in
                   zip(results["seeds"], results["episode_rewards"], results["last_rewards"])]
    return {"system": NAME, "env_id": ENV_ID, "algorithm": ALGORITHM, **results, "protocol": protocol,
            "episodes": per_episode,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def export(checkpoint, path=None) -> Path:
    """Write the policy as agent.pt (the Open RL Leaderboard's TorchScript format, see export.py) to
    `path`, by default into the checkpoint folder."""
    agent = load(checkpoint)
    return export_torchscript(agent.net, path if path is not None else agent.checkpoint / EXPORT_FILE)


def play(checkpoint, options: PlayOptions | None = None) -> Episode:
    """One episode rendered as frames (rlcore.video.write_mp4(path, episode.frames, episode.fps))."""
    options = options or PlayOptions()
    check_bounds(options, "play options")
    agent = load(checkpoint)
    episode = render_episode(agent.net, options.seed, g=options.g, m=options.m, l=options.l, steps=options.steps)
    return episode
