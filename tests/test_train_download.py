"""The Train tab's download: a zip of what an upload or a Hub push needs, never the resume state.

A Pendulum run goes through the app (train, zip, upload the zip in Agents, play it in Watch); a Mario
run of the real trainer (on the fake image env, as the app bounds it) checks the zip's size with the
real network's weights and a real resume state beside them.
"""

from __future__ import annotations

import functools
import shutil
import zipfile

import pytest
from app_support import agent_checkpoints, bundled_agent, running_app, start_training
from gradio_client import Client, handle_file
from mario_fake_env import make_fake_env

from demo.train import run_config, zip_checkpoint
from rlcore.checkpoint import REPLAY_FILE, RESULTS_FILE, TRAINING_META_FILE, TRAINING_STATE_FILE
from rlcore.config import from_dict
from rlcore.hub import files_to_push
from rlcore.systems import get_system

BUNDLED_MARIO = bundled_agent("mario")
RESUME_STATE = {TRAINING_STATE_FILE, TRAINING_META_FILE}


def names_in(archive) -> set[str]:
    with zipfile.ZipFile(archive) as z:
        return {name.split("/")[-1] for name in z.namelist()}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-download")
    checkpoints, _ = agent_checkpoints(root, "pendulum")
    with running_app(checkpoints, root / "work") as (url, context):
        yield Client(url, verbose=False), context


@pytest.mark.extended
def test_the_pendulum_zip_uploads_in_agents_and_plays_in_watch_without_the_resume_state(app):
    client, context = app
    job = start_training(client, "pendulum", "tutorial", 30, 0.002, 0, False)
    status, *_, video, archive = job.result(timeout=300)
    assert "Saved as" in status, status
    run = next(context.settings.runs_dir.glob("*-pendulum-*"))
    assert RESUME_STATE <= {p.name for p in run.iterdir()}  # the run can still be resumed where it trained
    names = names_in(archive)
    events = {name for name in names if name.startswith("events.out.tfevents.")}  # TensorBoard's logs
    assert len(events) == 1 and names - events == {
        "model.safetensors",
        "config.json",
        RESULTS_FILE,
        "metrics.jsonl",
        REPLAY_FILE,
        "training.png",
    }
    assert names == {p.name for p in files_to_push(run)}  # the zip is what a Hub push publishes
    added, *_ = client.predict([handle_file(archive)], False, api_name="/upload_agent")
    assert added.startswith("Added **uploaded/pendulum-"), added
    ref = added.split("**")[1]
    video, watched, *_ = client.predict("pendulum", ref, "(none)", 3, 1, 1, 10.0, 1.0, 1.0, api_name="/watch")
    assert video and ref in watched and "on seed 3" in watched


@pytest.mark.extended
@pytest.mark.skipif(BUNDLED_MARIO is None, reason="needs the bundled Mario agent's replay and results")
def test_a_mario_zip_is_under_15_mb_and_leaves_the_resume_state_out(tmp_path):
    system = get_system("mario")
    config = from_dict(system.Config, run_config("mario", "tutorial", 120, 0.00025, 0))  # the app's config
    out = tmp_path / "run"
    from rlcore.mario.train import train

    list(
        train(
            config, out, device="cpu", env_fn=functools.partial(make_fake_env, min_frames=40, max_frames=200)
        )
    )
    for name in (RESULTS_FILE, REPLAY_FILE):  # what the tab adds after training: its evaluation and video
        shutil.copyfile(BUNDLED_MARIO / name, out / name)
    state_mb = (out / TRAINING_STATE_FILE).stat().st_size / 2**20
    archive = zip_checkpoint(out, tmp_path / "downloads")
    assert names_in(archive) == {p.name for p in files_to_push(out)}
    assert {"model.safetensors", "config.json", RESULTS_FILE, "metrics.jsonl", REPLAY_FILE} <= names_in(
        archive
    )
    assert not RESUME_STATE & names_in(archive) and state_mb > 10
    assert archive.stat().st_size < 15 * 2**20
    assert not list((tmp_path / "downloads").glob(".*"))  # no temporary file left beside it
