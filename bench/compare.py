"""A Compare's wall time and peak memory: two agents rendered side by side by the app's renderer.

    .venv/bin/python bench/compare.py                                   # mario-1-1 vs mario-1-4 on 1-1, seed 3
    .venv/bin/python bench/compare.py --world 6 --stage 2 --max-steps 2000   # a level where they stall
    .venv/bin/python bench/compare.py --show-q                          # with the Q-value bars

Runs demo.rendering.Renderer.comparison once on an empty cache (both episodes played, encoded and combined)
in this process, then prints its wall time, this process's CPU time (its threads; ffmpeg's encoders are
processes of their own), the process's peak RSS (ru_maxrss) and its RSS before the
render (after the imports and a warm-up play of 1 step, so imports and the emulator's start-up are not
counted as the render's), as `name: value` lines.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.rendering import Renderer  # noqa: E402

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--left", default="mario-1-1")
    parser.add_argument("--right", default="mario-1-4")
    parser.add_argument("--world", type=int, default=1)
    parser.add_argument("--stage", type=int, default=1)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--show-q", action="store_true")
    args = parser.parse_args()
    options = {
        "world": args.world,
        "stage": args.stage,
        "seed": args.seed,
        "max_steps": args.max_steps,
        "show_q": args.show_q,
    }
    with tempfile.TemporaryDirectory() as cache:
        renderer = Renderer(Path(cache))
        renderer.episode("mario", CHECKPOINTS / args.left, {**options, "max_steps": 1})  # imports, warm-up
        before = rss_mb()
        start, cpu = time.perf_counter(), time.process_time()
        compared = renderer.comparison("mario", CHECKPOINTS / args.left, CHECKPOINTS / args.right, options)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"steps: {compared.left.summary['steps']} and {compared.right.summary['steps']}")
    print(f"seconds: {seconds:.1f}")
    print(
        f"cpu_seconds: {cpu:.1f}"
    )  # this process's threads (ffmpeg's processes apart): above `seconds` = parallel
    print(f"rss_before_mb: {before:.0f}")
    print(f"peak_rss_mb: {peak:.0f}")
    print(f"peak_over_before_mb: {peak - before:.0f}")


if __name__ == "__main__":
    main()
