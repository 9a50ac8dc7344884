"""Training the pendulum policy by backpropagating minus the mean reward through its rollouts.

Each iteration records `reward_per_step` (the rollouts' mean reward per step, what the loss minimises)
and `last_reward`; every `eval_every` iterations it also records `return`, the mean 200-step return of
`rlcore evaluate`'s default episodes: the same meaning as results.json's `mean_reward`.

The tutorial's loop, one iteration:
    reset `batch_size` pendulums at random starts -> roll the policy out for `rollout_steps` steps
    -> loss = -mean(reward) -> backward through the whole rollout -> clip grad norm -> Adam step
    -> CosineAnnealingLR step.
`engine="env"` runs it through the TorchRL env (env.rollout, as the tutorial); `engine="fast"` runs
the same rollout on plain tensors (rlcore.pendulum.rollout, proven equal by the tests).
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from rlcore import checkpoint as ckpt
from rlcore.config import check_bounds, to_dict
from rlcore.metrics import MetricsFile, plot_metrics, read_metrics
from rlcore.pendulum import ALGORITHM, ENV_ID, NAME
from rlcore.pendulum.config import PendulumConfig
from rlcore.pendulum.env import gen_params, params_as_floats, random_initial_state
from rlcore.pendulum.play import EPISODE_STEPS, evaluate_net
from rlcore.pendulum.policy import build_net, make_policy
from rlcore.pendulum.rollout import fast_rollout
from rlcore.runtime import resolve_device

PLOT_FILE = "training.png"
PLOTTED = ("return", "reward_per_step", "last_reward")
# Seeds 0-9, `rlcore evaluate`'s and the app's default evaluation: the last live return is the result's figure
TRAINING_EVAL_EPISODES = 10


TRAINING_STATE_KEYS = ("iteration", "optimizer", "scheduler")


def save(
    out_dir: Path,
    config: PendulumConfig,
    net: nn.Module,
    iteration: int,
    optimizer,
    scheduler,
    generator: torch.Generator,
) -> None:
    """What resuming needs first, as ONE file (weights, optimizer, RNG and counters: a crash between
    two writes can never pair one iteration's weights with another's state), then the playable
    checkpoint (weights + config), then the plot."""
    optim_tensors, optim_meta = ckpt.flatten_optimizer_state(optimizer.state_dict())
    weights = {f"net.{name}": value for name, value in net.state_dict().items()}
    ckpt.save_training_state(
        out_dir,
        {**optim_tensors, **weights, "rng.starts": generator.get_state()},
        {"iteration": iteration, "optimizer": optim_meta, "scheduler": scheduler.state_dict()},
    )
    ckpt.save_checkpoint(
        out_dir,
        system=NAME,
        algorithm=ALGORITHM,
        env_id=ENV_ID,
        config=to_dict(config),
        state_dict=net.state_dict(),
        extra={"iterations_done": iteration},
    )
    records = read_records(out_dir)
    plotted = [
        metric for metric in PLOTTED if any(metric in record for record in records)
    ]  # older runs: no return
    if plotted:
        plot_metrics(
            records,
            "step",
            plotted,
            out_dir / PLOT_FILE,
            x_label="iteration",
            title=f"Pendulum, {config.engine} engine, "
            f"batch {config.batch_size} x {config.rollout_steps} steps",
        )


def read_records(out_dir: Path) -> list[dict]:
    """The run's metrics.jsonl, records of older runs read in today's terms (see upgrade_record)."""
    return [upgrade_record(record) for record in read_metrics(out_dir / ckpt.METRICS_FILE)]


def upgrade_record(record: dict) -> dict:
    """Runs before the 200-step evaluation return wrote the rollouts' mean reward per step as "return":
    such a record (a "return" without "reward_per_step") is read with that figure as reward_per_step."""
    if "return" not in record or "reward_per_step" in record:
        return record
    return {("reward_per_step" if key == "return" else key): value for key, value in record.items()}


def restore(out_dir: Path, net: nn.Module, optimizer, scheduler, generator: torch.Generator) -> int:
    """Load the saved training state into the run's objects; returns the iteration it was saved at."""
    tensors, meta = ckpt.load_training_state(out_dir, required=TRAINING_STATE_KEYS)
    file = out_dir / ckpt.TRAINING_STATE_FILE
    with ckpt.reading(file):
        weights = {name[len("net.") :]: value for name, value in tensors.items() if name.startswith("net.")}
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


def train(
    config: PendulumConfig,
    out_dir,
    *,
    resume: bool = False,
    device: str = "auto",
    stop: threading.Event | None = None,
) -> Iterator[dict]:
    """Train, yielding one record per iteration; `out_dir` stays a valid, resumable checkpoint."""
    out_dir = Path(out_dir)
    check_bounds(config)
    if resume:  # never start afresh over a folder the caller meant to continue (it would be overwritten)
        ckpt.require_training_state(out_dir)
    device = _prepare_device(config, device)
    torch.manual_seed(config.seed)
    net = build_net(config).to(device)
    # fused: one kernel for the whole update (the same Adam, a little faster)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, fused=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.lr_t_max or config.iterations)
    # The random starts come from their own generator (the env's, for engine="env"), seeded like the
    # tutorial's env.set_seed(seed): both engines see the same starts.
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    # _make_engine checks the config before any file is touched
    rollout_rewards = _make_engine(config, net, generator, device)
    if config.init_from and not resume:  # a resumed run has its own weights (the start may be gone)
        ckpt.load_weights_into(net, config.init_from)
    start = restore(out_dir, net, optimizer, scheduler, generator) if resume else 0
    metrics = MetricsFile(out_dir / ckpt.METRICS_FILE, resume=resume)
    if resume:
        metrics.truncate_after("step", start)
    step = start
    # a crash may have left the playable checkpoint behind the training state: then it is rewritten
    saved_at = start if not resume or playable_iteration(out_dir) == start else None
    began = time.perf_counter()
    try:
        for iteration in range(start, config.iterations):
            record = _iteration(config, net, optimizer, scheduler, rollout_rewards, iteration)
            step = record["step"]
            record["it_per_s"] = (step - start) / (time.perf_counter() - began)
            metrics.append(record)
            if step % config.checkpoint_every == 0 or step == config.iterations:
                save(out_dir, config, net, step, optimizer, scheduler, generator)
                saved_at = step
            yield record
            if stop is not None and stop.is_set():
                break
    finally:  # also when the consumer stops iterating: never lose the iterations done
        if (step != saved_at or not (out_dir / ckpt.CONFIG_FILE).exists()) and not sys.is_finalizing():
            save(out_dir, config, net, step, optimizer, scheduler, generator)


def _prepare_device(config: PendulumConfig, device: str) -> torch.device:
    device = resolve_device(device)
    if device.type == "cpu":
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        keep_freed_memory()
    return device


def _iteration(
    config: PendulumConfig, net: nn.Module, optimizer, scheduler, rollout_rewards, iteration: int
) -> dict:
    """One step of the tutorial's loop: roll out, backpropagate -mean(reward), clip, Adam, schedule."""
    steps = rollout_steps(config, iteration)
    rewards = rollout_rewards(steps)  # (steps, batch)
    traj_return = rewards.mean()
    (-traj_return).backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
    optimizer.step()
    optimizer.zero_grad()
    lr = scheduler.get_last_lr()[0]
    scheduler.step()
    record = {
        "step": iteration + 1,
        "reward_per_step": traj_return.item(),
        "last_reward": rewards[-1].mean().item(),
        "grad_norm": grad_norm.item(),
        "lr": lr,
        "rollout_steps": steps,
    }
    if evaluates_at(config, iteration + 1):
        record["return"] = evaluate_net(net, TRAINING_EVAL_EPISODES, 0, EPISODE_STEPS)["mean_reward"]
    return record


def evaluates_at(config: PendulumConfig, step: int) -> bool:
    """Whether iteration `step` (1-based) is followed by an evaluation: the first,
    every eval_every-th, the last."""
    return config.eval_every > 0 and (step == 1 or step % config.eval_every == 0 or step == config.iterations)


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of returning it to the OS. Each iteration allocates and
    frees megabytes of activations; by default glibc trims the freed top of its heap every time, and the
    next iteration page-faults it all back in (bench/README.md). Linux/glibc only;
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
        params = params_as_floats(gen_params(g=config.g, m=config.m, l=config.l))

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
        td_params = env.gen_params(
            g=config.g, batch_size=[config.batch_size], m=config.m, l=config.l, device=device
        )

        def through_env(steps: int) -> torch.Tensor:
            init_td = env.reset(td_params.clone())
            rollout = env.rollout(steps, policy, tensordict=init_td, auto_reset=False)
            return rollout["next", "reward"].squeeze(-1).transpose(0, 1)

        return through_env
    raise ValueError(f"unknown engine {config.engine!r}: use 'fast' or 'env'")
