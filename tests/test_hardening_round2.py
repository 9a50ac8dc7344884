"""Issue 30, the low-severity items (D8-D15 but SIGINT): each bad input a one-line refusal naming what is
wrong, with nothing written. Checkpoints are copies of the repo's bundled agents (tests/app_support.py)."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest
from app_support import bundled_agent, fake_run_with_snapshots
from hub_server import TOKEN, HubServer

from rlcore import checkpoint as ckpt
from rlcore import cli, hub

DEEP = "[" * 100_000 + "]" * 100_000  # RecursionError for a plain json.loads
HUGE_INT = "7" * 5000  # beyond Python's 4,300-digit int conversion limit

pytestmark = pytest.mark.skipif(
    bundled_agent("pendulum") is None or bundled_agent("mario") is None, reason="needs the bundled agents"
)


def copy_agent(system: str, folder: Path) -> Path:
    return Path(
        shutil.copytree(
            bundled_agent(system),
            folder,
            ignore=shutil.ignore_patterns("training_state.*", "replay.mp4", "snapshots"),
        )
    )


def run(argv, capsys) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def one_line_refusal(code: int, err: str, fragment: str) -> None:
    assert code == 2 and err.startswith("rlcore: error: ") and len(err.splitlines()) == 1, err[:500]
    assert fragment in err and len(err) < 700, err[:500]


def refused_push(folder: Path, fragment: str) -> None:
    """push_checkpoint against a local Hub server: refused with `fragment`, nothing committed."""
    with HubServer(tokens={TOKEN: "alice"}) as server:
        with pytest.raises(ckpt.CheckpointError, match=fragment) as refusal:
            hub.push_checkpoint(folder, "alice/bad", token=TOKEN, endpoint=server.url, complete=False)
        assert "\n" not in str(refusal.value) and len(str(refusal.value)) < 700
        assert server.commits("alice/bad") == []


# ------------------------------------------------------------------ D9, D15: metrics.jsonl and config.json


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("[1, 2, 3]", "metrics.jsonl line 2: a training record must be a JSON object, got list"),
        (DEEP, "metrics.jsonl line 2: JSON nested more than 32 levels deep"),
        ('{"step": ' + HUGE_INT + "}", "metrics.jsonl line 2: not readable JSON (Exceeds the limit"),
    ],
    ids=["array", "nested", "5000-digits"],
)
def test_a_metrics_line_that_is_not_a_record_is_one_line_in_curves_and_push(tmp_path, capsys, line, fragment):
    folder = copy_agent("pendulum", tmp_path / "run")
    records = (folder / ckpt.METRICS_FILE).read_text().splitlines()
    (folder / ckpt.METRICS_FILE).write_text("\n".join([records[0], line, *records[1:]]) + "\n")
    code, err = run(["curves", folder, "--out", tmp_path / "curves.png"], capsys)
    one_line_refusal(code, err, fragment)
    assert not (tmp_path / "curves.png").exists()
    refused_push(folder, fragment.split(": ", 1)[1][:30].replace("(", r"\("))


def test_a_torn_metrics_line_is_still_skipped(tmp_path):
    from rlcore.metrics import read_metrics

    file = tmp_path / ckpt.METRICS_FILE
    file.write_text('{"step": 1}\n{"step": 2, "lo\n{"step": 3}\n{"step": 4, "x')
    assert [r["step"] for r in read_metrics(file)] == [1, 3]


def test_a_5000_digit_integer_in_config_json_names_the_file(tmp_path, capsys):
    folder = copy_agent("pendulum", tmp_path / "agent")
    text = (folder / ckpt.CONFIG_FILE).read_text()
    text = text.replace('"config": {', '"config": {"seed": ' + HUGE_INT + ", ", 1)
    (folder / ckpt.CONFIG_FILE).write_text(text)
    code, err = run(["evaluate", folder, "--episodes", 1], capsys)
    one_line_refusal(code, err, "config.json: not readable JSON (Exceeds the limit (4300 digits)")


# ------------------------------------------------------------------ D10, D11: snapshots


@pytest.fixture
def run_and_agent(tmp_path):
    agent = copy_agent("mario", tmp_path / "agent")
    return fake_run_with_snapshots(tmp_path / "run", agent), agent


@pytest.mark.parametrize(
    "document, fragment",
    [
        ([], "no 'evaluations' list"),
        ({"evaluations": [1]}, "malformed, field '0' "),
        (
            {
                "evaluations": [
                    {
                        "snapshot": "step-1",
                        "step": "ten",
                        "protocol": {"name": "greedy"},
                        "mean_reward": 1,
                        "n_eval_episodes": 1,
                        "rates": {},
                    }
                ]
            },
            "field '0.step' must be an integer, got 'ten'",
        ),
        (
            {
                "evaluations": [
                    {
                        "snapshot": "step-1",
                        "step": 1,
                        "protocol": {"name": "greedy"},
                        "mean_reward": 1,
                        "n_eval_episodes": 1,
                        "rates": {"flag_get": {"count": 1, "rate": 1.0, "ci95": [0]}},
                    }
                ]
            },
            "field '0.rates.flag_get.ci95'",
        ),
    ],
    ids=["array", "not-an-object", "string-step", "short-ci"],
)
def test_a_malformed_snapshot_evals_json_is_one_line_in_evaluate_snapshots_and_push(
    run_and_agent, capsys, document, fragment
):
    run_dir, agent = run_and_agent
    for folder in (run_dir, agent):
        (folder / "snapshot_evals.json").write_text(json.dumps(document))
    code, err = run(["evaluate-snapshots", run_dir, "--episodes", 1, "--no-progress"], capsys)
    one_line_refusal(code, err, "snapshot_evals.json: ")
    assert fragment in err, err
    refused_push(agent, "snapshot_evals.json: ")


def test_bundle_snapshots_checks_every_snapshot_before_writing_any(run_and_agent, capsys):
    import torch

    run_dir, agent = run_and_agent
    weights = run_dir / "snapshots" / "step-00700000" / ckpt.WEIGHTS_FILE
    tensors = ckpt.load_tensors(weights)
    first = next(iter(tensors))
    ckpt.atomic_save_tensors(weights, {**tensors, first: torch.full_like(tensors[first], 1e6)})  # > float16
    code, err = run(["bundle-snapshots", run_dir, agent, "--steps", 100_000, 300_000, 700_000], capsys)
    one_line_refusal(code, err, "does not fit in float16")
    assert not (agent / "snapshots").exists() and not (agent / "snapshot_evals.json").exists()


def test_bundling_a_run_into_itself_is_refused_and_keeps_its_float32_snapshots(run_and_agent, capsys):
    run_dir, agent = run_and_agent
    shutil.copyfile(agent / ckpt.CONFIG_FILE, run_dir / ckpt.CONFIG_FILE)  # a run folder is an agent too
    weights = run_dir / "snapshots" / "step-00100000" / ckpt.WEIGHTS_FILE
    before = weights.read_bytes()
    code, err = run(["bundle-snapshots", run_dir, run_dir / ".", "--steps", 100_000], capsys)
    one_line_refusal(code, err, "bundling a run into itself")
    assert weights.read_bytes() == before


# ------------------------------------------------------------------ D12, D14: weights, playthrough bounds


def test_weights_that_overflow_to_nan_are_refused_at_load_in_one_line(tmp_path, capsys):
    folder = copy_agent("mario", tmp_path / "huge")
    tensors = ckpt.load_tensors(folder / ckpt.WEIGHTS_FILE)
    huge = {k: v.float() * 1e30 for k, v in tensors.items()}  # finite in float32 (the agent's may be float16)
    ckpt.atomic_save_tensors(folder / ckpt.WEIGHTS_FILE, huge)
    out = tmp_path / "q.mp4"
    started = time.monotonic()
    code, err = run(["play", folder, "--show-q", "--max-steps", 5, "--out", out], capsys)
    one_line_refusal(code, err, "model.safetensors: the weights give NaN or infinite outputs")
    assert not out.exists() and time.monotonic() - started < 60


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--max-steps", -5], "field 'max_steps' must be from 1 to"),
        (["--seed", 2**40], "field 'seed' must be from 0 to 4294967295"),
        (["--sticky", 5], "field 'sticky' must be from 0.0 to 0.95"),
    ],
    ids=["negative-steps", "huge-seed", "sticky"],
)
def test_playthrough_options_have_plays_bounds(tmp_path, capsys, flags, fragment):
    out = tmp_path / "world.mp4"
    code, err = run(["playthrough", bundled_agent("mario"), "--out", out, *flags], capsys)
    one_line_refusal(code, err, fragment)
    assert not out.exists() and not out.with_suffix(".json").exists()


# ------------------------------------------------------------------ D13: a --ray-address that is not Ray


def test_a_ray_address_that_accepts_tcp_but_is_not_ray_is_one_line_within_the_timeout(tmp_path, capsys):
    from rlcore.mario.distributed import CONNECT_TIMEOUT_S, check_reachable

    with socket.socket() as silent:  # the kernel accepts connections; nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = "127.0.0.1:%d" % silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ConnectionError, match="no Ray cluster answers there .*no gRPC answer within 1 s"):
            check_reachable(address, timeout=1.0)
        assert time.monotonic() - started < 3
        started = time.monotonic()
        code, err = run(
            ["train", "mario", "--collector", "ray", "--ray-address", address, "--out", tmp_path / "run"],
            capsys,
        )
        assert code == 1 and len(err.splitlines()) == 1 and "no gRPC answer" in err, err
        assert time.monotonic() - started < CONNECT_TIMEOUT_S + 10
    assert not (tmp_path / "run" / ckpt.CONFIG_FILE).exists()


def test_a_grpc_server_passes_the_ray_address_check():
    from concurrent import futures

    import grpc

    from rlcore.mario.distributed import check_reachable

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # what a Ray head's GCS port speaks
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        check_reachable(f"127.0.0.1:{port}", timeout=5.0)
    finally:
        server.stop(None)


# ------------------------------------------------------------------ D8: a Hub agent's map.json


def edited_map(tmp_path: Path, edit) -> Path:
    folder = copy_agent("pendulum", tmp_path / "agent")
    document = json.loads((folder / "map.json").read_text())
    edit(document)
    (folder / "map.json").write_text(json.dumps(document, separators=(",", ":")))
    return folder


def rendered(folder: Path) -> str:
    """What the Watch tab and the card show of a map: the legend, the table's headers and cells, the card."""
    from demo.generalisation import legend, map_frame
    from rlcore.genmap import map_legend, map_table, read_map

    document = read_map(folder)
    frame = map_frame(document).data
    return "\n".join(
        [
            legend(document, "hf://alice/agent"),
            " ".join(map(str, frame.columns)),
            frame.to_string(),
            map_table(document),
            map_legend(document),
        ]
    )


def test_a_maps_labels_are_the_systems_whatever_the_file_says(tmp_path):
    evil = "![x](http://evil.example/x.png) [click](http://evil.example)"

    def edit(document):
        document["rows"]["label"] = 5
        document["columns"]["label"] = evil
        document["colour"]["label"] = evil
        document["mark"]["label"] = evil

    text = rendered(edited_map(tmp_path, edit))
    assert "evil.example" not in text and "rows: gravity g, columns: mass m" in text


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (
            lambda d: d.update(
                rows={**d["rows"], "values": list(range(740))},
                columns={**d["columns"], "values": list(range(740))},
                cells=[[{"options": {}, "summary": {}}] * 740] * 740,
            ),
            r"map.json: 14.6 MB, more than the 1 MB this file may have",
        ),
        (
            lambda d: d.update(
                rows={**d["rows"], "values": [5.0, 7.5, 10.0, 12.5, 15.0, 20.0, 25.0]},
                cells=[[{"options": {}, "summary": {}}] * 4] * 7,
            ),
            "rows must list 1 to 6 values",
        ),
        (lambda d: d["rows"].update(values=["5.0", 7.5]), "rows values must be distinct values of g"),
        (lambda d: d["rows"].update(values=[5.0, 5.0]), "rows values must be distinct values of g"),
        (lambda d: d["columns"].update(field="l"), "columns must be the map's 'm' axis"),
        (lambda d: d.update(seed="3"), "seeds must be from 0 to"),
    ],
    ids=["740x740", "7-rows", "string-value", "twice", "other-axis", "string-seed"],
)
def test_a_map_off_its_systems_grid_is_refused_in_one_line(tmp_path, edit, fragment):
    from rlcore.genmap import read_map

    folder = edited_map(tmp_path, edit)
    started = time.monotonic()
    with pytest.raises(ckpt.CheckpointError, match=fragment) as refusal:
        read_map(folder)
    assert str(refusal.value).startswith(str(folder / "map.json")) and "\n" not in str(refusal.value)
    assert time.monotonic() - started < 5
