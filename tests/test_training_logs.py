"""TensorBoard logs beside metrics.jsonl: written by the one metrics writer (rlcore.metrics.MetricsFile), so
every trainer's records reach both; read back with TensorBoard's own reader."""

from __future__ import annotations

import math

import pytest

from rlcore.metrics import EVENT_FILES, MetricsFile, read_metrics


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series TensorBoard shows for `folder`: tag -> [(step, value)], restarts purged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_short_pendulum_training_writes_event_files_tensorboard_reads_back(tmp_path):
    from rlcore.systems import get_system

    pendulum = get_system("pendulum")
    for _ in pendulum.train(pendulum.Config(iterations=5), tmp_path / "run"):
        pass
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert len(list((tmp_path / "run").glob(EVENT_FILES))) == 1
    found = scalars(tmp_path / "run")
    logged = {
        (key, record["step"]): value
        for record in records
        for key, value in record.items()
        if key != "step" and isinstance(value, int | float) and not isinstance(value, bool)
    }
    assert {"return", "last_reward", "grad_norm"} <= {key for key, _ in logged} == set(found)
    for tag, series in found.items():
        expected = sorted((step, value) for (key, step), value in logged.items() if key == tag)
        assert [step for step, _ in series] == [step for step, _ in expected]
        assert [value for _, value in series] == pytest.approx([value for _, value in expected], rel=1e-6)


def test_a_resumed_run_hides_the_records_after_its_checkpoint_and_a_new_run_starts_afresh(tmp_path):
    metrics = MetricsFile(tmp_path / "metrics.jsonl")
    for step in range(1, 6):
        metrics.append({"step": step, "loss": float(step), "note": "text is not a scalar", "flag": True})
    metrics.tensorboard.close()
    resumed = MetricsFile(tmp_path / "metrics.jsonl", resume=True)
    resumed.truncate_after("step", 3)  # the checkpoint was at step 3: steps 4 and 5 are played again
    for step in (4, 5, 6):
        resumed.append({"step": step, "loss": 10.0 * step, "bad": math.nan})
    resumed.tensorboard.close()
    assert scalars(tmp_path) == {"loss": [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0), (6, 60.0)]}
    assert [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3, 40, 50, 60]

    fresh = MetricsFile(tmp_path / "metrics.jsonl")  # not a resume: no old event file is left to mix in
    assert not list(tmp_path.glob(EVENT_FILES))
    fresh.append({"step": 1, "loss": 0.5})
    fresh.tensorboard.close()
    assert scalars(tmp_path) == {"loss": [(1, 0.5)]}
