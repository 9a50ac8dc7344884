"""The pendulum: its physics as pure functions, and the stateless, batched TorchRL env around them.

`pendulum_dynamics` and `pendulum_reward` are the single source of truth for how a pendulum moves
and what it earns. `PendulumEnv._step` (the tutorial's env), the fast training rollout
(rlcore.pendulum.rollout) and the renderer all call them. They are Gymnasium's Pendulum-v1 equations
(tests/test_pendulum_env.py compares them with Gymnasium step by step):

    u'          = clip(u, -max_torque, max_torque)
    reward      = -(angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u'^2)
    thdot_next  = clip(thdot + (3 g / (2 l) sin(th) + 3 / (m l^2) u') dt, -max_speed, max_speed)
    th_next     = th + thdot_next dt

Angles follow Gymnasium: 0 is upright, th grows anticlockwise. As in the tutorial and Gymnasium, th
is not wrapped after a step, so a spinning pendulum's th leaves the [-pi, pi] of the th spec.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Composite, Unbounded
from torchrl.envs import EnvBase
from torchrl.envs.utils import make_composite_from_td

# Random starts, as in the tutorial and Gymnasium: th uniform in [-DEFAULT_X, DEFAULT_X],
# thdot uniform in [-DEFAULT_Y, DEFAULT_Y].
DEFAULT_X = math.pi
DEFAULT_Y = 1.0

# The physical constants of gen_params (the tutorial's values, also Gymnasium Pendulum-v1's).
MAX_SPEED = 8
MAX_TORQUE = 2.0
DT = 0.05
GRAVITY = 10.0
MASS = 1.0
LENGTH = 1.0

Params = Mapping[str, Any]  # "g", "m", "l", "dt", "max_speed", "max_torque": floats or tensors


# ------------------------------------------------------------------------------ the physics


def angle_normalize(x: torch.Tensor) -> torch.Tensor:
    """Wrap an angle into [-pi, pi)."""
    return ((x + torch.pi) % (2 * torch.pi)) - torch.pi


def clip_torque(u: torch.Tensor, params: Params) -> torch.Tensor:
    return u.clamp(-params["max_torque"], params["max_torque"])


def pendulum_reward(th: torch.Tensor, thdot: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Reward of being at (th, thdot) and applying the (already clipped) torque u; 0 is the best."""
    return -(angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * (u**2))


def pendulum_dynamics(
    th: torch.Tensor, thdot: torch.Tensor, u: torch.Tensor, params: Params, sin_th: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Euler step of the pendulum under the (already clipped) torque u -> (th_next, thdot_next).

    `params` values may be tensors shaped like th (a batch of pendulums) or plain floats (fewer ops:
    the fast training path passes floats). `sin_th` is th.sin() when the caller already has it.
    """
    g, m, length, dt = params["g"], params["m"], params["l"], params["dt"]
    max_speed = params["max_speed"]
    sin_th = th.sin() if sin_th is None else sin_th  # the fast path's observation already holds sin(th)
    gravity_gain = 3 * g / (2 * length) * dt  # thdot gained per unit of sin(th) in one step
    torque_gain = 3.0 / (m * length**2) * dt  # thdot gained per unit of torque in one step
    # Not wrapped into [-pi, pi], as in the tutorial and Gymnasium: reward and dynamics read th only
    # through 2*pi-periodic functions (sin, cos, angle_normalize), so the motion is the same either way.
    if not isinstance(
        gravity_gain + torque_gain + dt + max_speed, torch.Tensor
    ):  # any tensor makes the sum one
        # float constants: 4 fused ops instead of 8 (the fast path's step costs one dispatch per op)
        new_thdot = torch.add(thdot, sin_th, alpha=gravity_gain).add_(u, alpha=torque_gain)
        new_thdot.clamp_(-max_speed, max_speed)
        return torch.add(th, new_thdot, alpha=dt), new_thdot
    new_thdot = (thdot + gravity_gain * sin_th + torque_gain * u).clamp(-max_speed, max_speed)
    new_th = th + new_thdot * dt
    return new_th, new_thdot


def pendulum_step(
    th: torch.Tensor, thdot: torch.Tensor, u: torch.Tensor, params: Params
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clip the torque, score the current state, step -> (th_next, thdot_next, reward)."""
    u = clip_torque(u, params)
    reward = pendulum_reward(th, thdot, u)
    new_th, new_thdot = pendulum_dynamics(th, thdot, u, params)
    return new_th, new_thdot, reward


def random_initial_state(
    shape, generator: torch.Generator | None = None, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tutorial's (and Gymnasium's) random start: th in [-pi, pi], thdot in [-1, 1], uniform."""
    th = torch.rand(shape, generator=generator, device=device) * (2 * DEFAULT_X) - DEFAULT_X
    thdot = torch.rand(shape, generator=generator, device=device) * (2 * DEFAULT_Y) - DEFAULT_Y
    return th, thdot


def initial_state_of_seed(seed: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The start of the episode with this seed (evaluate's episode `seed` and play(seed) agree)."""
    generator = torch.Generator(device=device or "cpu")
    generator.manual_seed(int(seed))
    return random_initial_state((), generator, device)


def params_as_floats(td_params: TensorDictBase) -> dict[str, float]:
    """The physical constants of an unbatched gen_params() tensordict as Python floats."""
    params = td_params["params"] if "params" in td_params.keys() else td_params
    return {key: float(value.reshape(-1)[0]) for key, value in params.items()}


# ------------------------------------------------------------------------------ the env


def gen_params(
    g: float = GRAVITY,
    batch_size=None,
    m: float = MASS,
    l: float = LENGTH,  # noqa: E741
    device=None,
) -> TensorDictBase:
    """A tensordict with the physical parameters (gravity, mass, length, limits) under "params"."""
    if batch_size is None:
        batch_size = []
    td = TensorDict(
        {
            "params": TensorDict(
                {
                    "max_speed": MAX_SPEED,
                    "max_torque": MAX_TORQUE,
                    "dt": DT,
                    "g": g,
                    "m": m,
                    "l": l,
                },
                [],
            )
        },
        [],
        device=device,
    )
    if batch_size:
        td = td.expand(batch_size).contiguous()
    return td


class PendulumEnv(EnvBase):
    """The tutorial's stateless pendulum: state and physical params travel in the tensordict.

    Not batch-locked: the batch size of the tensordict given to reset() (see gen_params(batch_size=))
    decides how many pendulums run at once, without rebuilding the env.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 30}
    batch_locked = False

    def __init__(self, td_params: TensorDictBase | None = None, seed: int | None = None, device="cpu"):
        if td_params is None:
            td_params = self.gen_params()
        super().__init__(device=device, batch_size=[])
        self._make_spec(td_params)
        if seed is None:
            seed = torch.empty((), dtype=torch.int64).random_().item()
        self.set_seed(seed)

    gen_params = staticmethod(gen_params)

    def _make_spec(self, td_params: TensorDictBase) -> None:
        self.observation_spec = Composite(
            th=Bounded(low=-torch.pi, high=torch.pi, shape=(), dtype=torch.float32),
            thdot=Bounded(
                low=-td_params["params", "max_speed"],
                high=td_params["params", "max_speed"],
                shape=(),
                dtype=torch.float32,
            ),
            # params are part of the observation so that they travel along a rollout
            params=make_composite_from_td(td_params["params"], unsqueeze_null_shapes=False),
            shape=(),
        )
        # stateless: the previous output is the next input
        self.state_spec = self.observation_spec.clone()
        self.action_spec = Bounded(
            low=-td_params["params", "max_torque"],
            high=td_params["params", "max_torque"],
            shape=(1,),
            dtype=torch.float32,
        )
        self.reward_spec = Unbounded(shape=(*td_params.shape, 1))

    @staticmethod
    def _step(tensordict: TensorDictBase) -> TensorDictBase:
        params = tensordict["params"]
        u = tensordict["action"].squeeze(-1)
        new_th, new_thdot, reward = pendulum_step(tensordict["th"], tensordict["thdot"], u, params)
        reward = reward.view(*tensordict.shape, 1)
        done = torch.zeros_like(reward, dtype=torch.bool)
        return TensorDict(
            {"th": new_th, "thdot": new_thdot, "params": params, "reward": reward, "done": done},
            tensordict.shape,
        )

    def _reset(self, tensordict: TensorDictBase | None, **kwargs) -> TensorDictBase:
        if tensordict is None or "params" not in tensordict.keys():
            # no params given: one pendulum with the default physics
            tensordict = self.gen_params(batch_size=self.batch_size, device=self.device)
        shape = tensordict.shape  # not batch-locked: the input's shape sets how many pendulums
        th, thdot = random_initial_state(shape, self.rng, self.device)
        return TensorDict({"th": th, "thdot": thdot, "params": tensordict["params"]}, batch_size=shape)

    def _set_seed(self, seed: int | None) -> None:
        # the env's own generator: seeding it never touches torch's global RNG
        rng = torch.Generator(device=self.device)
        rng.manual_seed(int(seed) if seed is not None else torch.seed())
        self.rng = rng
