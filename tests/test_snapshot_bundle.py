"""Bundled snapshots (issue 12, item 2): `rlcore bundle-snapshots RUN AGENT --steps ...` ships a few of a
run's snapshots with an agent in float16 (half the size, loaded back to float32), with their evaluations; the
Watch tab's "How it learned" reads them. Fixtures are made from the bundled Mario agent
(tests/app_support.py)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from app_support import SNAPSHOT_STEPS, bundled_agent, fake_run_with_snapshots

from rlcore.checkpoint import CheckpointError, load_tensors, read_safetensors_header
from rlcore.cli import main
from rlcore.systems import get_system

pytestmark = pytest.mark.skipif(bundled_agent("mario") is None, reason="needs the bundled Mario agent")


@pytest.fixture
def run_and_agent(tmp_path):
    source = bundled_agent("mario")
    agent = tmp_path / "agent"
    shutil.copytree(source, agent, ignore=shutil.ignore_patterns("training_state.*", "replay.mp4"))
    return fake_run_with_snapshots(tmp_path / "run", agent), agent


def test_bundled_snapshots_are_half_the_size_and_load_back_to_float32(run_and_agent, capsys):
    run, agent = run_and_agent
    assert main(["bundle-snapshots", str(run), str(agent), "--steps", "700000", "100000"]) == 0
    shipped = sorted(p.name for p in (agent / "snapshots").iterdir())
    assert shipped == ["step-00100000", "step-00700000"] and "MB" in capsys.readouterr().out
    for name in shipped:
        source, bundled = (folder / "snapshots" / name / "model.safetensors" for folder in (run, agent))
        assert {
            entry["dtype"] for key, entry in read_safetensors_header(bundled).items() if key != "__metadata__"
        } == {"F16"}
        assert bundled.stat().st_size < 0.51 * source.stat().st_size
        mario = get_system("mario").load(bundled.parent)  # the checkpoint rules accept float16 for float32
        original = load_tensors(source)
        for key, value in mario.net.online.state_dict().items():
            assert value.dtype == torch.float32
            assert torch.allclose(value, original[key], rtol=1e-3, atol=1e-4), key
    evaluations = json.loads((agent / "snapshot_evals.json").read_text())["evaluations"]
    assert [e["step"] for e in evaluations] == list(SNAPSHOT_STEPS)  # the run's curve comes along


def test_a_step_the_run_does_not_have_is_one_line_and_writes_nothing(run_and_agent, capsys):
    run, agent = run_and_agent
    assert main(["bundle-snapshots", str(run), str(agent), "--steps", "100000", "123"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "no snapshot at step 123 (it has 100000, 300000, 700000)" in error
    assert not (agent / "snapshots").exists()


def test_a_value_float16_cannot_hold_is_refused_and_only_float16_may_stand_for_float32(run_and_agent):
    from rlcore.checkpoint import atomic_save_tensors
    from rlcore.snapshots import bundle_snapshots

    run, agent = run_and_agent
    weights = run / "snapshots" / "step-00300000" / "model.safetensors"
    tensors = load_tensors(weights)
    first = next(iter(tensors))
    atomic_save_tensors(weights, {**tensors, first: tensors[first] * 0 + 1e6})  # beyond float16's 65504
    with pytest.raises(CheckpointError, match="does not fit in float16"):
        bundle_snapshots(run, agent, [300_000])
    assert not (agent / "snapshots").exists()
    atomic_save_tensors(agent / "model.safetensors", {k: v.bfloat16() for k, v in tensors.items()})
    with pytest.raises(CheckpointError, match="is torch.bfloat16, expected torch.float32"):
        get_system("mario").load(agent)


def test_the_watch_tab_describes_an_agents_snapshots_or_says_it_has_none(run_and_agent):
    from demo.learning import bundled_snapshots, evaluated_rate, short_steps
    from rlcore.snapshots import bundle_snapshots, snapshot_rates

    run, agent = run_and_agent
    assert bundled_snapshots(agent) == []  # before: none
    bundle_snapshots(run, agent, SNAPSHOT_STEPS)
    assert [step for step, _ in bundled_snapshots(agent)] == list(SNAPSHOT_STEPS)
    mario = get_system("mario")
    rates = snapshot_rates(agent)
    assert [evaluated_rate(mario, rates[f"step-{s:08d}"]) for s in SNAPSHOT_STEPS] == [
        "flag rate 0% (0/20)",
        "flag rate 50% (10/20)",
        "flag rate 100% (20/20)",
    ]
    assert evaluated_rate(mario, rates["step-00300000"], counts=False) == "flag rate 50%"
    assert [short_steps(s) for s in (999, 100_000, 275_000, 1_250_000)] == ["999", "100k", "275k", "1.25M"]
    assert bundled_snapshots(bundled_agent("pendulum")) == []  # the Pendulum ships none


def test_more_snapshots_than_panels_are_thinned_evenly_keeping_the_first_and_last(tmp_path):
    from demo.learning import MAX_PANELS, bundled_snapshots

    for step in range(1, 21):
        (tmp_path / "snapshots" / f"step-{step * 1000:08d}").mkdir(parents=True)
    steps = [step for step, _ in bundled_snapshots(tmp_path)]
    assert len(steps) == MAX_PANELS and steps[0] == 1000 and steps[-1] == 20_000 and steps == sorted(steps)
