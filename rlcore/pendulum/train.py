"""Training the pendulum policy by backpropagating minus the mean reward through its rollouts.

The tutorial's loop, one iteration:
    reset `batch_size` pendulums at random starts -> roll the policy out for `rollout_steps` steps
    -> loss = -mean(reward) -> backward through the whole rollout -> clip grad norm -> Adam step
    -> CosineAnnealingLR step.
`engine="env"` runs it through the TorchRL env (env.rollout, as the tutorial); `engine="fast"` runs
the same rollout on plain tensors (rlcore.pendulum.rollout, proven equal by the tests).
"""

from __future__ import annotations

import ctypes
import dataclasses
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import torch
from torch import nn

from rlcore import checkpoint as ckpt
from rlcore.config import MAX_SEED, check_bounds, from_dict, option, to_dict
from rlcore.metrics import MetricsFile, plot_metrics, read_metrics
from rlcore.pendulum import ALGORITHM, ENV_ID, NAME
from rlcore.pendulum.env import gen_params, params_as_floats, random_initial_state
from rlcore.pendulum.policy import make_policy, make_policy_net
from rlcore.pendulum.rollout import fast_rollout
from rlcore.runtime import resolve_device

PLOT_FILE = "training.png"


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
                                                    "(same trajectories, about 10.5x the tutorial's loop per "
                                                    "iteration here); env: the tutorial's env.rollout")
    compile: bool = option(False, "fast engine: compile its forward rollout with torch.compile (inductor, needs a "
                                  "C++ compiler); a one-off compile of ~5 s (warm cache) to a minute, then faster")
    g: float = option(10.0, "gravity of the training pendulums (m and l are 1, as in the tutorial)")
    hidden_size: int = option(64, "width of the policy's hidden layers")
    hidden_layers: int = option(3, "number of Tanh hidden layers of the policy")
    squash: bool = option(False, "policy output max_torque * tanh(.) (not the tutorial's): unlike the env's clip, "
                                 "its gradient does not vanish at the torque limit")
    checkpoint_every: int = option(100, "iterations between checkpoint saves (and one at the end)")
    threads: int = option(1, "torch CPU threads while training (tiny ops: one thread is fastest); 0 = leave as is")

    # What a config (a checkpoint's, a visitor's) may ask for: the network and a rollout batch stay a
    # few MB (checked before anything is built; rlcore.config.check_bounds)
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "lr": (0.0, 1.0), "batch_size": (1, 4096), "rollout_steps": (1, 10_000), "iterations": (0, 10**8),
        "lr_t_max": (0, 10**9), "rollout_steps_final": (0, 10_000), "gradient_decay": (0.0, 1.0),
        "grad_clip": (0.0, 1e6), "seed": (0, MAX_SEED), "g": (0.0, 100.0), "hidden_size": (1, 1024),
        "hidden_layers": (1, 16), "checkpoint_every": (1, 10**8), "threads": (0, 1024)}


# Named configs (overrides of the tutorial's defaults), for `rlcore train pendulum --preset NAME`.
PRESETS: dict[str, dict] = {
    "tutorial": {},
    # The bundled checkpoints/pendulum-swingup agent. Exact BPTT through the chaotic swing-up gives
    # exploding, noisy gradients (the tutorial's recipe: -249 +/- 181 on 200-step episodes). Shrinking
    # the gradient by 2% per step back in time, over 1500 iterations with the learning rate decaying
    # to 0, gives -148 +/- 87 (recipes tried: checkpoints/pendulum-swingup/README.md).
    "swingup": {"gradient_decay": 0.98, "iterations": 1500, "lr_t_max": 0},
}


def preset(name: str = "tutorial", **overrides) -> PendulumConfig:
    """A PRESETS config with `overrides` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown Pendulum preset {name!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PendulumConfig(), **{**PRESETS[name], **overrides})


def build_net(config: PendulumConfig) -> nn.Sequential:
    return make_policy_net(config.hidden_size, config.hidden_layers, squash=config.squash)


def config_from_checkpoint(path) -> PendulumConfig:
    document = ckpt.load_config(path, system=NAME)
    try:
        return from_dict(PendulumConfig, document["config"], source=str(Path(path) / ckpt.CONFIG_FILE))
    except ValueError as err:
        raise ckpt.CheckpointError(str(err)) from None


TRAINING_STATE_KEYS = ("iteration", "optimizer", "scheduler")


def save(out_dir: Path, config: PendulumConfig, net: nn.Module, iteration: int, optimizer, scheduler,
         generator: torch.Generator) -> None:
    """What resuming needs first, as ONE file (weights, optimizer, RNG and counters: a crash between
    two writes can never pair one iteration's weights with another's state), then the playable
    checkpoint (weights + config), then the plot."""
    optim_tensors, optim_meta = ckpt.flatten_optimizer_state(optimizer.state_dict())
    weights = {f"net.{name}": value for name, value in net.state_dict().items()}
    ckpt.save_training_state(out_dir, {**optim_tensors, **weights, "rng.starts": generator.get_state()},
                             {"iteration": iteration, "optimizer": optim_meta, "scheduler": scheduler.state_dict()})
    ckpt.save_checkpoint(out_dir, system=NAME, algorithm=ALGORITHM, env_id=ENV_ID, config=to_dict(config),
                         state_dict=net.state_dict(), extra={"iterations_done": iteration})
    records = read_metrics(out_dir / ckpt.METRICS_FILE)
    if records:
        plot_metrics(records, "step", ["return", "last_reward"], out_dir / PLOT_FILE,
                     title=f"Pendulum, {config.engine} engine, "
                           f"batch {config.batch_size} x {config.rollout_steps} steps")


def restore(out_dir: Path, net: nn.Module, optimizer, scheduler, generator: torch.Generator) -> int:
    """Load the saved training state into the run's objects; returns the iteration it was saved at."""
    tensors, meta = ckpt.load_training_state(out_dir, required=TRAINING_STATE_KEYS)
    file = out_dir / ckpt.TRAINING_STATE_FILE
    with ckpt.reading(file):
        weights = {name[len("net."):]: value for name, value in tensors.items() if name.startswith("net.")}
        if weights:  # saved with the state (older saves: from model.safetensors)
            ckpt.check_state_dict(file, weights, net.state_dict())
            net.load_state_dict(weights)
        else:
            ckpt.load_weights_into(net, out_dir)
        optimizer.load_state_dict(ckpt.unflatten_optimizer_state(tensors, meta["optimizer"]))
        scheduler.load_state_dict(meta["scheduler"])
        generator.set_state(tensors["rng.starts"].cpu())
        return int(meta["iteration"])


def playable_iteration(out_dir: Path) -> int | None:
    """The iteration of the folder's playable checkpoint (model.safetensors + config.json), if any."""
    if not (out_dir / ckpt.CONFIG_FILE).is_file():
        return None
    return ckpt.load_config(out_dir).get("iterations_done")


def train(config: PendulumConfig, out_dir, *, resume: bool = False, device: str = "auto",
          stop: threading.Event | None = None, progress: bool = False) -> Iterator[dict]:
    """Train, yielding one record per iteration; `out_dir` stays a valid, resumable checkpoint."""
    out_dir = Path(out_dir)
    check_bounds(config)
    if resume:  # never start afresh over a folder the caller meant to continue (it would be overwritten)
        ckpt.require_training_state(out_dir)
    device = resolve_device(device)
    if device.type == "cpu":
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        keep_freed_memory()
    torch.manual_seed(config.seed)
    net = build_net(config).to(device)
    # fused: one kernel for the whole update (the same Adam; a few % of an iteration saved)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, fused=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.lr_t_max or config.iterations)
    # The random starts come from their own generator (the env's, for engine="env"), seeded like the
    # tutorial's env.set_seed(seed): both engines see the same starts.
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)

    rollout_rewards = _make_engine(config, net, generator, device)  # checks the config before any file is touched
    if config.init_from:
        ckpt.load_weights_into(net, config.init_from)
    start = restore(out_dir, net, optimizer, scheduler, generator) if resume else 0
    metrics = MetricsFile(out_dir / ckpt.METRICS_FILE, resume=resume)
    if resume:
        metrics.truncate_after("step", start)

    iterations = range(start, config.iterations)
    if progress:
        import tqdm

        iterations = tqdm.tqdm(iterations, initial=start, total=config.iterations, unit="it")
    step = start
    # a crash may have left the playable checkpoint behind the training state: then it is rewritten
    saved_at = start if not resume or playable_iteration(out_dir) == start else None
    began = time.perf_counter()
    try:
        for iteration in iterations:
            steps = rollout_steps(config, iteration)
            rewards = rollout_rewards(steps)  # (steps, batch)
            traj_return = rewards.mean()
            (-traj_return).backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            step = iteration + 1
            record = {"step": step, "return": traj_return.item(), "last_reward": rewards[-1].mean().item(),
                      "grad_norm": grad_norm.item(), "lr": lr, "rollout_steps": steps,
                      "it_per_s": (step - start) / (time.perf_counter() - began)}
            metrics.append(record)
            if progress:
                iterations.set_description(f"return {record['return']:.4f}, last reward {record['last_reward']:.4f}")
            if step % config.checkpoint_every == 0 or step == config.iterations:
                save(out_dir, config, net, step, optimizer, scheduler, generator)
                saved_at = step
            yield record
            if stop is not None and stop.is_set():
                break
    finally:  # also when the consumer stops iterating: never lose the iterations done
        if progress:
            iterations.close()
        if (step != saved_at or not (out_dir / ckpt.CONFIG_FILE).exists()) and not sys.is_finalizing():
            save(out_dir, config, net, step, optimizer, scheduler, generator)


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of returning it to the OS. Each iteration allocates and
    frees ~10 MB of activations; by default glibc trims the freed top of its heap every time, and the
    next iteration page-faults it all back in (about 15% of an iteration here). Linux/glibc only;
    elsewhere nothing happens. Process-wide, as training runs in its own process."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: trim only above 1 GiB free
        libc.mallopt(-3, 1 << 25)  # M_MMAP_THRESHOLD: blocks up to 32 MiB from the heap, not fresh mmaps
    except (OSError, AttributeError):
        pass


def rollout_steps(config: PendulumConfig, iteration: int) -> int:
    """The rollout length at this iteration (constant unless a curriculum is configured)."""
    if config.rollout_steps_final <= config.rollout_steps or config.iterations <= 1:
        return config.rollout_steps
    fraction = iteration / (config.iterations - 1)
    return round(config.rollout_steps + fraction * (config.rollout_steps_final - config.rollout_steps))


def _make_engine(config: PendulumConfig, net: nn.Module, generator: torch.Generator, device: torch.device):
    """A function running one batch of training rollouts of n steps -> rewards (n, batch), differentiable."""
    if config.engine == "fast":
        params = params_as_floats(gen_params(g=config.g))

        def fast(steps: int) -> torch.Tensor:
            th, thdot = random_initial_state((config.batch_size,), generator, device)
            return fast_rollout(net, th, thdot, params, steps, config.compile, config.gradient_decay).reward

        return fast
    if config.engine == "env":
        if config.gradient_decay != 1:
            raise ValueError("gradient_decay needs engine='fast' (the env engine backpropagates exactly)")
        from rlcore.pendulum.transforms import make_env

        env = make_env(seed=config.seed, device=device)
        env.base_env.rng = generator  # the env draws its starts from the training generator (resumable)
        policy = make_policy(net)
        td_params = env.gen_params(g=config.g, batch_size=[config.batch_size], device=device)

        def through_env(steps: int) -> torch.Tensor:
            init_td = env.reset(td_params.clone())
            rollout = env.rollout(steps, policy, tensordict=init_td, auto_reset=False)
            return rollout["next", "reward"].squeeze(-1).transpose(0, 1)

        return through_env
    raise ValueError(f"unknown engine {config.engine!r}: use 'fast' or 'env'")
