"""Pendulum training speed: the tutorial's loop as written vs rlcore's trainer, in one process.

    .venv/bin/python bench/pendulum.py                    # seed: 200 iterations, ours: 625 (the default run)
    .venv/bin/python bench/pendulum.py --iterations 625 --seed-iterations 625

Both use batch 32, 100-step rollouts, Adam 2e-3, CosineAnnealingLR(20_000), clip 1.0, seed 0. The
tutorial's side (bench/reference/pendulum_seed.py) is timed over its iterations 2..N (its first
iteration materialises LazyLinear); ours over all iterations of `rlcore.pendulum.train.train`
(fast engine unless --engine env), checkpoint writes included. To keep the runtime reasonable the
seed side may run fewer iterations than ours (it/s is per iteration, so the ratio stays fair), but
then its final reward is not comparable: run both at 625 for that.
Ends with `name: value` lines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reference.pendulum_seed import train_seed  # noqa: E402
from rlcore.pendulum.train import PendulumConfig, train  # noqa: E402


def run_ours(iterations: int, engine: str, threads: int) -> dict:
    config = PendulumConfig(iterations=iterations, engine=engine, threads=threads,
                            checkpoint_every=max(iterations, 1))
    with tempfile.TemporaryDirectory(prefix="bench-pendulum-") as out_dir:
        began = time.perf_counter()
        records = list(train(config, out_dir))
        seconds = time.perf_counter() - began
    return {"it_per_s": iterations / seconds, "seconds": seconds, "final_return": records[-1]["return"],
            "final_last_reward": records[-1]["last_reward"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=625, help="iterations of our trainer (default: the tutorial's 625)")
    parser.add_argument("--seed-iterations", type=int, default=200, help="iterations of the tutorial's loop")
    parser.add_argument("--engine", choices=["fast", "env"], default="fast")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)", flush=True)
    seed = train_seed(iterations=args.seed_iterations)
    print(f"seed: {args.seed_iterations} iterations, {seed['it_per_s']:.2f} it/s, last iteration: return "
          f"{seed['final_return']:.4f}, last reward {seed['final_last_reward']:.4f}", flush=True)
    ours = run_ours(args.iterations, args.engine, args.threads)
    print(f"ours ({args.engine}): {args.iterations} iterations in {ours['seconds']:.1f} s, {ours['it_per_s']:.2f} it/s, "
          f"last iteration: return {ours['final_return']:.4f}, last reward {ours['final_last_reward']:.4f}")
    if args.seed_iterations != args.iterations:
        print(f"note: the seed ran {args.seed_iterations} iterations, ours {args.iterations}: compare rates, "
              "not final rewards")
    print(f"seed iterations: {args.seed_iterations}")
    print(f"ours iterations: {args.iterations}")
    print(f"seed it/s: {seed['it_per_s']:.2f}")
    print(f"ours it/s: {ours['it_per_s']:.2f}")
    print(f"ratio: {ours['it_per_s'] / seed['it_per_s']:.1f}")
    print(f"seed last reward: {seed['final_last_reward']:.4f}")
    print(f"ours last reward: {ours['final_last_reward']:.4f}")


if __name__ == "__main__":
    main()
