"""Adam's step on the Mario learner's weights when its moments have decayed into denormal floats.

    .venv/bin/python bench/denormals.py            # ~20 s

A unit whose gradient is exactly 0 (a dead ReLU, an unused feature) has its Adam moments multiplied by
beta each step: after a few hundred steps they are denormal floats (below 1.2e-38), which x86 CPUs
compute many times slower. A long training run ends up with millions of them: the one that found this
(1-3 from a route, 150k steps) had 2.1 M denormal `exp_avg` entries and spent 44% of its learner's time
in the fused Adam step. `torch.set_flush_denormal(True)` (rlcore/mario/train.py) flushes them to 0.

Measured here in one process, on the dueling MarioNet (3.3 M parameters), one torch thread: a fused Adam
step whose moments are all normal, then with the given share of them denormal and zero gradients (what
a dead unit sees), flushing off and on. Ends with `name: value` lines.
"""

from __future__ import annotations

import argparse
import time

import torch

from rlcore.mario.net import MarioNet

DENORMAL = 1e-40  # below float32's smallest normal number, 1.18e-38


def step_ms(optimizer: torch.optim.Optimizer, steps: int) -> float:
    for _ in range(3):
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1000


def adam_with_moments(share: float) -> torch.optim.Adam:
    """Adam over a fresh dueling MarioNet whose `exp_avg` is denormal on `share` of the entries, with zero
    gradients (so they stay denormal, decaying, as a dead unit's do)."""
    net = MarioNet((4, 84, 84), 2, dueling=True).online
    optimizer = torch.optim.Adam(net.parameters(), lr=2.5e-4, fused=True)
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()  # creates the state
    for p in net.parameters():
        p.grad.zero_()
        state = optimizer.state[p]
        mask = torch.rand(p.shape) < share
        state["exp_avg"][mask] = DENORMAL
        state["exp_avg_sq"].fill_(1e-8)
    return optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share", type=float, default=0.6, help="share of denormal moments (the run: ~0.6)")
    parser.add_argument("--steps", type=int, default=40, help="timed Adam steps per case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures = {}
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        figures[f"adam step ms, normal moments, flush {flush}"] = step_ms(adam_with_moments(0.0), args.steps)
        figures[f"adam step ms, {args.share:.0%} denormal, flush {flush}"] = step_ms(
            adam_with_moments(args.share), args.steps
        )
    torch.set_flush_denormal(False)
    for name, value in figures.items():
        print(f"{name}: {value:.2f}")
    slow, fast = (figures[f"adam step ms, {args.share:.0%} denormal, flush {f}"] for f in (False, True))
    print(f"denormal slowdown without flushing: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
