"""The Pendulum policy in the Open RL Leaderboard's format: agent.pt, a TorchScript module.

The leaderboard loads `agent.pt` with `torch.jit.load` and calls it on a batch of Gymnasium
Pendulum-v1 observations [cos th, sin th, thdot] (float32, shape (B, 3)), expecting torques (B, 1).
Our policy network already reads that observation in that order (TorchRL's CatTensors sorts the
keys the same way); the module adds the clip to the env's torque range that Gymnasium applies too.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from rlcore.checkpoint import EXPORT_FILE, atomic_path
from rlcore.pendulum.env import MAX_TORQUE

__all__ = ["EXPORT_FILE", "LeaderboardPolicy", "export_torchscript"]


class LeaderboardPolicy(nn.Module):
    """observations (B, 3) float32 [cos th, sin th, thdot] -> torques (B, 1) in [-max_torque, max_torque]."""

    def __init__(self, net: nn.Module, max_torque: float = MAX_TORQUE):
        super().__init__()
        self.net = net
        self.max_torque = max_torque

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations).clamp(-self.max_torque, self.max_torque)


def export_torchscript(net: nn.Module, path: str | os.PathLike) -> Path:
    """Script the policy (CPU, float32, eval mode) and save it atomically to `path`."""
    module = LeaderboardPolicy(net).to("cpu", torch.float32).eval()
    with atomic_path(path, suffix=".pt") as tmp, warnings.catch_warnings():
        # torch 2.14 deprecates TorchScript; the leaderboard still reads it
        warnings.filterwarnings("ignore", ".*deprecated.*", FutureWarning)
        torch.jit.save(torch.jit.script(module), str(tmp))
    return Path(path)
