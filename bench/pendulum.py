"""Pendulum training speed: the tutorial's loop as written vs rlcore's trainer, in one process.

    .venv/bin/python bench/pendulum.py                  # ~1-2 min on 2 idle cores
    .venv/bin/python bench/pendulum.py --seed-full      # + the tutorial's whole 625-iteration run (its final reward)

Same recipe on both sides: batch 32, 100-step rollouts, Adam 2e-3, CosineAnnealingLR(20_000), clip 1.0,
seed 0, one torch thread. The tutorial's loop is bench/reference/pendulum_seed.py (its code as written,
ported to torchrl 0.14); ours is `rlcore.pendulum.train.train` with the default (fast) engine, and
again with `compile=True`, metrics writes included (one JSONL line per iteration).

On a shared machine the load changes from second to second, so the sides take turns: each round
times a short run of the tutorial's loop (its iterations 2..N: the first one materialises its lazy
layers) and then the next slice of each of our full runs. Their first iteration (which includes any
torch.compile) and their last few (which end with the one-off final checkpoint save and plot, which
the tutorial's loop does not write) are timed apart. The rates are per iteration, so they compare
although the tutorial's side runs fewer iterations; its final reward needs its whole run (--seed-full).
Ends with `name: value` lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reference.pendulum_seed import train_seed  # noqa: E402
from rlcore.metrics import read_metrics  # noqa: E402
from rlcore.pendulum.api import evaluate_net, load  # noqa: E402
from rlcore.pendulum.train import PendulumConfig, train  # noqa: E402


class OurRun:
    """One of our training runs, advanced slice by slice, timing only the slices."""

    def __init__(self, config: PendulumConfig, out_dir: str):
        self.records = train(config, out_dir)
        began = time.perf_counter()
        self.last = next(self.records)
        self.first_iteration_seconds = time.perf_counter() - began
        self.seconds, self.iterations = 0.0, 0

    def advance(self, iterations: int) -> None:
        began = time.perf_counter()
        for _ in range(iterations):
            self.last = next(self.records)
        self.seconds += time.perf_counter() - began
        self.iterations += iterations

    def finish(self) -> None:
        began = time.perf_counter()
        for self.last in self.records:
            pass
        self.final_seconds = time.perf_counter() - began

    def mean_last_reward(self, out_dir: str, last: int = 20) -> float:
        """The last-step reward averaged over the final iterations (one batch of 32 is noisy)."""
        records = read_metrics(Path(out_dir) / "metrics.jsonl")[-last:]
        return sum(r["last_reward"] for r in records) / len(records)

    @property
    def rate(self) -> float:
        return self.iterations / self.seconds


def _quality(net) -> dict:
    at_100 = evaluate_net(net, episodes=1000, seed=0, steps=100)
    at_200 = evaluate_net(net, episodes=1000, seed=0, steps=200)
    return {
        "last_reward": at_100["mean_last_reward"],
        "return": at_200["mean_reward"],
        "return_std": at_200["std_reward"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=625,
        help="iterations of each of our runs (default: the tutorial's 20_000 // 32 = 625)",
    )
    parser.add_argument("--rounds", type=int, default=6, help="turns taken by the two sides")
    parser.add_argument(
        "--seed-round-iterations",
        type=int,
        default=15,
        help="timed iterations of the tutorial's loop per round",
    )
    parser.add_argument(
        "--seed-full",
        action="store_true",
        help="also run the tutorial's loop for --iterations iterations in one go, for its final reward",
    )
    parser.add_argument("--no-compile", action="store_true", help="skip our torch.compile run")
    args = parser.parse_args()

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, {args.rounds} rounds", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pendulum-") as tmp:
        config = PendulumConfig(iterations=args.iterations, checkpoint_every=args.iterations)
        ours = {"fast": OurRun(config, f"{tmp}/fast")}
        if not args.no_compile:
            ours["compiled"] = OurRun(dataclasses.replace(config, compile=True), f"{tmp}/compiled")
        for name, run in ours.items():
            print(
                f"ours ({name}): first iteration {run.first_iteration_seconds:.1f} s (compile, if any)",
                flush=True,
            )
        seed_seconds, seed_iterations = 0.0, 0
        per_round = (
            args.iterations - 2
        ) // args.rounds  # leaves the last iteration (the final save) to finish()
        for round_index in range(args.rounds):
            seed = train_seed(iterations=args.seed_round_iterations + 1)
            seed_seconds += seed["seconds"]
            seed_iterations += seed["timed_iterations"]
            for run in ours.values():
                run.advance(per_round)
            print(
                f"round {round_index + 1}: seed {seed_iterations / seed_seconds:.2f} it/s, "
                + ", ".join(f"{name} {run.rate:.1f} it/s" for name, run in ours.items()),
                flush=True,
            )
        for run in ours.values():
            run.finish()
        mean_last = {name: run.mean_last_reward(f"{tmp}/{name}") for name, run in ours.items()}
        seed_rate = seed_iterations / seed_seconds
        # final quality, one measure for both: 1000 random starts, last reward at the training
        # horizon (step 100) and the 200-step return (Gymnasium Pendulum-v1's)
        quality = {name: _quality(load(f"{tmp}/{name}").net) for name in ours}
        seed_final = train_seed(iterations=args.iterations) if args.seed_full else None
        if seed_final is not None:
            quality["seed"] = _quality(seed_final["policy"].module)

    print(f"seed iterations timed: {seed_iterations}")
    print(f"ours iterations timed: {ours['fast'].iterations}")
    print(f"seed it/s: {seed_rate:.2f}")
    print(f"ours it/s: {ours['fast'].rate:.2f}")
    print(f"ratio: {ours['fast'].rate / seed_rate:.1f}")
    print(f"ours untimed tail iterations: {args.iterations - 1 - ours['fast'].iterations}")
    print(f"ours tail s (those iterations + the final checkpoint save): {ours['fast'].final_seconds:.2f}")
    if "compiled" in ours:
        print(f"ours compiled it/s: {ours['compiled'].rate:.2f}")
        print(f"compiled ratio: {ours['compiled'].rate / seed_rate:.1f}")
        print(f"ours compiled first iteration s: {ours['compiled'].first_iteration_seconds:.1f}")
    if seed_final is not None:
        print(f"seed full run it/s: {seed_final['it_per_s']:.2f}")
        print(f"seed last reward: {seed_final['final_last_reward']:.4f}")
    for name, label in (("seed", "seed"), ("fast", "ours"), ("compiled", "ours compiled")):
        if name in quality:
            print(f"{label} eval last reward at step 100: {quality[name]['last_reward']:.5f}")
            print(
                f"{label} eval 200-step return: {quality[name]['return']:.1f} "
                f"+/- {quality[name]['return_std']:.1f}"
            )
    print(f"ours last reward: {ours['fast'].last['last_reward']:.4f}")
    print(f"ours mean last reward of the last 20 iterations: {mean_last['fast']:.4f}")
    if "compiled" in ours:
        print(f"ours compiled last reward: {ours['compiled'].last['last_reward']:.4f}")


if __name__ == "__main__":
    main()
