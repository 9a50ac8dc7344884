"""The tutorial's training loop, resumable, with acting and learning overlapped.

The loop is the tutorial's (act, step, cache, learn, log; an episode ends on done or flag_get),
with one engineering change for speed: the emulators run in gymnasium `AsyncVectorEnv` worker
processes, and the learner's update runs between `step_async` and `step_wait`, so the emulator
renders the next 4 frames while the network learns. The learning schedule is the tutorial's
(one update per `learn_every` agent steps, target sync every `sync_every` steps, both counted in
agent steps). The only ordering difference: the update of step t runs before step t's transition
is cached (it sees the memory up to step t-1).

Where the time goes (bench/mario.py, figures in bench/README.md): an update costs several emulator steps'
time (less with `precision="bfloat16"`). With `num_envs=3` one update and three env steps
run side by side per iteration. `pin_cpus` gives the learner its own core and the workers the other
(unpinned, the scheduler time-slices a worker with the learner), and `target_thread` runs Q_target's
forward on a helper thread beside the workers, so the CPU work of an iteration is split
about evenly over the two cores. When other processes already keep both cores busy there is no idle
core to overlap on, and the gain over the tutorial's loop shrinks to the saving in CPU work per step.

With `collector="ray"` the emulators run in Ray workers instead (rlcore/mario/distributed.py), feeding
the same learner and bookkeeping (`train(..., run_type=RayTrainingRun)`; api.train picks it).

`train(...)` is a generator of flat metric records (one per `log_every` episodes); the run folder is
always a valid, resumable checkpoint:

    model.safetensors + config.json      Q_online and the config (what play/evaluate load)
    training_state.safetensors + .json   Q_online, Q_target, Adam, counters, RNG, logger history
    metrics.jsonl, log                   one record per log interval (JSON; the tutorial's table)
    reward_plot.png, length_plot.png, loss_plot.png, q_plot.png   the tutorial's four curves
    x_pos_plot.png, flag_rate_plot.png   how far Mario gets and how often he reaches the flag
    curriculum_plot.png                  with --starts: where episodes start, the flag rates from there and
                                         from the level's start
    snapshots/step-<N>/                  with keep_snapshots: each checkpoint's playable weights
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlcore import checkpoint as ckpt
from rlcore.config import check_bounds, to_dict
from rlcore.mario.agent import STATE_DIM, Mario
from rlcore.mario.config import MarioConfig
from rlcore.mario.curriculum import (
    BackwardCurriculum,
    check_route,
    route_demonstration,
    route_env_thunk,
    route_points,
)
from rlcore.mario.env import action_labels, env_thunk, resolve_actions, source_rows
from rlcore.mario.explore import ROUTE_FILE, Route
from rlcore.mario.net import NEW_ACTION_MARGIN, MarioNet, expand_action_rows, match_noise
from rlcore.metrics import MetricsFile, plot_metrics, read_metrics
from rlcore.runtime import resolve_device, seed_everything

WINDOW = 100  # moving averages over the last 100 episodes, as the tutorial's MetricLogger
SNAPSHOTS = "snapshots"  # keep_snapshots: snapshots/step-<N>/ playable checkpoints
PLOTS = {
    "reward": "reward_plot.png",
    "length": "length_plot.png",
    "loss": "loss_plot.png",
    "q": "q_plot.png",
    "x_pos": "x_pos_plot.png",
    "flag_rate": "flag_rate_plot.png",
}
CURRICULUM_PLOT = "curriculum_plot.png"  # runs with --starts: the BackwardCurriculum's log keys
CURRICULUM_KEYS = ("start_x", "window_flag_rate", "level_start_flag_rate")
FAILED_KEY = "failed_start_flag_rate"  # only in runs with --start-failed


class MetricLogger:
    """The tutorial's MetricLogger: per-episode reward/length/loss/Q, moving averages of the last 100
    episodes, the `log` table; plus x_pos/flag per episode, JSONL records and PNG plots."""

    COLUMNS = (
        f"{'Episode':>8}{'Step':>8}{'Epsilon':>10}{'MeanReward':>15}{'MeanLength':>15}"
        f"{'MeanLoss':>15}{'MeanQValue':>15}{'TimeDelta':>15}{'Time':>20}\n"
    )

    def __init__(self, save_dir: Path, num_envs: int = 1, resume: bool = False):
        self.save_dir = save_dir
        self.save_log = save_dir / "log"
        if not resume or not self.save_log.exists():
            self.save_log.write_text(self.COLUMNS)
        self.metrics = MetricsFile(save_dir / ckpt.METRICS_FILE, resume=resume)
        # History metrics (the last WINDOW episodes are enough for every moving average)
        self.ep_rewards: list[float] = []
        self.ep_lengths: list[int] = []
        self.ep_avg_losses: list[float] = []
        self.ep_avg_qs: list[float] = []
        self.ep_x_pos: list[int] = []
        self.ep_flags: list[bool] = []
        self.current = [self._new_episode() for _ in range(num_envs)]
        self.record_time = time.time()
        self.record_step = 0

    @staticmethod
    def _new_episode() -> dict[str, float]:
        return {"reward": 0.0, "length": 0, "loss": 0.0, "q": 0.0, "loss_length": 0}

    def log_step(self, reward: float, loss: float | None, q: float | None, env_index: int = 0) -> None:
        ep = self.current[env_index]
        ep["reward"] += reward
        ep["length"] += 1
        if loss is not None:
            ep["loss"] += loss
            ep["q"] += q
            ep["loss_length"] += 1

    def log_episode(self, x_pos: int = 0, flag_get: bool = False, env_index: int = 0) -> None:
        "Mark end of episode"
        ep = self.current[env_index]
        self.ep_rewards.append(ep["reward"])
        self.ep_lengths.append(ep["length"])
        n = ep["loss_length"]
        self.ep_avg_losses.append(round(ep["loss"] / n, 5) if n else 0.0)
        self.ep_avg_qs.append(round(ep["q"] / n, 5) if n else 0.0)
        self.ep_x_pos.append(int(x_pos))
        self.ep_flags.append(bool(flag_get))
        for name in ("ep_rewards", "ep_lengths", "ep_avg_losses", "ep_avg_qs", "ep_x_pos", "ep_flags"):
            del getattr(self, name)[:-WINDOW]
        self.current[env_index] = self._new_episode()

    def record(
        self, episode: int, epsilon: float, step: int, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        def mean(values):
            return round(float(np.mean(values)), 3) if values else 0.0

        now = time.time()
        time_delta = now - self.record_time
        steps_per_s = (step - self.record_step) / time_delta if time_delta > 0 else 0.0
        self.record_time, self.record_step = now, step
        record = {
            "step": step,
            "episode": episode,
            "epsilon": epsilon,
            "reward": mean(self.ep_rewards),
            "length": mean(self.ep_lengths),
            "loss": mean(self.ep_avg_losses),
            "q": mean(self.ep_avg_qs),
            "x_pos": mean(self.ep_x_pos),
            "max_x_pos": max(self.ep_x_pos, default=0),
            "flag_rate": mean(self.ep_flags),
            "last_reward": round(self.ep_rewards[-1], 3) if self.ep_rewards else 0.0,
            "last_x_pos": self.ep_x_pos[-1] if self.ep_x_pos else 0,
            "steps_per_s": round(steps_per_s, 2),
            "time_delta": round(time_delta, 3),
            **(extra or {}),
            "time": datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S"),
        }
        with open(self.save_log, "a") as f:
            f.write(
                f"{episode:8d}{step:8d}{epsilon:10.3f}{record['reward']:15.3f}{record['length']:15.3f}"
                f"{record['loss']:15.3f}{record['q']:15.3f}{time_delta:15.3f}{record['time']:>20}\n"
            )
        self.metrics.append(record)
        return record

    def plot(self) -> None:
        records = read_metrics(self.metrics.path)
        if records:
            for metric, file in PLOTS.items():
                plot_metrics(
                    records,
                    "step",
                    [metric],
                    self.save_dir / file,
                    x_label="agent step",
                    title=f"moving average of the last {WINDOW} episodes",
                )
            if CURRICULUM_KEYS[0] in records[-1]:
                failed = [FAILED_KEY] if any(FAILED_KEY in r for r in records) else []  # --start-failed
                plot_metrics(
                    records,
                    "step",
                    [*CURRICULUM_KEYS, *failed],
                    self.save_dir / CURRICULUM_PLOT,
                    x_label="agent step",
                    title="the start window's first point; flag rates of the last 20 / 100 episodes "
                    "from it / from the level's start",
                )

    def state(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("ep_rewards", "ep_lengths", "ep_avg_losses", "ep_avg_qs", "ep_x_pos", "ep_flags")
        }

    def load_state(self, state: dict[str, Any], step: int) -> None:
        for k, v in state.items():
            setattr(self, k, list(v))
        self.metrics.truncate_after("step", step)  # records after the checkpoint are replayed
        self._truncate_log_after(step)
        self.record_step = step

    def _truncate_log_after(self, step: int) -> None:
        """The `log` table keeps its header and the rows up to the checkpoint's step, as metrics.jsonl."""
        if not self.save_log.exists():
            return
        header, *rows = self.save_log.read_text().splitlines(keepends=True)
        steps = [row.split()[1:2] for row in rows]  # the Step column ([] on a torn line)
        kept = [row for row, s in zip(rows, steps) if s and s[0].isdigit() and int(s[0]) <= step]
        ckpt.atomic_write_bytes(self.save_log, (header + "".join(kept)).encode())


# ------------------------------------------------------------------------------ checkpoints


def save_run(
    agent: Mario,
    out_dir: Path,
    episode: int,
    logger: MetricLogger,
    curriculum: BackwardCurriculum | None = None,
) -> None:
    """Resumable state first, then the playable checkpoint (config.json last marks it complete)."""
    tensors = {f"online.{k}": v for k, v in agent.net.online.state_dict().items()}
    tensors.update({f"target.{k}": v for k, v in agent.net.target.state_dict().items()})
    optim_tensors, optim_meta = ckpt.flatten_optimizer_state(agent.optimizer.state_dict())
    tensors.update(optim_tensors)
    # the counters travel in the tensor file too, so weights and counters always match
    tensors["counters"] = torch.tensor([agent.curr_step, episode], dtype=torch.int64)
    tensors["exploration_rate"] = torch.tensor(agent.exploration_rate, dtype=torch.float64)
    meta = {
        "step": agent.curr_step,
        "episode": episode,
        "exploration_rate": agent.exploration_rate,
        "optimizer": optim_meta,
        "rng": agent.rng.bit_generator.state,
        "logger": logger.state(),
        "config": to_dict(agent.config),
    }
    if curriculum is not None:
        meta["curriculum"] = curriculum.state()
    ckpt.save_training_state(out_dir, tensors, meta)
    agent.save(out_dir, extra={"episode": episode})


def restore_run(
    agent: Mario, out_dir: Path, logger: MetricLogger, curriculum: BackwardCurriculum | None = None
) -> int:
    """Load the training state into `agent`, `logger` (and the curriculum); returns the episode counter."""
    if (out_dir / ckpt.TRAINING_META_FILE).is_file() and not (out_dir / ckpt.TRAINING_STATE_FILE).is_file():
        return warm_restart(agent, out_dir, logger, curriculum)
    ckpt.require_training_state(out_dir)
    tensors, meta = ckpt.load_training_state(out_dir, required=("optimizer", "rng", "logger"))
    file = out_dir / ckpt.TRAINING_STATE_FILE
    with ckpt.reading(file):
        for prefix, module in (("online.", agent.net.online), ("target.", agent.net.target)):
            part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            ckpt.check_state_dict(file, part, module.state_dict())
            module.load_state_dict(part)
        agent.optimizer.load_state_dict(ckpt.unflatten_optimizer_state(tensors, meta["optimizer"]))
        step, episode = (int(x) for x in tensors["counters"])
        agent.curr_step = step
        agent.exploration_rate = float(tensors["exploration_rate"])
        agent.rng.bit_generator.state = meta["rng"]
        # the replay memory is not saved: refill it for `burnin` steps before learning again
        agent.burnin = step + agent.config.burnin
        logger.load_state(meta["logger"], step)
        restore_curriculum(curriculum, meta)
    return episode


def warm_restart(
    agent: Mario, out_dir: Path, logger: MetricLogger, curriculum: BackwardCurriculum | None = None
) -> int:
    """Resume from a checkpoint's small parts only (what a bundled, committed checkpoint keeps: the
    52 MB of Q_target + Adam moments in training_state.safetensors stay out of git): Q_online from
    model.safetensors, Q_target re-synced to it, a fresh Adam; the counters and exploration rate saved
    beside those weights in config.json, the logger's history from training_state.json."""
    ckpt.load_weights_into(agent.net.online, out_dir)
    agent.sync_Q_target()
    state = ckpt.load_config(out_dir, system="mario").get("state", {})
    step, episode = int(state.get("step", 0)), int(state.get("episode", 0))
    agent.curr_step = step
    agent.exploration_rate = float(state.get("exploration_rate", agent.exploration_rate))
    meta_file = out_dir / ckpt.TRAINING_META_FILE
    meta = ckpt.read_json(meta_file)
    with ckpt.reading(meta_file):
        agent.rng.bit_generator.state = meta["rng"]
        agent.burnin = step + agent.config.burnin  # the replay memory is refilled first, as on any resume
        logger.load_state(meta["logger"], step)
        restore_curriculum(curriculum, meta)
    print(
        f"resume: no {ckpt.TRAINING_STATE_FILE} in {out_dir}: continuing from the weights at step {step} "
        "(Q_target re-synced, Adam restarted)",
        file=sys.stderr,
    )
    return episode


def restore_curriculum(curriculum: BackwardCurriculum | None, meta: dict[str, Any]) -> None:
    """Where a --starts run's window stood when it was saved (a run saved before it had one starts afresh)."""
    if curriculum is not None and meta.get("curriculum") is not None:
        curriculum.load_state(meta["curriculum"])


def start_from_weights(agent: Mario, checkpoint: str | os.PathLike) -> None:
    """A new run from a trained agent (config.init_from): Q_online from its model.safetensors (shapes
    checked), Q_target synced to it; Adam, the replay and the counters start afresh. A run with another
    action set (`--actions`) keeps every layer but the action outputs, which `expand_action_rows` maps
    by buttons: the agent first plays as the one it starts from, and explores the new actions."""
    stored = ckpt.load_typed_config(checkpoint, MarioConfig, "mario")[0]
    source, target = resolve_actions(stored.actions), resolve_actions(agent.config.actions)
    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
    note = ""
    if source != target or stored.noisy != agent.config.noisy:
        ckpt.check_weights_file(
            checkpoint,
            ckpt.meta_state_dict(  # the stored network, before adapting it
                lambda: MarioNet(STATE_DIM, len(source), dueling=stored.dueling, noisy=stored.noisy).online
            ),
        )
        rows = source_rows(source, target)

        def adapt_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            tensors = match_noise(tensors, agent.net.online)
            return tensors if source == target else expand_action_rows(tensors, agent.net.online, rows)

        adapt = adapt_weights
    if stored.noisy != agent.config.noisy:
        note = (
            "; its Linear layers -> NoisyNet means"
            if agent.config.noisy
            else "; its NoisyNet means -> Linear layers"
        )
    if source != target:
        labelled = list(zip(action_labels(target), rows))
        kept = [label for label, src in labelled if src is not None]
        new = [label for label, src in labelled if src is None]
        note += (
            f"; its {len(source)} actions -> {len(target)}: "
            f"{', '.join(kept) or 'none'} keep their Q outputs, "
            f"{', '.join(new) or 'none'} start {NEW_ACTION_MARGIN} below their mean"
        )
    ckpt.load_weights_into(agent.net.online, checkpoint, adapt=adapt)
    agent.sync_Q_target()
    print(f"mario: starting from the weights of {checkpoint}{note}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the loop


def pin_learner_and_workers(worker_pids: list[int], learner_cpus: int) -> Callable[[], None] | None:
    """Give the learner (this thread) the first `learner_cpus` CPUs it may use and the emulator
    workers the rest -> a function that undoes the learner's pinning (None when nothing was pinned:
    no sched_setaffinity, or no CPU left for the workers). Unpinned, the scheduler spreads 1 + N busy
    processes evenly and time-slices a worker with the learner on its core: with 3 workers on 2
    cores, interleaved A/B runs gave median 188 vs 165 agent steps/s pinned vs free."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    cpus = sorted(allowed)
    if len(cpus) <= learner_cpus:
        return None
    os.sched_setaffinity(0, cpus[:learner_cpus])
    for pid in worker_pids:
        os.sched_setaffinity(pid, cpus[learner_cpus:])
    return lambda: os.sched_setaffinity(0, allowed)


WORKER_NICE = 10  # the emulator workers yield their CPU to the Q_target thread when it has work
MAX_NICE = 19


def target_thread_beside(workers: list[Any]) -> ThreadPoolExecutor:
    """A one-thread executor on the (pinned) workers' CPUs for Q_target's forwards, with the workers
    niced below it: the learner waits for that forward, the workers have slack (their 3 emulator
    steps take less time than the update). Measured in interleaved A/B runs (bench/README.md); without the
    nice it was slower than no thread, as the scheduler time-sliced it with 3 workers."""
    # relative to the learner's own niceness: a run started at a low priority (the app's) stays below it
    niceness = min(MAX_NICE, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE)
    for process in workers:
        os.setpriority(os.PRIO_PROCESS, process.pid, niceness)
    cpus = os.sched_getaffinity(workers[0].pid)
    return ThreadPoolExecutor(
        1, thread_name_prefix="q-target", initializer=os.sched_setaffinity, initargs=(0, cpus)
    )


def worker_env_factory(config: MarioConfig) -> Callable[[], Any]:
    """A picklable factory of one emulator worker's env for `config` (local or Ray): with route starts
    when the run has --starts."""
    if config.starts:
        return route_env_thunk(config)
    return env_thunk(
        config.world, config.stage, config.actions, config.noop_max, config.sticky, config.sticky_share
    )


def shaped_reward(
    config: MarioConfig, reward: float, terminated: bool, episode_end: tuple[int, bool] | None
) -> float:
    """The reward to learn from: the game's, with --flag-bonus on the flag's step and --death-penalty on a
    step that ends the episode short of the flag (a time-out too: the game kills Mario at time 0)."""
    if terminated and episode_end is not None:
        return reward + config.flag_bonus if episode_end[1] else reward - config.death_penalty
    return reward


def open_run_folder(out_dir: str | os.PathLike, resume: bool) -> Path:
    """The run folder, created; a clear error when asked to resume a run that is not there."""
    out_dir = Path(out_dir)
    if resume:
        ckpt.require_training_state(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def route_of_resumed_run(config: MarioConfig, out_dir: Path, resume: bool) -> MarioConfig:
    """`config`, or on resume with a --starts folder that no longer holds a route (moved, or another
    machine's runs/routes), the run's own copy of it (saved in the run folder when it started)."""
    if not (resume and config.starts) or Path(config.starts, ROUTE_FILE).is_file():
        return config
    if not (out_dir / ROUTE_FILE).is_file():
        return config  # Route.load says what is missing
    print(f"mario: {config.starts} holds no route: resuming from {out_dir / ROUTE_FILE}", file=sys.stderr)
    return dataclasses.replace(config, starts=str(out_dir))


def fork_workers(env_fn: Callable[[], Any], num_envs: int) -> Any:
    """`num_envs` emulator worker processes, forked, stepped together (gymnasium's AsyncVectorEnv, shared
    memory, an episode's end reset within the same step)."""
    from gymnasium.vector import AsyncVectorEnv, AutoresetMode

    with warnings.catch_warnings():
        # "fork() of a multi-threaded process": the workers run only the emulator, NumPy and
        # single-threaded OpenCV, none of the parent's thread pools
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        return AsyncVectorEnv(
            [env_fn] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP, shared_memory=True, context="fork"
        )


class TrainingRun:
    """The tutorial's loop, one vector step at a time (`step()`), over a resumable run folder.

    `train()` drives it; benchmarks and tests drive it step by step.
    """

    def __init__(
        self,
        config: MarioConfig,
        out_dir: str | os.PathLike,
        *,
        resume: bool = False,
        device: str = "auto",
        env_fn: Callable[[], Any] | None = None,
    ):
        """`env_fn` replaces the emulator (tests use a fake image env with the same spaces)."""
        check_bounds(config)
        if config.collector != "local":
            raise ValueError(
                f"collector {config.collector!r}: train with run_type=RayTrainingRun "
                "(rlcore.mario.distributed; rlcore.mario.api.train picks it)"
            )
        self.out_dir = open_run_folder(out_dir, resume)
        self.config = config = route_of_resumed_run(config, self.out_dir, resume)
        # the emulator workers are forked first, before torch starts its threads and the replay is
        # allocated ("fork": no re-import of the caller's __main__, which "spawn" would need guarded)
        self.curriculum = self._curriculum(config)
        self.envs = fork_workers(env_fn or worker_env_factory(config), config.num_envs)
        self._unpin = None
        try:
            if config.torch_threads > 0:
                torch.set_num_threads(config.torch_threads)
            if config.pin_cpus:
                workers = [p.pid for p in self.envs.processes]
                self._unpin = pin_learner_and_workers(workers, torch.get_num_threads())
            self._start_learner(resume, device)
            if config.target_thread and self._unpin is not None and self.agent.device.type == "cpu":
                self.agent.target_thread = target_thread_beside(self.envs.processes)
            self._send_start_window()
            # a resumed run reseeds its envs from the episode count: its episodes differ from the first run's
            self.states, _ = self.envs.reset(
                seed=[config.seed + 1000 * self.episode + i for i in range(config.num_envs)]
            )
        except BaseException:
            self.close(save=False)
            raise

    def _curriculum(self, config: MarioConfig) -> BackwardCurriculum | None:
        """The backward curriculum of a run with --starts (its route checked, kept as `self.route`, and
        copied into the run folder, so the checkpoint records where its training episodes started), else None."""
        self.route = None
        if not config.starts:
            if config.demo_weight or config.start_failed:
                raise ValueError(
                    "--demo-weight and --start-failed need --starts ROUTE (a route to start from)"
                )
            return None
        self.route = route = Route.load(config.starts)
        check_route(route, config)
        route.save(self.out_dir)
        return BackwardCurriculum(
            route_points(route), config.start_window, config.start_threshold, start_x=config.start_x
        )

    def _send_start_window(self) -> None:
        if self.curriculum is not None:
            self.envs.call("set_start_window", *self.curriculum.window)

    def _start_learner(self, resume: bool, device: str) -> None:
        """The agent, its logger and counters: new, or restored from the run folder."""
        seed_everything(self.config.seed)
        # Adam's moments of units whose gradients are 0 (dead ReLUs) decay into denormal floats, which the
        # CPU computes ~6x slower: after 150k steps a fused Adam step took 39 ms instead of 6.5 ms and was
        # 44% of the learner's time (bench/README.md). Flushed to 0, they change no update that matters.
        torch.set_flush_denormal(True)
        self.agent = Mario(config=self.config, device=resolve_device(device), save_dir=self.out_dir)
        self.config = self.agent.config  # precision "auto" resolved for this machine
        if self.agent.precision_choice:  # also saved in config.json
            print(f"mario: {self.agent.precision_choice}", file=sys.stderr, flush=True)
        self.logger = MetricLogger(self.out_dir, self.config.num_envs, resume=resume)
        self.episode = restore_run(self.agent, self.out_dir, self.logger, self.curriculum) if resume else 0
        if self.config.init_from and not resume:
            start_from_weights(self.agent, self.config.init_from)
        if resume and not self.agent.precision_choice:  # keep why "auto" chose the saved precision
            saved = ckpt.load_config(self.out_dir, system="mario")
            if saved.get("config", {}).get("precision") == self.config.precision:
                self.agent.precision_choice = saved.get("precision_choice")
        self.last_checkpoint = self.agent.curr_step
        if self.route is not None and self.config.demo_weight:  # DQfD: the route's states and actions
            self.agent.demo = route_demonstration(self.route)

    @property
    def finished(self) -> bool:
        config = self.config
        return self.episode >= config.episodes or bool(
            config.max_steps and self.agent.curr_step >= config.max_steps
        )

    def step(self) -> list[dict[str, Any]]:
        """One agent step in every env (with the learning due meanwhile) -> the log records it produced."""
        agent, config = self.agent, self.config
        records = []
        # Run agent on the states
        actions = agent.act(self.states)
        # The emulators perform the actions while Mario learns (the overlap)
        self.envs.step_async(actions)
        q, loss = agent.learn(new_steps=config.num_envs)
        next_states, rewards, terminated, truncated, infos = self.envs.step_wait()
        agent.end_holds(terminated | truncated)
        for i in range(config.num_envs):
            ended = bool(terminated[i] or truncated[i])
            # SAME_STEP autoreset: an ended env already returns its next episode's first state
            next_state = infos["final_obs"][i] if ended else next_states[i]
            episode_end = (
                (infos["final_info"]["x_pos"][i], infos["final_info"]["flag_get"][i]) if ended else None
            )
            if ended and self.curriculum is not None:
                self._curriculum_episode(int(infos["final_info"]["route_start"][i]), bool(episode_end[1]))
            records += self._remember(
                i,
                self.states[i],
                next_state,
                actions[i],
                rewards[i],
                bool(terminated[i]),
                episode_end,
                (q, loss),
            )
        self.states = next_states
        self._checkpoint_if_due()
        return records

    def _curriculum_episode(self, start: int, flag: bool) -> None:
        """A finished episode's outcome for the backward curriculum; a window that moves is sent to the
        workers at once (their episodes already under way keep their starts)."""
        if self.curriculum.record(start, flag, self.agent.curr_step):
            lo, hi = self.curriculum.window
            self._send_start_window()
            print(
                f"mario: start window moved back to route points {lo}-{hi} (x {self.curriculum.xs[lo]}) "
                f"at step {self.agent.curr_step:,}",
                file=sys.stderr,
                flush=True,
            )

    def _remember(
        self,
        env_index: int,
        state,
        next_state,
        action,
        reward,
        terminated: bool,
        episode_end: tuple[int, bool] | None,
        q_loss: tuple[float | None, float | None],
    ) -> list[dict]:
        """Cache one transition and log it; `episode_end`: (x_pos, flag_get) when its episode ended
        (terminated or truncated) -> the log record that completed, if any."""
        agent, logger = self.agent, self.logger
        # Remember (done = terminated: a truncated episode would still bootstrap)
        agent.cache(
            state,
            next_state,
            action,
            shaped_reward(self.config, float(reward), terminated, episode_end),
            terminated,
            end=episode_end is not None,
            env_index=env_index,
        )
        logger.log_step(float(reward), q_loss[1], q_loss[0], env_index=env_index)
        if episode_end is None:
            return []
        # the tutorial's `if done or info["flag_get"]: break` (the env ends on the flag)
        logger.log_episode(*episode_end, env_index=env_index)
        self.episode += 1
        if self.episode % self.config.log_every:
            return []
        extra = self.curriculum.summary() if self.curriculum is not None else None
        return [logger.record(self.episode, agent.exploration_rate, agent.curr_step, extra)]

    def _checkpoint_if_due(self) -> None:
        if self.agent.curr_step - self.last_checkpoint >= self.config.checkpoint_every:
            self.save()

    def save(self) -> None:
        save_run(self.agent, self.out_dir, self.episode, self.logger, self.curriculum)
        if self.config.keep_snapshots:
            snapshot = self.out_dir / SNAPSHOTS / f"step-{self.agent.curr_step:08d}"
            self.agent.save(snapshot, extra={"episode": self.episode})
        self.logger.plot()
        self.last_checkpoint = self.agent.curr_step

    def close(self, save: bool = True) -> None:
        self.envs.close()
        agent = getattr(self, "agent", None)
        if agent is not None and agent.target_thread is not None:
            agent.target_thread.shutdown()
            agent.target_thread = None
        if self._unpin is not None:
            self._unpin()
            self._unpin = None
        if save:
            self.save()


def train(
    config: MarioConfig,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    device: str = "auto",
    stop: threading.Event | None = None,
    env_fn: Callable[[], Any] | None = None,
    run_type: type[TrainingRun] | None = None,
    progress: Callable[[int | None, str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Train a Mario Double DQN into `out_dir`, yielding one record per `log_every` episodes; the
    folder is checkpointed every `checkpoint_every` steps and when the run ends or is stopped.
    `run_type`: TrainingRun (local workers), or distributed.RayTrainingRun for `collector="ray"`.
    `progress(agent steps, doing)` is called after every step: records come an episode or more apart."""
    report = progress or (lambda done, doing: None)
    report(None if resume else 0, f"starting {config.num_envs} emulator worker(s) and the learner")
    run = (run_type or TrainingRun)(config, out_dir, resume=resume, device=device, env_fn=env_fn)
    try:
        while not run.finished and not (stop is not None and stop.is_set()):
            yield from run.step()
            report(run.agent.curr_step, burn_in_note(run.agent))
    finally:
        run.close()


def burn_in_note(agent: Mario) -> str:
    """What the run is doing while its replay memory fills ("" once it learns)."""
    if agent.curr_step >= agent.burnin:
        return ""
    return f"filling the replay memory: learning starts at step {agent.burnin:,}"
