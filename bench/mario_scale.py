"""Mario training on one machine vs on Ray workers (`--collector ray`), and a model of bigger machines.

    .venv/bin/python bench/mario_scale.py                       # a few minutes
    .venv/bin/python bench/mario_scale.py --steps 600 --workers 2

In one run, with the same config (the tutorial's schedule: one update per 3 agent steps, batch 32)
and the same number of emulator workers, after a short burn-in so that learning runs in the whole
timed window:
- the local path (`TrainingRun`: AsyncVectorEnv workers, learner pinned to its core) and the Ray
  path (`RayTrainingRun`: TorchRL's RayCollector on a private Ray instance): agent steps/s, and the
  CPU time per agent step from /proc: the learner process, plus its emulator workers (local) or
  every process Ray started for the run (workers, raylet, GCS and Ray's agents);
- the per-step costs, each timed alone in this process: an env step, a batch-1 forward (a worker's
  acting), a learning update; the Ray path's transport (its CPU per step beyond those);
- a model of bigger machines from the Ray path's measured costs: the learner on one core, each
  other core a worker (`W` ms of CPU per step, all of Ray's own processes included); agent steps/s
  = min((cores - 1) * 1000 / W, 1000 / L), with L the learner's CPU per step; with a 10x faster
  learner (a GPU) the update's share of L shrinks tenfold. Not modelled: network links between
  machines, a learner using several threads, Ray's head node costs growing with the worker count.
Ends with `name: value` lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mario import _cpu_seconds, filled_agent, our_training  # noqa: E402
from rlcore.mario.config import MarioConfig  # noqa: E402
from rlcore.mario.env import make_env  # noqa: E402

CORES = (8, 32, 128)
FASTER_LEARNER = 10  # a GPU learner: its update 10x faster than on this CPU


def descendant_pids(root: int) -> set[int]:
    """All processes below `root` (Linux /proc): a private Ray instance's GCS, raylet, workers, agents."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _cpu_of(pids: set[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = _cpu_seconds(pid)
        except OSError:  # exited meanwhile
            continue
    return seconds


def ray_training(steps: int, burnin: int, workers: int, precision: str, threads: int) -> dict:
    """The Ray path timed over `steps` agent steps after `burnin`, with the CPU of the learner process
    and of every process below it (Ray's), apart."""
    from rlcore.mario.distributed import RayTrainingRun

    config = MarioConfig(
        burnin=burnin,
        num_envs=workers,
        precision=precision,
        torch_threads=threads,
        checkpoint_every=10**9,
        collector="ray",
    )
    with tempfile.TemporaryDirectory(prefix="bench-mario-ray-") as out_dir:
        run = RayTrainingRun(config, out_dir, device="cpu")
        try:
            while run.agent.curr_step < burnin:
                run.step()
            before = _cpu_of(descendant_pids(os.getpid()))
            learner_before, first, began = time.process_time(), run.agent.curr_step, time.perf_counter()
            while run.agent.curr_step - first < steps:
                run.step()
            seconds = time.perf_counter() - began
            learner = time.process_time() - learner_before
            after = _cpu_of(descendant_pids(os.getpid()))
            done = run.agent.curr_step - first
        finally:
            run.close(save=False)
    others = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    return {
        "agent_steps_per_s": done / seconds,
        "learner_ms": 1000 * learner / done,
        "others_ms": 1000 * others / done,
        "cpu_ms_per_step": 1000 * (learner + others) / done,
    }


def cpu_ms_per_call(function, calls: int) -> float:
    """CPU time (this process, all threads) per call after one warm-up call: on a loaded machine the
    wall time of a call also counts the other processes' turns on the core."""
    function()
    began = time.process_time()
    for _ in range(calls):
        function()
    return 1000 * (time.process_time() - began) / calls


def per_step_costs(env_steps: int, updates: int, precision: str) -> dict:
    """An env step, a worker's batch-1 greedy forward (float32, as ExplorationPolicy) and an update,
    each timed alone in CPU ms."""
    env = make_env(seed=0)
    rng = np.random.default_rng(0)

    def env_step():
        if any(env.step(int(rng.integers(2)))[2:4]):
            env.reset()

    agent = filled_agent(precision)
    state = np.random.default_rng(0).integers(0, 256, (4, 84, 84), dtype=np.uint8)
    return {
        "env_ms": cpu_ms_per_call(env_step, env_steps),
        "act_ms": cpu_ms_per_call(lambda: agent.greedy_actions(state), 200),
        "update_ms": cpu_ms_per_call(agent.learn_step, updates),
    }


def predicted_steps_per_s(cores: int, worker_ms: float, learner_ms: float) -> float:
    return min((cores - 1) * 1000 / worker_ms, 1000 / learner_ms)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=3000, help="timed agent steps per path (default: 3000)")
    parser.add_argument("--burnin", type=int, default=600, help="agent steps before learning (default: 600)")
    parser.add_argument("--workers", type=int, default=2, help="emulator workers on both paths (default: 2)")
    parser.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "bfloat16"),
        help="the learner's precision (default: float32; bfloat16 pays only on CPUs with AVX-512 BF16)",
    )
    parser.add_argument("--threads", type=int, default=1, help="the learner's torch threads (default: 1)")
    parser.add_argument("--env-steps", type=int, default=500, help="env steps timed alone (default: 500)")
    parser.add_argument("--updates", type=int, default=40, help="updates timed alone (default: 40)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    local = our_training(args.steps, args.burnin, args.workers, args.precision, args.threads)
    ray = ray_training(args.steps, args.burnin, args.workers, args.precision, args.threads)
    costs = per_step_costs(args.env_steps, args.updates, args.precision)
    env_ms, act_ms, update_ms = costs["env_ms"], costs["act_ms"], costs["update_ms"]
    update_share = update_ms / MarioConfig().learn_every
    transport_ms = ray["cpu_ms_per_step"] - (env_ms + act_ms + update_share)
    # the learner's CPU per step with its update share 10x smaller (never below its other work, > 0)
    faster_learner_ms = max(
        ray["learner_ms"] - update_share * (1 - 1 / FASTER_LEARNER), 0.1 * ray["learner_ms"]
    )

    figures = {
        "workers": args.workers,
        "cores": len(os.sched_getaffinity(0)),
        "load average": round(os.getloadavg()[0], 2),
        "local steps/s": local["agent_steps_per_s"],
        "ray steps/s": ray["agent_steps_per_s"],
        "local cpu ms per step": local["cpu_ms_per_step"],
        "ray cpu ms per step": ray["cpu_ms_per_step"],
        "ray learner cpu ms per step": ray["learner_ms"],
        "ray workers cpu ms per step": ray["others_ms"],
        "ray cpu overhead ratio": ray["cpu_ms_per_step"] / local["cpu_ms_per_step"],
        "env step ms": env_ms,
        "act ms": act_ms,
        "update ms": update_ms,
        "ray transport ms per step": transport_ms,
    }
    for cores in CORES:
        figures[f"predicted steps/s {cores} cores"] = predicted_steps_per_s(
            cores, ray["others_ms"], ray["learner_ms"]
        )
    for cores in CORES:
        figures[f"predicted steps/s {cores} cores {FASTER_LEARNER}x learner"] = predicted_steps_per_s(
            cores, ray["others_ms"], faster_learner_ms
        )
    for name, value in figures.items():
        print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
