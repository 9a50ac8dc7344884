"""bench/mario.py runs end to end and ends with its `name: value` lines (slow: it trains both sides)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_prints_its_figures():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "mario.py"),
            "--train-steps",
            "30",
            "--burnin",
            "40",
            "--env-steps",
            "30",
            "--updates",
            "3",
            "--variants",
            "1/float32",
            "2/auto",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("raw/4 "))  # the `name: value` lines
    figures = dict(line.split(": ", 1) for line in lines[first:])
    for name in (
        "env steps/s",
        "raw/4 steps/s",
        "bytes per transition",
        "learner updates/s",
        "training ratio",
        "training cpu ms per step",
    ):
        assert float(figures[name]) > 0, name
    assert float(figures["bytes per transition"]) < 7_300 < float(figures["tutorial bytes per transition"])
    assert int(figures["tutorial training threads"]) >= 1  # the best of 1 and torch's own count
    # the CPU accounting covers all the work: no run can beat every core busy with it
    assert float(figures["training ceiling steps/s"]) >= 0.98 * float(figures["training steps/s"])
    assert float(figures["work floor cpu ms per step"]) > 0
    assert figures["cpu capability"] and figures["auto precision"] in ("float32", "bfloat16")
    assert (
        f"2 env worker(s), {figures['auto precision']} (auto)" in result.stdout
    )  # each variant says what it used
