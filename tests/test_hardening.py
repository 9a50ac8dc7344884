"""Issue 15: bad checkpoints, uploads, Hub repos, caches, links, resumes and limits, each refused in one
readable line with nothing lost. App items run through gradio_client against an app launched as on a
public Space (SPACE_ID set), its work folder outside the temp dir and the working directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from app_support import agent_checkpoints, running_app
from gradio_client import Client, handle_file
from hub_server import TOKEN, HubServer, folder_bytes, make_checkpoint
from safetensors.torch import save_file

from rlcore import checkpoint as ckpt
from rlcore import cli, hub

ROOT = Path(__file__).resolve().parents[1]
DEEP = "[" * 100_000 + "]" * 100_000  # 100k nested lists: RecursionError for a plain json.loads
PENDULUM_TRAIN = [
    "--iterations",
    "6",
    "--checkpoint-every",
    "2",
    "--batch-size",
    "8",
    "--rollout-steps",
    "20",
]


def tiny_weights(folder: Path) -> Path:
    """A 44-byte-class safetensors file: nothing like the network any config describes."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"x": torch.zeros(1)}, str(folder / ckpt.WEIGHTS_FILE))
    return folder


def with_config(
    source: Path, folder: Path, weights: Path | None = None, top: dict | None = None, **fields
) -> Path:
    """A copy of `source`'s config.json with `fields` changed (and `top`-level keys), beside `weights`."""
    folder.mkdir(parents=True, exist_ok=True)
    document = json.loads((source / ckpt.CONFIG_FILE).read_text())
    document["config"].update(fields)
    document.update(top or {})
    (folder / ckpt.CONFIG_FILE).write_text(json.dumps(document))
    if weights is not None:
        shutil.copyfile(weights, folder / ckpt.WEIGHTS_FILE)
    return folder


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "rlcore-app"  # shared with test_app.py: one trained agent
    checkpoints, pendulum = agent_checkpoints(root, "pendulum")
    _, mario = agent_checkpoints(root, "mario")
    return SimpleNamespace(
        checkpoints=checkpoints, pendulum=checkpoints / pendulum, mario=checkpoints / mario
    )


# ------------------------------------------------------------------ 1. bounds and header before building

MEMORY_PROBE = r"""
import json, resource, sys
from rlcore.checkpoint import CheckpointError
from rlcore.systems import get_system

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

good, bad = json.loads(sys.argv[1])
for system, folder in good:
    get_system(system).load(folder)  # imports and one real load: the baseline
baseline = peak_mb()
refusals = {}
for system, folder in bad:
    try:
        get_system(system).load(folder)
        refusals[folder] = None
    except CheckpointError as err:
        refusals[folder] = str(err)
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak_mb(), "refusals": refusals}))
"""


def test_a_config_beyond_its_bounds_or_unlike_its_weights_is_refused_before_anything_is_built(
    agents, tmp_path
):
    bad = {  # folder name: (system, config changes, top-level changes, what the refusal says)
        "wide": ("pendulum", {"hidden_size": 16384}, {}, "field 'hidden_size' must be from 1 to 1024"),
        "deep": ("pendulum", {"hidden_layers": 20000}, {}, "field 'hidden_layers' must be from 1 to 16"),
        "negative": ("pendulum", {"hidden_size": -5}, {}, "field 'hidden_size' must be from 1 to 1024"),
        "float": ("pendulum", {"hidden_size": 1e6}, {}, "field 'hidden_size' must be from 1 to 1024"),
        # inside the bounds, but the weights' header does not match: refused on the header alone
        "in-bounds": (
            "pendulum",
            {"hidden_size": 1024, "hidden_layers": 16},
            {},
            "weights do not match the model",
        ),
        "joypad": ("mario", {}, {"action_dim": 500000}, "action_dim 500000, but the action set"),
        "world-9": ("mario", {"world": 9}, {}, "field 'world' must be from 1 to 8"),
    }
    folders = {}
    for name, (system, fields, top, _) in bad.items():
        source = agents.pendulum if system == "pendulum" else agents.mario
        folders[name] = str(with_config(source, tiny_weights(tmp_path / name), top=top, **fields))
    probe = [
        [("pendulum", str(agents.pendulum)), ("mario", str(agents.mario))],
        [(bad[name][0], folder) for name, folder in folders.items()],
    ]
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, json.dumps(probe)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for name, folder in folders.items():
        assert bad[name][3] in (report["refusals"][folder] or "no refusal"), report["refusals"][folder]
    growth = report["peak_mb"] - report["baseline_mb"]
    print(f"peak RSS {report['peak_mb']:.0f} MB, {growth:.1f} MB above the imports and a real load")
    assert growth < 600  # before: hidden_size 16384 alone allocated ~2 GB


def test_nan_weights_are_refused_on_load(agents, tmp_path):
    folder = shutil.copytree(
        agents.pendulum, tmp_path / "nan", ignore=shutil.ignore_patterns("training_state.*")
    )
    tensors = ckpt.load_tensors(folder / ckpt.WEIGHTS_FILE)
    tensors[next(iter(tensors))][0] = float("nan")
    save_file(tensors, str(folder / ckpt.WEIGHTS_FILE))
    from rlcore.systems import get_system

    with pytest.raises(ckpt.CheckpointError, match="holds NaN or infinite values"):
        get_system("pendulum").load(folder)


# ------------------------------------------------------------------ the command line (items 6, 7, 9, 10, 12)


def run(argv, capsys) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def test_play_options_and_seeds_outside_their_bounds_are_one_line(agents, capsys, tmp_path):
    out = tmp_path / "x.mp4"
    for flag, value, fragment in (
        ("--m", 0, "field 'm'"),
        ("--l", 0, "field 'l'"),
        ("--m", -1, "field 'm'"),
        ("--steps", 10**9, "field 'steps' must be from 1 to 1000"),
        ("--seed", 2**64, "field 'seed' must be from 0 to 4294967295"),
    ):
        code, err = run(["play", agents.pendulum, "--out", out, flag, value], capsys)
        assert code == 2 and err.startswith("rlcore: error: ") and fragment in err, err
        assert len(err.splitlines()) == 1
    code, err = run(["evaluate", agents.pendulum, "--seed", 2**32 - 2, "--episodes", 5], capsys)
    assert code == 2 and "seeds must be from 0 to 4294967295" in err, err
    assert not out.exists()


def test_nested_json_and_long_names_are_one_short_line(agents, capsys, tmp_path):
    folder = shutil.copytree(
        agents.pendulum, tmp_path / "nested", ignore=shutil.ignore_patterns("training_state.*")
    )
    (folder / ckpt.CONFIG_FILE).write_text(DEEP)
    code, err = run(["evaluate", folder], capsys)
    assert code == 2 and "config.json: JSON nested more than" in err, err
    code, err = run(["play", "a" * 100_000], capsys)
    assert code in (1, 2) and len(err) < 400 and "characters)..." in err, err[:300]


def test_train_out_over_a_users_own_metrics_refuses_and_keeps_them(capsys, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ckpt.METRICS_FILE).write_text('{"my": "records"}\n')
    code, err = run(["train", "pendulum", "--out", mine, *PENDULUM_TRAIN], capsys)
    assert code == 2 and "metrics.jsonl exists" in err, err
    assert (mine / ckpt.METRICS_FILE).read_text() == '{"my": "records"}\n'


def test_pendulum_resume_without_training_state_refuses_and_touches_nothing(agents, capsys, tmp_path):
    folder = shutil.copytree(
        agents.pendulum, tmp_path / "agent", ignore=shutil.ignore_patterns("training_state.*")
    )
    before = folder_bytes(folder)
    code, err = run(["train", "pendulum", "--resume", "--out", folder], capsys)
    assert code == 2 and "training_state.json: missing, nothing to resume" in err, err
    assert folder_bytes(folder) == before  # the weights and metrics.jsonl are as they were


@pytest.mark.parametrize(
    "bad", [{}, [], {"iteration": 2}, {"iteration": 2, "optimizer": {}, "scheduler": {}}]
)
def test_a_corrupted_training_state_is_one_line(capsys, tmp_path, bad):
    out = tmp_path / "run"
    assert run(["train", "pendulum", "--out", out, *PENDULUM_TRAIN], capsys)[0] == 0
    tensors = ckpt.load_tensors(out / ckpt.TRAINING_STATE_FILE)
    ckpt.atomic_save_tensors(out / ckpt.TRAINING_STATE_FILE, tensors)  # as older saves: the JSON part alone
    (out / ckpt.TRAINING_META_FILE).write_text(json.dumps(bad))
    code, err = run(["train", "pendulum", "--resume", "--out", out], capsys)
    assert code == 2 and "/run/training_state." in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


class SimulatedCrash(BaseException):
    """The process dies: this write and every later one never happen."""


@pytest.mark.parametrize(
    "crash_at", [ckpt.TRAINING_STATE_FILE, ckpt.TRAINING_META_FILE, ckpt.WEIGHTS_FILE, ckpt.CONFIG_FILE]
)
def test_pendulum_save_is_atomic_as_a_set(tmp_path, monkeypatch, crash_at):
    """A crash between the files of a save, then --resume: the same weights as a run never interrupted."""
    from rlcore.pendulum import api

    config = api.Config(iterations=6, checkpoint_every=2, batch_size=8, rollout_steps=20)
    list(api.train(config, tmp_path / "whole", device="cpu"))
    publish, seen, dead = ckpt.publish_temporary_file, [], []

    def dying_publish(tmp, path):
        seen.append(path.name)
        if dead or (path.name == crash_at and seen.count(crash_at) == 2):  # the save at iteration 4
            dead.append(path.name)
            raise SimulatedCrash
        publish(tmp, path)

    monkeypatch.setattr(ckpt, "publish_temporary_file", dying_publish)
    with pytest.raises(SimulatedCrash):
        list(api.train(config, tmp_path / "crashed", device="cpu"))
    monkeypatch.setattr(ckpt, "publish_temporary_file", publish)
    list(api.train(config, tmp_path / "crashed", resume=True, device="cpu"))
    whole = ckpt.load_tensors(tmp_path / "whole" / ckpt.WEIGHTS_FILE)
    resumed = ckpt.load_tensors(tmp_path / "crashed" / ckpt.WEIGHTS_FILE)
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


def test_push_refuses_a_link_out_of_the_folder(tmp_path):
    with HubServer(tokens={TOKEN: "alice"}) as server:
        folder = make_checkpoint(tmp_path / "run")
        secret = tmp_path / "token"
        secret.write_text("hf_secret")
        (folder / "notes.png").symlink_to(secret)
        with pytest.raises(
            ckpt.CheckpointError, match=r"notes\.png: a link to a file outside the checkpoint"
        ):
            hub.push_checkpoint(folder, "alice/linked", token=TOKEN, endpoint=server.url, complete=False)
        assert server.commits("alice/linked") == []


# ------------------------------------------------------------------ the app on a public Space


@pytest.fixture(scope="module")
def space(agents):
    saved = {k: os.environ.get(k) for k in ("SPACE_ID", "RLCORE_ALLOW_LOCAL_PATHS")}
    os.environ["SPACE_ID"] = "someone/rlcore"
    os.environ.pop("RLCORE_ALLOW_LOCAL_PATHS", None)
    # outside the temp dir and the working directory: Gradio serves it only through allowed_paths
    work = Path.home() / ".cache" / f"rlcore-test-{uuid.uuid4().hex[:8]}"
    try:
        with HubServer(tokens={TOKEN: "alice"}) as server:
            hub.push_checkpoint(
                agents.pendulum, "alice/pendulum", token=TOKEN, endpoint=server.url, complete=False
            )
            with running_app(
                agents.checkpoints,
                work,
                max_upload_mb=16,
                max_hub_mb=1,
                hub_endpoint=server.url,
                max_kept_hub_repos=1,
            ) as (url, context):
                assert context.settings.allow_local_paths is False
                yield SimpleNamespace(
                    client=Client(url, verbose=False), context=context, server=server, agents=agents
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def watch(space, agent, system="pendulum", seed=0):
    return space.client.predict(system, agent, "(none)", seed, 1, 1, 10.0, 1.0, 1.0, api_name="/watch")


def upload(space, *paths):
    return space.client.predict([handle_file(str(p)) for p in paths], False, api_name="/upload_agent")


def stored_uploads(space) -> list[str]:
    return sorted(p.name for p in space.context.settings.uploads_dir.iterdir())


def test_a_space_serves_videos_from_a_work_dir_anywhere(space):
    work = space.context.settings.work_dir
    assert not work.is_relative_to(tempfile.gettempdir()) and not work.is_relative_to(Path.cwd())
    video, status, figures, _ = watch(space, space.agents.pendulum.name, seed=5)
    assert video is not None and open(video, "rb").read(12)[4:8] == b"ftyp", status


def refused(status: str, fragment: str) -> None:
    assert status.startswith("**Refused:**") and fragment in status, status
    assert "Traceback" not in status and ".staging" not in status


def test_bad_uploads_are_refused_early_and_leave_nothing(space, tmp_path):
    pendulum, mario = space.agents.pendulum, space.agents.mario
    before = stored_uploads(space)
    wide = with_config(pendulum, tiny_weights(tmp_path / "wide"), hidden_size=16384)
    started = time.perf_counter()
    refused(upload(space, wide / "config.json", wide / "model.safetensors")[0], "field 'hidden_size'")
    assert time.perf_counter() - started < 10  # before: 22.7 s and 2.9 GB
    negative = with_config(pendulum, tiny_weights(tmp_path / "negative"), hidden_size=-5)
    refused(upload(space, negative / "config.json", negative / "model.safetensors")[0], "field 'hidden_size'")
    joypad = with_config(mario, tiny_weights(tmp_path / "joypad"), top={"action_dim": 500000})
    refused(upload(space, joypad / "config.json", joypad / "model.safetensors")[0], "action_dim 500000")
    nested = tmp_path / "nested"
    tiny_weights(nested)
    (nested / "config.json").write_text(DEEP)
    refused(upload(space, nested / "config.json", nested / "model.safetensors")[0], "nested more than")
    assert stored_uploads(space) == before


def test_a_refused_upload_is_not_kept_and_its_results_are_never_shown(space, tmp_path):
    from rlcore.mario.net import MarioNet

    before = stored_uploads(space)
    fake = {"mean_reward": 99999, "std_reward": 0, "n_eval_episodes": 1, "flag_rate": 1.0}
    nan = shutil.copytree(
        space.agents.pendulum, tmp_path / "nan", ignore=shutil.ignore_patterns("training_state.*")
    )
    tensors = ckpt.load_tensors(nan / ckpt.WEIGHTS_FILE)
    tensors[next(iter(tensors))][:] = float("nan")
    save_file(tensors, str(nan / ckpt.WEIGHTS_FILE))
    (nan / ckpt.RESULTS_FILE).write_text(json.dumps(fake))
    refused(upload(space, *(nan / n for n in ("model.safetensors", "config.json", "results.json")))[0], "NaN")
    # a head wider than the joypad, its weights matching that head
    wider = with_config(space.agents.mario, tmp_path / "wider", top={"action_dim": 5}, dueling=False)
    save_file(MarioNet((4, 84, 84), 5).online.state_dict(), str(wider / ckpt.WEIGHTS_FILE))
    refused(
        upload(space, wider / "config.json", wider / "model.safetensors")[0],
        "action_dim 5, but the action set",
    )
    world = with_config(
        space.agents.mario, tmp_path / "world", weights=space.agents.mario / ckpt.WEIGHTS_FILE, world=9
    )
    refused(upload(space, world / "config.json", world / "model.safetensors")[0], "field 'world'")
    assert stored_uploads(space) == before

    good = shutil.copytree(
        space.agents.pendulum, tmp_path / "good", ignore=shutil.ignore_patterns("training_state.*")
    )
    (good / ckpt.RESULTS_FILE).write_text(json.dumps(fake))
    status, table, _, _ = upload(
        space, *(good / n for n in ("model.safetensors", "config.json", "results.json"))
    )
    assert status.startswith("Added **uploaded/"), status
    rows = [dict(zip(table["headers"], row)) for row in table["data"] if row[0].startswith("uploaded/")]
    assert rows and all(row["mean return"] != 99999 and row["episodes"] == 10 for row in rows)


def test_a_corrupt_zip_is_one_line_and_stale_staging_is_pruned(space, tmp_path):
    uploads = space.context.settings.uploads_dir
    stale = uploads / ".staging-crashed"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("model.safetensors", b"\0" * 4096)
        z.writestr("config.json", (space.agents.pendulum / "config.json").read_text())
    data = bytearray(archive.read_bytes())
    data[data.index(b"\0" * 4096) + 100] = 1  # the member no longer matches its CRC
    archive.write_bytes(bytes(data))
    refused(upload(space, archive)[0], "bad.zip: not a readable zip (BadZipFile")
    assert not stale.exists()


def test_nested_results_do_not_break_the_agents_table_nor_a_restart(space):
    from demo import build_app

    run = space.context.settings.runs_dir / "nested-results"
    shutil.copytree(space.agents.pendulum, run, ignore=shutil.ignore_patterns("training_state.*"))
    (run / ckpt.RESULTS_FILE).write_text(DEEP)
    try:
        table, note = space.client.predict(False, api_name="/agents")
        rows = {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}
        assert rows["trained/nested-results"]["mean return"] is None
        build_app(context=space.context)  # what a restarted app does first
    finally:
        shutil.rmtree(run)


def test_agent_configs_are_parsed_once_per_file_version(space, monkeypatch):
    parse, parsed = ckpt._parse_config, []
    monkeypatch.setattr(ckpt, "_parse_config", lambda file: parsed.append(file) or parse(file))
    space.client.predict(False, api_name="/agents")
    parsed.clear()
    space.client.predict(False, api_name="/agents")
    watch(space, space.agents.pendulum.name)
    assert parsed == []  # every agent's config.json came from the cache
    config = space.agents.pendulum / ckpt.CONFIG_FILE
    text = config.read_text()
    config.write_text(text + " ")  # a new version of the file is read again
    try:
        space.client.predict(False, api_name="/agents")
        assert config in parsed
    finally:
        config.write_text(text)


def test_hub_repos_are_checked_from_their_listing_before_download(space):
    server, hub_dir = space.server, space.context.settings.hub_dir
    config = (space.agents.pendulum / "config.json").read_bytes()
    server.create_repo_with_files(
        "bob/not-an-agent",
        {
            "config.json": json.dumps({"library_name": "transformers"}).encode(),
            "model.safetensors": b"\0" * (900 << 10),
            "pics/deep/a.png": b"\x89PNG",
        },
    )
    refused(watch(space, "bob/not-an-agent")[1], "not an rlcore checkpoint")  # config.json was fetched first
    server.create_repo_with_files(
        "bob/too-big",
        {"config.json": config, "model.safetensors": b"\0" * 1000, "replay.mp4": b"\0" * (2 << 20)},
    )
    refused(watch(space, "bob/too-big")[1], "more than the 1 MB a pull may fetch")
    downloaded = [p for p in hub_dir.rglob("*") if p.is_file()]
    assert not [p for p in downloaded if p.stat().st_size > 100 << 10 or p.name == "a.png"], downloaded
    video, status, figures, _ = watch(space, "alice/pendulum")
    assert figures["agents"]["alice/pendulum"]["frames"] == 201, status
    assert [p.name for p in hub_dir.glob("models--*")] == ["models--alice--pendulum"]  # the app's own, pruned


def test_seeds_and_names_are_bounded_in_watch_and_train(space):
    started = time.perf_counter()
    refused(watch(space, space.agents.mario.name, system="mario", seed=2**64)[1], "field 'seed'")
    assert time.perf_counter() - started < 10  # refused before the episode is rendered
    status = space.client.predict("pendulum", "tutorial", 10, 0.002, 2**63, False, api_name="/train")[0]
    refused(status, "the seed must be a whole number from 0 to 4294967295")
    status = watch(space, "x" * 100_000)[1]
    refused(status, "characters)...")
    assert len(status) < 600


def test_a_mario_run_shorter_than_the_replay_minimum_is_made_to_work():
    from demo.train import run_config
    from rlcore.config import from_dict
    from rlcore.systems import get_system

    config = run_config("mario", "tutorial", 5, 0.00025, 0)
    from_dict(get_system("mario").Config, config)  # within the system's bounds: the run can start
    assert config["max_steps"] == 5 and config["memory_size"] >= 8


def test_gradios_copies_of_served_files_are_deleted_on_a_schedule(agents, tmp_path):
    from demo import build_app
    from demo.context import AppContext, AppSettings

    context = AppContext(
        AppSettings.from_env(
            checkpoints_dir=agents.checkpoints, work_dir=tmp_path / "work", gradio_cache_seconds=(1, 1)
        )
    )
    app = build_app(context=context)
    from app_support import free_port

    port = free_port()
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **context.settings.launch_options(),
    )
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict("pendulum", agents.pendulum.name, "(none)", 3, 1, 1, 10.0, 1.0, 1.0, api_name="/watch")
        kept = set().union(*(getattr(block, "keep_in_cache", set()) for block in app.blocks.values()))
        copies = [
            Path(f) for files in app.temp_file_sets for f in files if f not in kept
        ]  # e.g. the first page's
        assert copies and any(p.name.endswith(".mp4") and p.is_file() for p in copies)
        deadline = time.monotonic() + 30
        while any(p.exists() for p in copies) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(p.exists() for p in copies)
    finally:
        app.close()
        context.close()
