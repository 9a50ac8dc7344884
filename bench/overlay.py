"""The Q-value overlay's cost per frame, beside what a played frame costs anyway.

    .venv/bin/python bench/overlay.py                  # ~30 s: one 300-step episode of the bundled agent

Plays one greedy episode of checkpoints/mario-1-1 on the emulator (frames recorded, Q-values recorded),
then times, on those same frames, rlcore.mario.play.q_overlay (rlcore.video.ValueBars: the panel, bars and
numbers drawn into a copy of each frame) and rlcore.video.write_mp4 without and with the overlay. The
episode's own time per frame (emulator + preprocessing + the batch-1 Q forward) is printed for scale.
Interleaved rounds, best of each (the machine is shared). Ends with `name: value` lines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlcore.mario.agent import Mario  # noqa: E402
from rlcore.mario.env import action_labels  # noqa: E402
from rlcore.mario.play import q_overlay, run_episode  # noqa: E402
from rlcore.video import write_mp4  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "mario-1-1"


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="agent steps of the episode (default: 300)")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds, best kept (default: 5)")
    args = parser.parse_args()
    agent = Mario.load(CHECKPOINT)
    start = time.perf_counter()
    run = run_episode(agent, seed=0, max_steps=args.steps, record=True)
    play_s = time.perf_counter() - start
    frames, trace, labels = run["frames"], run["trace"], action_labels(agent.config.actions)
    overlay, plain_mp4, overlaid_mp4 = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            overlay.append(seconds(lambda: q_overlay(frames, trace, labels)))
            drawn = q_overlay(frames, trace, labels)
            plain_mp4.append(seconds(lambda: write_mp4(Path(tmp) / "plain.mp4", frames, fps=15)))
            overlaid_mp4.append(seconds(lambda: write_mp4(Path(tmp) / "q.mp4", drawn, fps=15)))
    n = len(frames)
    print(f"frames: {n}")
    print(f"play ms per frame (emulator + Q forward): {play_s / n * 1e3:.2f}")
    print(f"overlay ms per frame: {min(overlay) / n * 1e3:.3f}")
    print(f"write_mp4 ms per frame plain: {min(plain_mp4) / n * 1e3:.2f}")
    print(f"write_mp4 ms per frame with overlay: {min(overlaid_mp4) / n * 1e3:.2f}")
    print(f"overlay share of play + write: {min(overlay) / (play_s + min(plain_mp4)):.1%}")


if __name__ == "__main__":
    main()
