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
    """Defaults are the tutorial's recipe."""

    lr: float = option(2e-3, "Adam learning rate")
    batch_size: int = option(32, "pendulums simulated side by side in each iteration")
    rollout_steps: int = option(100, "steps of each training rollout; the loss is minus the mean reward over them")
    iterations: int = option(20_000 // 32, "optimisation steps (the tutorial: 20_000 // batch_size)")
    lr_t_max: int = option(20_000, "T_max of CosineAnnealingLR, in iterations (the tutorial passes 20_000 "
                                   "though it runs 625 iterations, so its rate barely decays); 0 = iterations")
    rollout_steps_final: int = option(0, "curriculum: when above rollout_steps, the rollout length grows linearly "
                                         "from rollout_steps to this over the run")
    init_from: str = option("", "start from the weights of this checkpoint folder (a second training stage)")
    gradient_decay: float = option(1.0, "fast engine: the gradient shrinks by this factor per step it travels back "
                                        "through the dynamics (1 = exact BPTT, the tutorial; < 1 tames exploding "
                                        "gradients of long rollouts)")
    grad_clip: float = option(1.0, "maximum gradient norm (clip_grad_norm_)")
    seed: int = option(0, "seed of the policy's initial weights and of the random starts")
    engine: Literal["fast", "env"] = option("fast", "fast: rollout on tensors with a hand-written backward "
                                                    "(same trajectories, several times the tutorial's loop per "
                                                    "iteration: bench/pendulum.py); env: the tutorial's env.rollout")
    compile: bool = option(False, "fast engine: compile its forward rollout with torch.compile (inductor, needs a "
                                  "C++ compiler); a one-off compile at the start of the run, then faster iterations")
    g: float = option(10.0, "gravity of the training pendulums (m/s^2)")
    m: float = option(1.0, "mass of the training pendulums' bob (kg; the tutorial's 1)")
    l: float = option(1.0, "length of the training pendulums' rod (m; the tutorial's 1)")  # noqa: E741
    hidden_size: int = option(64, "width of the policy's hidden layers")
    hidden_layers: int = option(3, "number of Tanh hidden layers of the policy")
    squash: bool = option(False, "policy output max_torque * tanh(.) (not the tutorial's): unlike the env's clip, "
                                 "its gradient does not vanish at the torque limit")
    checkpoint_every: int = option(100, "iterations between checkpoint saves (and one at the end)")
    eval_every: int = option(20, "iterations between records of the 200-step evaluation return (seeds 0-9, as "
                                 "`rlcore evaluate`; also at the first and last iteration); 0 = never")
    threads: int = option(1, "torch CPU threads while training (tiny ops: one thread is fastest); 0 = leave as is")

    # Where and how a run computes, not what the agent is: never taken from a checkpoint a run starts
    # from (rlcore.config.learned_part)
    RUNTIME: ClassVar[frozenset[str]] = frozenset({"engine", "compile", "checkpoint_every", "eval_every",
                                                   "threads"})

    # What a config (a checkpoint's, a visitor's) may ask for: the network and a rollout batch stay a
    # few MB (checked before anything is built; rlcore.config.check_bounds)
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "lr": (0.0, 1.0), "batch_size": (1, 4096), "rollout_steps": (1, 10_000), "iterations": (0, 10**8),
        "lr_t_max": (0, 10**9), "rollout_steps_final": (0, 10_000), "gradient_decay": (0.0, 1.0),
        "grad_clip": (0.0, 1e6), "seed": (0, MAX_SEED), "g": (0.0, 100.0), "m": (0.05, 20.0), "l": (0.05, 20.0),
        "hidden_size": (1, 1024), "hidden_layers": (1, 16), "checkpoint_every": (1, 10**8), "eval_every": (0, 10**8),
        "threads": (0, 1024)}


# Named configs (overrides of the tutorial's defaults), for `rlcore train pendulum --preset NAME`.
PRESETS: dict[str, dict] = {
    "tutorial": {},
    # The bundled checkpoints/pendulum-swingup agent. Exact BPTT through the chaotic swing-up gives
    # exploding, noisy gradients (the tutorial's recipe: -249 +/- 181 on 200-step episodes). Shrinking
    # the gradient by 2% per step back in time, over 1500 iterations with the learning rate decaying
    # to 0, gives -148 +/- 87 (recipes tried: checkpoints/pendulum-swingup/README.md).
    "swingup": {"gradient_decay": 0.98, "iterations": 1500, "lr_t_max": 0},
}
