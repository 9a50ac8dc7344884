"""Mario speed and memory: the tutorial's pipeline as written vs rlcore's, in one process.

    .venv/bin/python bench/mario.py                  # a few minutes
    .venv/bin/python bench/mario.py --train-steps 900 --variants 1/float32 2/bfloat16

Measured (torch threads: --threads on both sides, default 1, see the caveat in
bench/reference/mario_tutorial.py; the tutorial's training loop also at --tutorial-threads):
- env agent steps/s with random actions: the raw emulator (frames/s) and its quarter (4 frames per
  agent step), the tutorial's wrapper stack, ours (`rlcore.mario.env.make_env`);
- bytes per stored transition: the tutorial's LazyMemmapStorage row vs our replay row, and ours per
  transition once the reset rows of real episodes are counted;
- learner updates/s: the tutorial's `Mario.learn()` vs our `Mario.learn_step()` (batch 32), ours also
  with prioritized replay (`--prioritized`: TorchRL's PrioritizedSampler, importance weights, priority updates),
  with DrQ's random shifts (`--random-shift 4`) and with NoisyNet layers (`--noisy`: noisy weights in every
  forward of the update, a new noise sample after it);
- end-to-end training agent steps/s with the tutorial's schedule (one update per 3 agent steps,
  batch 32) and a small burn-in so learning runs in the whole timed window: the tutorial's loop vs
  our `TrainingRun` (vector-env workers stepping while the learner updates), for each --variants
  setting (number of env workers / learner precision, `auto` resolved and printed for each / whether
  learner and workers are pinned to their own cores, MarioConfig.pin_cpus); the fastest gives `training ratio`, against the best run
  of the tutorial's loop, which runs before ours and after it at each --tutorial-threads count (the
  tutorial as written uses torch's default, one thread per core: on a quiet machine its 2-thread
  update is faster than a 1-thread one, under load it stalls);
- the CPU time our training spends per agent step (learner process and emulator workers together)
  and the speed that allows on this machine's cores if none were ever idle (`ceiling`): how far a
  better split of the same work could still go; and the `floor` of that work, from the figures
  above: one env step plus a third of a bfloat16 update, timed alone (no IPC, no loop, no idle core).
The env and learner figures alternate sides for --rounds rounds and keep each side's best.
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

from bench.reference import mario_tutorial as tutorial  # noqa: E402
from rlcore.mario.agent import Mario  # noqa: E402
from rlcore.mario.config import MarioConfig, resolve_precision  # noqa: E402
from rlcore.mario.env import make_env  # noqa: E402
from rlcore.mario.train import TrainingRun  # noqa: E402


def our_env_steps_per_s(steps: int) -> float:
    return tutorial._random_steps_per_s(make_env(), steps, seed=0)  # the same timing loop for every env


# the learner options timed beside the plain update: their name in the output -> MarioConfig fields
OPTIONS = {
    "prioritized": {"prioritized": True},
    "random shift": {"random_shift": 4},
    "noisy": {"noisy": True},
}


def filled_agent(precision: str = "float32", fill: int = 1000, **options) -> Mario:
    """An agent whose replay holds `fill` transitions of random frames (content does not change the cost);
    `options`: other MarioConfig fields (OPTIONS)."""
    agent = Mario(config=MarioConfig(memory_size=max(fill * 2, 64), precision=precision, **options))
    rng = np.random.default_rng(0)
    state = rng.integers(0, 256, (4, 84, 84), dtype=np.uint8)
    for i in range(fill):
        next_state = np.concatenate([state[1:], rng.integers(0, 256, (1, 84, 84), dtype=np.uint8)])
        agent.cache(state, next_state, int(rng.integers(2)), float(rng.random()), bool(rng.random() < 0.01))
        state = next_state
    return agent


def our_learner_updates_per_s(updates: int, precision: str = "float32", fill: int = 1000, **options) -> float:
    agent = filled_agent(precision, fill, **options)
    for _ in range(3):
        agent.learn_step()
    began = time.perf_counter()
    for _ in range(updates):
        agent.learn_step()
    return updates / (time.perf_counter() - began)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc), all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def our_training(
    steps: int, burnin: int, num_envs: int, precision: str, threads: int, pin_cpus: bool = True
) -> dict:
    """Our trainer, timed over `steps` agent steps once learning has begun (as measure_training),
    with the CPU time it used meanwhile (this process and its emulator workers)."""
    config = MarioConfig(
        burnin=burnin,
        num_envs=num_envs,
        precision=precision,
        torch_threads=threads,
        pin_cpus=pin_cpus,
        checkpoint_every=10**9,
    )
    with tempfile.TemporaryDirectory(prefix="bench-mario-") as out_dir:
        run = TrainingRun(config, out_dir, device="cpu")
        updates = 0
        original = run.agent.learn_step

        def counted():
            nonlocal updates
            updates += 1
            return original()

        run.agent.learn_step = counted
        try:
            while run.agent.curr_step < burnin:
                run.step()
            workers = [process.pid for process in run.envs.processes]
            cpu_before = time.process_time() + sum(_cpu_seconds(pid) for pid in workers)
            first, updates, began = run.agent.curr_step, 0, time.perf_counter()
            while run.agent.curr_step - first < steps:
                run.step()
            seconds = time.perf_counter() - began
            cpu_seconds = time.process_time() + sum(_cpu_seconds(pid) for pid in workers) - cpu_before
            memory = run.agent.memory
            rows, transitions = len(memory), memory.transitions_added
        finally:
            run.close(save=False)
    done_steps = run.agent.curr_step - first
    return {
        "precision": run.agent.config.precision,  # "auto" resolved for this machine
        "agent_steps_per_s": done_steps / seconds,
        "learn_steps_per_s": updates / seconds,
        "cpu_ms_per_step": 1000 * cpu_seconds / done_steps,
        "bytes_per_transition": memory.bytes_per_row * rows / transitions,
        "rows": rows,
        "transitions": transitions,
    }


def tutorial_training(steps: int, burnin: int, threads: int) -> dict:
    """The tutorial's training loop at `threads` torch threads (the caller's count restored after)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return tutorial.measure_training(steps=steps, burnin=burnin)
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    default_threads = torch.get_num_threads()  # torch's own choice: what the tutorial as written runs with
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train-steps", type=int, default=600, help="timed agent steps of each training loop"
    )
    parser.add_argument(
        "--burnin", type=int, default=200, help="burn-in before the timed window (both sides)"
    )
    parser.add_argument("--env-steps", type=int, default=600, help="agent steps for the env measurements")
    parser.add_argument("--updates", type=int, default=40, help="timed learner updates (both sides)")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["1/float32", "3/float32", "3/bfloat16/unpinned", "3/bfloat16"],
        help="our trainer's settings to time, as NUM_ENVS/PRECISION (float32, bfloat16, or auto: "
        "what the fast preset picks on this CPU), with /unpinned for pin_cpus=False (learner "
        "and workers not pinned to their own cores)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for both sides of the env and learner figures, and for our trainer's learner",
    )
    parser.add_argument(
        "--tutorial-threads",
        type=int,
        nargs="+",
        default=sorted({1, default_threads}),
        help="torch thread counts at which the tutorial's training loop is timed (before and "
        f"after ours; its best run is the reference). Default: 1 and torch's default "
        f"here ({default_threads})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternating rounds of the env and learner measurements (each side's best is kept)",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average "
        f"{os.getloadavg()[0]:.1f} (2 cores: figures are noisy, ratios are what to compare)",
        flush=True,
    )
    auto_precision, why = resolve_precision(MarioConfig(precision="auto"), torch.device("cpu"))
    print(f"cpu: {why}", flush=True)

    # the env and learner figures alternate sides for --rounds rounds and keep each side's best:
    # on shared cores the load changes within seconds, and the best round is the least disturbed
    raw = tutorial_env = ours_env = 0.0
    for _ in range(args.rounds):
        raw = max(raw, tutorial.measure_raw_env(steps=4 * args.env_steps))
        tutorial_env = max(tutorial_env, tutorial.measure_env(steps=args.env_steps))
        ours_env = max(ours_env, our_env_steps_per_s(args.env_steps))
    print(
        f"env: raw {raw:.0f} frames/s (raw/4 = {raw / 4:.1f}), tutorial wrappers {tutorial_env:.1f} steps/s, "
        f"ours {ours_env:.1f} steps/s = {ours_env / (raw / 4):.1%} of raw/4",
        flush=True,
    )

    tutorial_bytes = tutorial.bytes_per_transition()
    print(f"replay: tutorial {tutorial_bytes} bytes per transition", flush=True)

    tutorial_updates = ours_updates = ours_updates_bf16 = 0.0
    ours_with = dict.fromkeys(OPTIONS, 0.0)
    for _ in range(args.rounds):
        tutorial_updates = max(tutorial_updates, tutorial.measure_learner(updates=args.updates))
        ours_updates = max(ours_updates, our_learner_updates_per_s(args.updates))
        ours_updates_bf16 = max(ours_updates_bf16, our_learner_updates_per_s(args.updates, "bfloat16"))
        for name, options in OPTIONS.items():
            ours_with[name] = max(ours_with[name], our_learner_updates_per_s(args.updates, **options))
    with_options = ", ".join(
        f"with {name} {value:.2f} updates/s ({value / ours_updates:.2f}x)"
        for name, value in ours_with.items()
    )
    print(
        f"learner: tutorial {tutorial_updates:.2f} updates/s, ours {ours_updates:.2f} updates/s "
        f"({ours_updates / tutorial_updates:.2f}x), ours in bfloat16 {ours_updates_bf16:.2f} updates/s "
        f"({ours_updates_bf16 / tutorial_updates:.2f}x); ours (float32) {with_options}",
        flush=True,
    )

    def time_tutorial(when: str) -> dict:
        """Every --tutorial-threads setting once -> the fastest run (the ratio errs on its side)."""
        runs = []
        for threads in args.tutorial_threads:
            run = tutorial_training(args.train_steps, args.burnin, threads) | {"threads": threads}
            print(
                f"training: tutorial{when}, {threads} torch thread(s): {run['agent_steps_per_s']:.1f} agent "
                f"steps/s ({run['learn_steps_per_s']:.1f} updates/s)",
                flush=True,
            )
            runs.append(run)
        return max(runs, key=lambda run: run["agent_steps_per_s"])

    tutorial_train = time_tutorial("")
    best = None
    for variant in args.variants:
        num_envs, precision, *pinning = variant.split("/")
        if pinning not in ([], ["unpinned"]):
            parser.error(f"--variants: {variant!r} is not NUM_ENVS/PRECISION[/unpinned]")
        ours_train = our_training(
            args.train_steps, args.burnin, int(num_envs), precision, args.threads, pin_cpus=not pinning
        )
        ratio = ours_train["agent_steps_per_s"] / tutorial_train["agent_steps_per_s"]
        used = ours_train["precision"] + (" (auto)" if precision == "auto" else "")
        setting = f"{num_envs} env worker(s), {used}{', unpinned' if pinning else ''}"
        print(
            f"training: ours, {setting}: {ours_train['agent_steps_per_s']:.1f} agent "
            f"steps/s ({ours_train['learn_steps_per_s']:.1f} updates/s), {ratio:.2f}x the tutorial; replay "
            f"{ours_train['bytes_per_transition']:.0f} bytes per transition ({ours_train['rows']} rows for "
            f"{ours_train['transitions']} transitions); {ours_train['cpu_ms_per_step']:.2f} ms of CPU per "
            f"agent step",
            flush=True,
        )
        if best is None or ours_train["agent_steps_per_s"] > best[1]["agent_steps_per_s"]:
            best = (variant, ours_train, ratio)

    # the tutorial's loop once more after ours; its best run is kept (the ratio errs on its side)
    tutorial_train = max(tutorial_train, time_tutorial(" again"), key=lambda run: run["agent_steps_per_s"])
    variant, ours_train, _ = best
    ratio = ours_train["agent_steps_per_s"] / tutorial_train["agent_steps_per_s"]
    # the same CPU work per step on every core of this machine, none idle: what no schedule can beat
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ceiling = 1000 * cores / ours_train["cpu_ms_per_step"]
    # the work itself: an env step and 1/learn_every of an update, each timed alone
    floor_ms = 1000 / ours_env + 1000 / (MarioConfig().learn_every * ours_updates_bf16)
    print(f"raw/4 steps/s: {raw / 4:.1f}")
    print(f"tutorial env steps/s: {tutorial_env:.1f}")
    print(f"env steps/s: {ours_env:.1f}")
    print(f"env vs raw/4: {ours_env / (raw / 4):.3f}")
    print(f"tutorial bytes per transition: {tutorial_bytes}")
    print(f"bytes per row: {Mario(config=MarioConfig(memory_size=8)).memory.bytes_per_row}")
    print(f"bytes per transition: {ours_train['bytes_per_transition']:.0f}")
    print(f"tutorial learner updates/s: {tutorial_updates:.2f}")
    print(f"learner updates/s: {ours_updates:.2f}")
    print(f"learner updates/s bfloat16: {ours_updates_bf16:.2f}")
    for name, value in ours_with.items():
        print(f"learner updates/s {name}: {value:.2f}")
    print(f"tutorial training steps/s: {tutorial_train['agent_steps_per_s']:.1f}")
    print(f"tutorial training threads: {tutorial_train['threads']}")
    print(f"training steps/s: {ours_train['agent_steps_per_s']:.1f}")
    print(f"training variant: {variant}")
    print(f"training precision: {ours_train['precision']}")
    print(f"training ratio: {ratio:.2f}")
    print(f"training cpu ms per step: {ours_train['cpu_ms_per_step']:.2f}")
    print(f"cores: {cores}")
    print(f"cpu capability: {torch.backends.cpu.get_cpu_capability()}")
    print(f"cpu native bfloat16: {'yes' if auto_precision.precision == 'bfloat16' else 'no'}")
    print(f"auto precision: {auto_precision.precision}")
    print(f"training ceiling steps/s: {ceiling:.1f}")
    print(f"training ceiling ratio: {ceiling / tutorial_train['agent_steps_per_s']:.2f}")
    print(f"work floor cpu ms per step: {floor_ms:.2f}")
    print(f"work floor ratio: {1000 * cores / floor_ms / tutorial_train['agent_steps_per_s']:.2f}")


if __name__ == "__main__":
    main()
