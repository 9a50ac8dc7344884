"""The tutorial's transforms (sin/cos of the angle, concatenated into "observation") and rollouts."""

from __future__ import annotations

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded
from torchrl.envs import CatTensors, EnvBase, Transform, TransformedEnv, UnsqueezeTransform
from torchrl.envs.transforms.transforms import _apply_to_composite
from torchrl.envs.utils import step_mdp

from rlcore.pendulum.env import PendulumEnv

OBSERVATION_KEYS = ["sin", "cos", "thdot"]  # CatTensors sorts them: "observation" = [cos, sin, thdot]


class _UnitIntervalTransform(Transform):
    """A transform whose outputs lie in [-1, 1] and that also applies at reset."""

    # the output of reset must carry the transformed keys too (the next step reads them)
    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        return self._call(tensordict_reset)

    @_apply_to_composite
    def transform_observation_spec(self, observation_spec):
        return Bounded(
            low=-1,
            high=1,
            shape=observation_spec.shape,
            dtype=observation_spec.dtype,
            device=observation_spec.device,
        )


class SinTransform(_UnitIntervalTransform):
    def _apply_transform(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.sin()


class CosTransform(_UnitIntervalTransform):
    def _apply_transform(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.cos()


def make_env(
    seed: int | None = None, td_params: TensorDictBase | None = None, device="cpu"
) -> TransformedEnv:
    """PendulumEnv with the tutorial's transforms: "observation" = [cos th, sin th, thdot]
    (Gymnasium's order)."""
    env = TransformedEnv(
        PendulumEnv(td_params=td_params, seed=seed, device=device),
        # unsqueezed so they can be concatenated; squeezed back (inverse) before the next step reads them
        UnsqueezeTransform(dim=-1, in_keys=["th", "thdot"], in_keys_inv=["th", "thdot"]),
    )
    env.append_transform(SinTransform(in_keys=["th"], out_keys=["sin"]))
    env.append_transform(CosTransform(in_keys=["th"], out_keys=["cos"]))
    # del_keys=False keeps th/thdot: the stateless env needs them at the next step
    env.append_transform(CatTensors(in_keys=OBSERVATION_KEYS, dim=-1, out_key="observation", del_keys=False))
    return env


def simple_rollout(env: EnvBase, steps: int = 100) -> TensorDictBase:
    """The tutorial's hand-written rollout with random actions (what env.rollout does, spelled out)."""
    data = TensorDict({}, [steps])
    _data = env.reset()
    for i in range(steps):
        _data["action"] = env.action_spec.rand()
        _data = env.step(_data)
        data[i] = _data
        _data = step_mdp(_data, keep_other=True)
    return data
