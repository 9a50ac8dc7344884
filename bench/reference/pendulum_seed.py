"""TorchRL's Pendulum tutorial ("Pendulum: writing your environment and transforms with TorchRL",
pytorch.org/tutorials/advanced/pendulum.html; seed /work/shared/seeds/002_*.txt from line 1216),
as written, for benchmarks.

Changes forced by torchrl 0.14 / tensordict 0.14 (each marked `# 0.14:` below):
- `BoundedTensorSpec` / `CompositeSpec` / `UnboundedContinuousTensorSpec` were removed: the same
  specs are now `Bounded` / `Composite` / `Unbounded` from `torchrl.data`.
- `UnsqueezeTransform(unsqueeze_dim=-1, ...)` is now `UnsqueezeTransform(dim=-1, ...)`.
Everything else (physics, params, transforms, LazyLinear MLP, the training loop, its seeds and
hyperparameters) is the tutorial's code. The module-level script of the tutorial is wrapped into
`make_seed_env`, `make_seed_policy` and `train_seed` so a bench can call it; the tutorial's tqdm
progress bar is kept (disabled unless `progress=True`) and its final `plot()` is left out.
"""

import time
from collections import defaultdict
from typing import Optional

import numpy as np
import torch
import tqdm
from tensordict.nn import TensorDictModule
from tensordict.tensordict import TensorDict, TensorDictBase
from torch import nn

from torchrl.data import Bounded, Composite, Unbounded  # 0.14: were BoundedTensorSpec, CompositeSpec, UnboundedContinuousTensorSpec
from torchrl.envs import (
    CatTensors,
    EnvBase,
    Transform,
    TransformedEnv,
    UnsqueezeTransform,
)
from torchrl.envs.transforms.transforms import _apply_to_composite
from torchrl.envs.utils import check_env_specs, step_mdp

DEFAULT_X = np.pi
DEFAULT_Y = 1.0


def _step(tensordict):
    th, thdot = tensordict["th"], tensordict["thdot"]  # th := theta

    g_force = tensordict["params", "g"]
    mass = tensordict["params", "m"]
    length = tensordict["params", "l"]
    dt = tensordict["params", "dt"]
    u = tensordict["action"].squeeze(-1)
    u = u.clamp(-tensordict["params", "max_torque"], tensordict["params", "max_torque"])
    costs = angle_normalize(th) ** 2 + 0.1 * thdot**2 + 0.001 * (u**2)

    new_thdot = (
        thdot
        + (3 * g_force / (2 * length) * th.sin() + 3.0 / (mass * length**2) * u) * dt
    )
    new_thdot = new_thdot.clamp(
        -tensordict["params", "max_speed"], tensordict["params", "max_speed"]
    )
    new_th = th + new_thdot * dt
    reward = -costs.view(*tensordict.shape, 1)
    done = torch.zeros_like(reward, dtype=torch.bool)
    out = TensorDict(
        {
            "th": new_th,
            "thdot": new_thdot,
            "params": tensordict["params"],
            "reward": reward,
            "done": done,
        },
        tensordict.shape,
    )
    return out


def angle_normalize(x):
    return ((x + torch.pi) % (2 * torch.pi)) - torch.pi


def _reset(self, tensordict):
    if tensordict is None or tensordict.is_empty():
        # if no ``tensordict`` is passed, we generate a single set of hyperparameters
        # Otherwise, we assume that the input ``tensordict`` contains all the relevant
        # parameters to get started.
        tensordict = self.gen_params(batch_size=self.batch_size)

    high_th = torch.tensor(DEFAULT_X, device=self.device)
    high_thdot = torch.tensor(DEFAULT_Y, device=self.device)
    low_th = -high_th
    low_thdot = -high_thdot

    # for non batch-locked environments, the input ``tensordict`` shape dictates the number
    # of simulators run simultaneously. In other contexts, the initial
    # random state's shape will depend upon the environment batch-size instead.
    th = (
        torch.rand(tensordict.shape, generator=self.rng, device=self.device)
        * (high_th - low_th)
        + low_th
    )
    thdot = (
        torch.rand(tensordict.shape, generator=self.rng, device=self.device)
        * (high_thdot - low_thdot)
        + low_thdot
    )
    out = TensorDict(
        {
            "th": th,
            "thdot": thdot,
            "params": tensordict["params"],
        },
        batch_size=tensordict.shape,
    )
    return out


def _make_spec(self, td_params):
    # Under the hood, this will populate self.output_spec["observation"]
    self.observation_spec = Composite(  # 0.14: was CompositeSpec
        th=Bounded(  # 0.14: was BoundedTensorSpec
            low=-torch.pi,
            high=torch.pi,
            shape=(),
            dtype=torch.float32,
        ),
        thdot=Bounded(  # 0.14: was BoundedTensorSpec
            low=-td_params["params", "max_speed"],
            high=td_params["params", "max_speed"],
            shape=(),
            dtype=torch.float32,
        ),
        # we need to add the ``params`` to the observation specs, as we want
        # to pass it at each step during a rollout
        params=make_composite_from_td(td_params["params"]),
        shape=(),
    )
    # since the environment is stateless, we expect the previous output as input.
    # For this, ``EnvBase`` expects some state_spec to be available
    self.state_spec = self.observation_spec.clone()
    # action-spec will be automatically wrapped in input_spec when
    # `self.action_spec = spec` will be called supported
    self.action_spec = Bounded(  # 0.14: was BoundedTensorSpec
        low=-td_params["params", "max_torque"],
        high=td_params["params", "max_torque"],
        shape=(1,),
        dtype=torch.float32,
    )
    self.reward_spec = Unbounded(shape=(*td_params.shape, 1))  # 0.14: was UnboundedContinuousTensorSpec


def make_composite_from_td(td):
    # custom function to convert a ``tensordict`` in a similar spec structure
    # of unbounded values.
    composite = Composite(  # 0.14: was CompositeSpec
        {
            key: make_composite_from_td(tensor)
            if isinstance(tensor, TensorDictBase)
            else Unbounded(  # 0.14: was UnboundedContinuousTensorSpec
                dtype=tensor.dtype, device=tensor.device, shape=tensor.shape
            )
            for key, tensor in td.items()
        },
        shape=td.shape,
    )
    return composite


def _set_seed(self, seed: Optional[int]):
    rng = torch.manual_seed(seed)
    self.rng = rng


def gen_params(g=10.0, batch_size=None) -> TensorDictBase:
    """Returns a ``tensordict`` containing the physical parameters such as gravitational force and torque or speed limits."""
    if batch_size is None:
        batch_size = []
    td = TensorDict(
        {
            "params": TensorDict(
                {
                    "max_speed": 8,
                    "max_torque": 2.0,
                    "dt": 0.05,
                    "g": g,
                    "m": 1.0,
                    "l": 1.0,
                },
                [],
            )
        },
        [],
    )
    if batch_size:
        td = td.expand(batch_size).contiguous()
    return td


class PendulumEnv(EnvBase):
    metadata = {
        "render_modes": ["human", "rgb_array"],
        "render_fps": 30,
    }
    batch_locked = False

    def __init__(self, td_params=None, seed=None, device="cpu"):
        if td_params is None:
            td_params = self.gen_params()

        super().__init__(device=device, batch_size=[])
        self._make_spec(td_params)
        if seed is None:
            seed = torch.empty((), dtype=torch.int64).random_().item()
        self.set_seed(seed)

    # Helpers: _make_step and gen_params
    gen_params = staticmethod(gen_params)
    _make_spec = _make_spec

    # Mandatory methods: _step, _reset and _set_seed
    _reset = _reset
    _step = staticmethod(_step)
    _set_seed = _set_seed


class SinTransform(Transform):
    def _apply_transform(self, obs: torch.Tensor) -> None:
        return obs.sin()

    # The transform must also modify the data at reset time
    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        return self._call(tensordict_reset)

    # _apply_to_composite will execute the observation spec transform across all
    # in_keys/out_keys pairs and write the result in the observation_spec which
    # is of type ``Composite``
    @_apply_to_composite
    def transform_observation_spec(self, observation_spec):
        return Bounded(  # 0.14: was BoundedTensorSpec
            low=-1,
            high=1,
            shape=observation_spec.shape,
            dtype=observation_spec.dtype,
            device=observation_spec.device,
        )


class CosTransform(Transform):
    def _apply_transform(self, obs: torch.Tensor) -> None:
        return obs.cos()

    # The transform must also modify the data at reset time
    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        return self._call(tensordict_reset)

    # _apply_to_composite will execute the observation spec transform across all
    # in_keys/out_keys pairs and write the result in the observation_spec which
    # is of type ``Composite``
    @_apply_to_composite
    def transform_observation_spec(self, observation_spec):
        return Bounded(  # 0.14: was BoundedTensorSpec
            low=-1,
            high=1,
            shape=observation_spec.shape,
            dtype=observation_spec.dtype,
            device=observation_spec.device,
        )


def make_seed_env(seed: Optional[int] = 0) -> TransformedEnv:
    """The tutorial's env: PendulumEnv + Unsqueeze(th, thdot) + sin/cos(th) + CatTensors -> "observation".

    The tutorial builds `PendulumEnv()` with a seed drawn from torch's global RNG; `seed` makes it
    deterministic (None keeps the tutorial's behaviour). The observation is [cos, sin, thdot]:
    CatTensors sorts its in_keys.
    """
    env = PendulumEnv(seed=seed)
    env = TransformedEnv(
        env,
        # ``Unsqueeze`` the observations that we will concatenate
        UnsqueezeTransform(
            dim=-1,  # 0.14: was unsqueeze_dim=-1
            in_keys=["th", "thdot"],
            in_keys_inv=["th", "thdot"],
        ),
    )
    t_sin = SinTransform(in_keys=["th"], out_keys=["sin"])
    t_cos = CosTransform(in_keys=["th"], out_keys=["cos"])
    env.append_transform(t_sin)
    env.append_transform(t_cos)
    cat_transform = CatTensors(
        in_keys=["sin", "cos", "thdot"], dim=-1, out_key="observation", del_keys=False
    )
    env.append_transform(cat_transform)
    return env


def make_seed_policy() -> TensorDictModule:
    """The tutorial's policy: a LazyLinear 64-64-64-1 Tanh MLP reading "observation", writing "action".

    Its weights are materialised on the first forward; `policy.module` is the tutorial's `net`.
    """
    net = nn.Sequential(
        nn.LazyLinear(64),
        nn.Tanh(),
        nn.LazyLinear(64),
        nn.Tanh(),
        nn.LazyLinear(64),
        nn.Tanh(),
        nn.LazyLinear(1),
    )
    policy = TensorDictModule(
        net,
        in_keys=["observation"],
        out_keys=["action"],
    )
    return policy


def train_seed(
    iterations: int = 20_000 // 32,
    batch_size: int = 32,
    rollout_steps: int = 100,
    seed: int = 0,
    progress: bool = False,
    env: Optional[TransformedEnv] = None,
) -> dict:
    """Run the tutorial's training loop as written and time it.

    Loop (the tutorial's): torch.manual_seed(seed); env.set_seed(seed); Adam(lr=2e-3);
    CosineAnnealingLR(optim, 20_000); per iteration: reset a batch of `batch_size` pendulums,
    roll out `rollout_steps` steps with the policy, backprop -mean(reward), clip grad norm 1.0, step.

    Timing: `seconds` / `it_per_s` cover iterations 2..N only; iteration 1 (which also materialises
    the LazyLinear weights) is reported apart as `first_iteration_seconds`. Environment and policy
    construction are not timed. `final_return` / `final_last_reward` are the mean reward over the
    last iteration's rollout and its last step (the tutorial's "reward" and "last reward").
    """
    if env is None:
        env = make_seed_env(seed)
    torch.manual_seed(seed)
    env.set_seed(seed)
    policy = make_seed_policy()
    net = policy.module
    optim = torch.optim.Adam(policy.parameters(), lr=2e-3)

    pbar = tqdm.tqdm(range(iterations), disable=not progress)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optim, 20_000)
    logs = defaultdict(list)
    first_iteration_seconds = 0.0
    start = time.perf_counter()
    for iteration in pbar:
        init_td = env.reset(env.gen_params(batch_size=[batch_size]))
        rollout = env.rollout(rollout_steps, policy, tensordict=init_td, auto_reset=False)
        traj_return = rollout["next", "reward"].mean()
        (-traj_return).backward()
        gn = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optim.step()
        optim.zero_grad()
        pbar.set_description(
            f"reward: {traj_return: 4.4f}, "
            f"last reward: {rollout[..., -1]['next', 'reward'].mean(): 4.4f}, gradient norm: {gn: 4.4}"
        )
        logs["return"].append(traj_return.item())
        logs["last_reward"].append(rollout[..., -1]["next", "reward"].mean().item())
        scheduler.step()
        if iteration == 0:  # lazy init happens here: time it apart
            first_iteration_seconds = time.perf_counter() - start
            start = time.perf_counter()
    seconds = time.perf_counter() - start
    timed_iterations = max(iterations - 1, 0)
    return {
        "iterations": iterations,
        "timed_iterations": timed_iterations,
        "seconds": seconds,
        "it_per_s": timed_iterations / seconds if timed_iterations else float("nan"),
        "first_iteration_seconds": first_iteration_seconds,
        "final_return": logs["return"][-1],
        "final_last_reward": logs["last_reward"][-1],
        "logs": dict(logs),
        "policy": policy,
    }


__all__ = [
    "PendulumEnv",
    "SinTransform",
    "CosTransform",
    "gen_params",
    "angle_normalize",
    "make_seed_env",
    "make_seed_policy",
    "train_seed",
    "check_env_specs",
    "step_mdp",
]


def main():
    """`python -m bench.reference.pendulum_seed [--threads N]`: the seed's full run, as `name: value` lines."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--iterations", type=int, default=20_000 // 32)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    result = train_seed(iterations=args.iterations)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"load average before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")
    print(f"seed iterations: {result['iterations']}")
    print(f"seed first iteration s: {result['first_iteration_seconds']:.3f}")
    print(f"seed it/s: {result['it_per_s']:.2f}")
    print(f"seed final return: {result['final_return']:.4f}")
    print(f"seed final last reward: {result['final_last_reward']:.4f}")


if __name__ == "__main__":
    main()
