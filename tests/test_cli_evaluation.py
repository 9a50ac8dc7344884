"""evaluate / compare / evaluate-snapshots / export on the command line (in process, real systems):
evaluate writes only where asked, --write merges protocols, compare pairs seeds, snapshot curves resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hub_server import copy_of_folder, folder_bytes

from rlcore import cli
from rlcore.checkpoint import RESULTS_FILE
from rlcore.pendulum import api as pendulum
from rlcore.snapshots import SNAPSHOT_EVALS_FILE, SNAPSHOT_PLOT_FILE

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_PENDULUM = ROOT / "checkpoints" / "pendulum-swingup"
BUNDLED_MARIO = ROOT / "checkpoints" / "mario-1-1"


@pytest.fixture(scope="module")
def weak_pendulum(tmp_path_factory):
    """A second, barely trained Pendulum agent (a different policy to compare with)."""
    out = tmp_path_factory.mktemp("weak") / "run"
    list(pendulum.train(pendulum.Config(iterations=2, batch_size=4, rollout_steps=10), out))
    return out


def _copy(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination


def test_evaluate_touches_the_checkpoint_only_when_asked(tmp_path, capsys):
    folder = _copy(BUNDLED_PENDULUM, tmp_path / "agent")
    before = folder_bytes(folder)
    assert cli.main(["evaluate", str(folder), "--episodes", "3", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert folder_bytes(folder) == before and "not saved" in captured.err
    assert "return" in captured.out and "greedy" in captured.out

    out = tmp_path / "elsewhere" / "eval.json"
    assert cli.main(["evaluate", str(folder), "--episodes", "3", "--seed", "5", "--out", str(out)]) == 0
    assert folder_bytes(folder) == before
    written = json.loads(out.read_text())
    assert written["seeds"] == [5, 6, 7] and written["protocol"]["name"] == "greedy"

    assert cli.main(["evaluate", str(folder), "--episodes", "3", "--write", "--no-progress"]) == 0
    merged = json.loads((folder / RESULTS_FILE).read_text())
    assert list(merged["protocols"]) == ["greedy"] and merged["protocols"]["greedy"]["n_eval_episodes"] == 3
    assert merged["mean_reward"] == merged["protocols"]["greedy"]["mean_reward"]


@pytest.mark.extended
def test_evaluate_write_merges_a_sticky_protocol_beside_the_greedy_one(tmp_path, capsys):
    folder = _copy(BUNDLED_MARIO, tmp_path / "mario")
    before = json.loads((folder / RESULTS_FILE).read_text())
    before.pop("protocols", None)  # written before protocols existed: a greedy document
    (folder / RESULTS_FILE).write_text(json.dumps(before))
    assert (
        cli.main(
            [
                "evaluate",
                str(folder),
                "--episodes",
                "1",
                "--seed",
                "7",
                "--sticky",
                "0.25",
                "--write",
                "--no-progress",
            ]
        )
        == 0
    )
    merged = json.loads((folder / RESULTS_FILE).read_text())
    assert list(merged["protocols"]) == ["greedy", "sticky_0.25"]
    assert merged["mean_reward"] == before["mean_reward"]  # the headline stays the greedy evaluation
    assert (
        cli.main(
            [
                "evaluate",
                str(folder),
                "--episodes",
                "1",
                "--seed",
                "8",
                "--epsilon",
                "0.05",
                "--write",
                "--no-progress",
            ]
        )
        == 0
    )
    again = json.loads((folder / RESULTS_FILE).read_text())
    assert list(again["protocols"]) == ["greedy", "sticky_0.25", "epsilon_0.05"]  # added, the others kept
    assert again["protocols"]["sticky_0.25"] == merged["protocols"]["sticky_0.25"]
    assert again["protocols"]["epsilon_0.05"]["seeds"] == [8]
    sticky = merged["protocols"]["sticky_0.25"]
    assert sticky["protocol"]["sticky"] == 0.25 and sticky["seeds"] == [7]
    assert sticky["protocol"]["noop_max"] == 30 and sticky["protocol"]["max_steps"] == 3000
    assert "merged protocol sticky_0.25" in capsys.readouterr().out


def test_bad_evaluation_requests_are_one_line_and_write_nothing(tmp_path, capsys):
    folder = _copy(BUNDLED_PENDULUM, tmp_path / "agent")
    before = folder_bytes(folder)
    cases = [
        (["evaluate", str(folder), "--episodes", "1001"], "--episodes must be between 1 and 1,000"),
        (["evaluate", str(folder), "--sticky", "0.25", "--write"], "--sticky is not an evaluation option"),
        (["compare", str(folder), str(BUNDLED_MARIO)], "two checkpoints of one system"),
        (["export", str(BUNDLED_MARIO), "--out", str(tmp_path / "x.pt")], "mario checkpoints have no export"),
        (["evaluate", "hf://alice/agent", "--write"], "--write merges into a local checkpoint"),
        (["evaluate-snapshots", str(folder), "--every", "0"], "--every must be at least 1"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2, argv
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith("rlcore: error: ") and message in lines[-1], lines
    assert folder_bytes(folder) == before and not (tmp_path / "x.pt").exists()


def test_compare_pairs_two_agents_on_the_same_seeds(tmp_path, weak_pendulum, capsys):
    out = tmp_path / "comparison.json"
    assert (
        cli.main(
            [
                "compare",
                str(weak_pendulum),
                str(BUNDLED_PENDULUM),
                "--episodes",
                "4",
                "--seed",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    comparison = json.loads(out.read_text())
    weak = pendulum.evaluate(weak_pendulum, episodes=4, seed=2)["episode_rewards"]
    strong = pendulum.evaluate(BUNDLED_PENDULUM, episodes=4, seed=2)["episode_rewards"]
    assert comparison["seeds"] == [2, 3, 4, 5]
    assert [p["return_difference"] for p in comparison["per_seed"]] == pytest.approx(
        [b - a for a, b in zip(weak, strong)], abs=1e-3
    )
    low, high = comparison["return"]["ci95"]
    assert low <= comparison["return"]["mean_difference"] <= high
    table = capsys.readouterr().out
    assert "B - A" in table and "paired bootstrap" in table and f"A: {weak_pendulum}" in table


def test_snapshot_curve_is_written_and_resumes(tmp_path, weak_pendulum, capsys):
    run = tmp_path / "run"
    copy_of_folder(weak_pendulum, run)
    for step, source in ((50, weak_pendulum), (100, BUNDLED_PENDULUM)):
        _copy(source, run / "snapshots" / f"step-{step:08d}")
    assert cli.main(["evaluate-snapshots", str(run), "--episodes", "3", "--no-progress"]) == 0
    curve = json.loads((run / SNAPSHOT_EVALS_FILE).read_text())["evaluations"]
    assert [(e["step"], e["protocol"]["name"]) for e in curve] == [
        (50, "greedy"),
        (100, "greedy"),
    ]  # no sticky here
    assert curve[1]["mean_reward"] == pytest.approx(
        pendulum.evaluate(BUNDLED_PENDULUM, episodes=3)["mean_reward"]
    )
    assert (run / SNAPSHOT_PLOT_FILE).stat().st_size > 1000
    capsys.readouterr()
    before = (run / SNAPSHOT_EVALS_FILE).read_bytes()
    assert cli.main(["evaluate-snapshots", str(run), "--episodes", "3", "--no-progress"]) == 0
    assert (run / SNAPSHOT_EVALS_FILE).read_bytes() == before
    assert "0 new evaluation(s) of 2 snapshot(s) (all done already" in capsys.readouterr().out
    assert (
        cli.main(["evaluate-snapshots", str(run), "--episodes", "4", "--no-progress"]) == 0
    )  # a new protocol
    curve = json.loads((run / SNAPSHOT_EVALS_FILE).read_text())["evaluations"]
    assert sorted((e["step"], e["n_eval_episodes"]) for e in curve) == [(50, 3), (50, 4), (100, 3), (100, 4)]


def test_snapshot_curve_every_kth_snapshot(tmp_path, weak_pendulum, capsys):
    run = tmp_path / "run"
    copy_of_folder(weak_pendulum, run)
    for step in (50, 100, 150):
        _copy(weak_pendulum, run / "snapshots" / f"step-{step:08d}")
    assert cli.main(["evaluate-snapshots", str(run), "--episodes", "2", "--every", "2", "--no-progress"]) == 0
    curve = json.loads((run / SNAPSHOT_EVALS_FILE).read_text())["evaluations"]
    assert [e["step"] for e in curve] == [50, 150]
    assert "2 new evaluation(s) of 2 snapshot(s) (chosen from 3 by --every 2)" in capsys.readouterr().out
