"""Hyperparameters of the Pendulum trainer: the tutorial's values are the defaults.

`PendulumConfig()` is the tutorial's recipe; `PRESETS` holds documented variants (the bundled agent's
"swingup"), each change saying why. `rlcore.resolve.resolve_config` applies them.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from rlcore.config import MAX_SEED, option


@dataclasses.dataclass
class PendulumConfig:
    """Defaults are the tutorial's recipe. The bounds (ge, le) are what a config (a checkpoint's, a visitor's)
    may ask for: the network and a rollout batch stay a few MB, checked before anything is built."""

    lr: float = option(2e-3, "Adam learning rate", ge=0.0, le=1.0)
    batch_size: int = option(32, "pendulums simulated side by side in each iteration", ge=1, le=4096)
    rollout_steps: int = option(
        100, "steps of each training rollout; the loss is minus the mean reward over them", ge=1, le=10_000
    )
    iterations: int = option(
        20_000 // 32, "optimisation steps (the tutorial: 20_000 // batch_size)", ge=0, le=10**8
    )
    lr_t_max: int = option(
        20_000,
        "T_max of CosineAnnealingLR, in iterations (the tutorial passes 20_000 "
        "though it runs 625 iterations, so its rate barely decays); 0 = iterations",
        ge=0,
        le=10**9,
    )
    rollout_steps_final: int = option(
        0,
        "curriculum: when above rollout_steps, the rollout length grows linearly "
        "from rollout_steps to this over the run",
        ge=0,
        le=10_000,
    )
    init_from: str = option("", "start from the weights of this checkpoint folder (a second training stage)")
    gradient_decay: float = option(
        1.0,
        "fast engine: the gradient shrinks by this factor per step it travels back "
        "through the dynamics (1 = exact BPTT, the tutorial; < 1 tames exploding "
        "gradients of long rollouts)",
        ge=0.0,
        le=1.0,
    )
    grad_clip: float = option(1.0, "maximum gradient norm (clip_grad_norm_)", ge=0.0, le=1e6)
    seed: int = option(0, "seed of the policy's initial weights and of the random starts", ge=0, le=MAX_SEED)
    engine: Literal["fast", "env"] = option(
        "fast",
        "fast: rollout on tensors with a hand-written backward "
        "(same trajectories, several times the tutorial's loop per "
        "iteration: bench/pendulum.py); env: the tutorial's env.rollout",
    )
    compile: bool = option(
        False,
        "fast engine: compile its forward rollout with torch.compile (inductor, needs a "
        "C++ compiler); a one-off compile at the start of the run, then faster iterations",
    )
    g: float = option(10.0, "gravity of the training pendulums (m/s^2)", ge=0.0, le=100.0)
    m: float = option(1.0, "mass of the training pendulums' bob (kg; the tutorial's 1)", ge=0.05, le=20.0)
    l: float = option(1.0, "length of the training pendulums' rod (m; the tutorial's 1)", ge=0.05, le=20.0)  # noqa: E741
    hidden_size: int = option(64, "width of the policy's hidden layers", ge=1, le=1024)
    hidden_layers: int = option(3, "number of Tanh hidden layers of the policy", ge=1, le=16)
    squash: bool = option(
        False,
        "policy output max_torque * tanh(.) (not the tutorial's): unlike the env's clip, "
        "its gradient does not vanish at the torque limit",
    )
    checkpoint_every: int = option(
        100, "iterations between checkpoint saves (and one at the end)", ge=1, le=10**8
    )
    eval_every: int = option(
        20,
        "iterations between records of the 200-step evaluation return (seeds 0-9, as "
        "`rlcore evaluate`; also at the first and last iteration); 0 = never",
        ge=0,
        le=10**8,
    )
    threads: int = option(
        1,
        "torch CPU threads while training (tiny ops: one thread is fastest); 0 = leave as is",
        ge=0,
        le=1024,
    )

    # Where and how a run computes, not what the agent is: never taken from a checkpoint a run starts
    # from (rlcore.config.learned_part)
    RUNTIME: ClassVar[frozenset[str]] = frozenset(
        {"engine", "compile", "checkpoint_every", "eval_every", "threads"}
    )


# Named configs (overrides of the tutorial's defaults), for `rlcore train pendulum --preset NAME`.
PRESETS: dict[str, dict] = {
    "tutorial": {},
    # The bundled checkpoints/pendulum-swingup agent. Exact BPTT through the chaotic swing-up gives
    # exploding, noisy gradients (the tutorial's recipe: -249 +/- 181 on 200-step episodes). Shrinking
    # the gradient by 2% per step back in time, over 1500 iterations with the learning rate decaying
    # to 0, gives -148 +/- 87 (recipes tried: checkpoints/pendulum-swingup/README.md).
    "swingup": {"gradient_decay": 0.98, "iterations": 1500, "lr_t_max": 0},
}
