"""The tutorial's policy: a 3x64 Tanh MLP from "observation" [cos th, sin th, thdot] to a torque."""

from __future__ import annotations

import torch
from tensordict.nn import TensorDictModule
from torch import nn

from rlcore.pendulum.config import PendulumConfig

OBSERVATION_SIZE = 3  # [cos th, sin th, thdot]


class TorqueSquash(nn.Module):
    """max_torque * tanh(x): a bounded torque whose gradient never vanishes at the limit (the env's
    clip has zero gradient there). Not in the tutorial; an option of the trainer. No parameters."""

    def __init__(self, max_torque: float = 2.0):
        super().__init__()
        self.max_torque = max_torque

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.max_torque * torch.tanh(x)


def make_policy_net(hidden: int = 64, depth: int = 3, squash: bool = False) -> nn.Sequential:
    """The tutorial's network with its input size written out (the tutorial uses LazyLinear; eager
    layers can take checkpoint weights at once). Same initialisation as LazyLinear once materialised.
    `squash` appends TorqueSquash (same weights, so the same checkpoint layout)."""
    layers: list[nn.Module] = []
    size = OBSERVATION_SIZE
    for _ in range(depth):
        layers += [nn.Linear(size, hidden), nn.Tanh()]
        size = hidden
    layers.append(nn.Linear(size, 1))
    if squash:
        layers.append(TorqueSquash())
    return nn.Sequential(*layers)


def build_net(config: PendulumConfig) -> nn.Sequential:
    """The policy network a config describes (training and loading build the same one)."""
    return make_policy_net(config.hidden_size, config.hidden_layers, squash=config.squash)


def make_policy(net: nn.Module | None = None) -> TensorDictModule:
    """The network as a TensorDictModule reading "observation" and writing "action"."""
    return TensorDictModule(
        net if net is not None else make_policy_net(), in_keys=["observation"], out_keys=["action"]
    )


def observation(
    th: torch.Tensor, thdot: torch.Tensor, out: torch.Tensor | None = None, sin_th: torch.Tensor | None = None
) -> torch.Tensor:
    """The env's "observation" [cos th, sin th, thdot] built from raw state tensors (the transformed
    env's order, CatTensors sorting its keys; also Gymnasium's). `sin_th`: th.sin(), if already computed."""
    return torch.stack([th.cos(), th.sin() if sin_th is None else sin_th, thdot], dim=-1, out=out)
