"""The Gradio app driven through gradio_client, the same api_names the browser uses.

One app per module on a free port, on a real Pendulum checkpoint (the bundled one, or a few iterations of
the real trainer), with a local Hub-protocol server for the Hub parts. Training runs in a real child
process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import imageio.v2 as imageio
import pytest
import torch
from app_support import agent_checkpoints, bundled_agent, running_app, start_training
from gradio_client import Client, handle_file
from hub_server import TOKEN, HubServer

from rlcore import hub

# The bundled Pendulum agent's name (app_support trains a small one under this name until it is bundled).
AGENT = (bundled_agent("pendulum") or Path("pendulum-small")).name


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "rlcore-app"  # shared with test_browser.py: one trained agent
    checkpoints, agent = agent_checkpoints(root, "pendulum")
    assert agent == AGENT
    # The app offers "push to the Hub" only when the machine has a token (as a Space with a secret) and the
    # owner named the namespace its runs go to (RLCORE_HUB_PUSH_NAMESPACE).
    token_before = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = TOKEN
    with HubServer(tokens={TOKEN: "alice"}) as server:
        hub.push_checkpoint(checkpoints / AGENT, "alice/pendulum-from-hub", token=TOKEN, endpoint=server.url)
        # Two runs at once: the one-run-per-visitor refusal needs a free slot to answer at once.
        with running_app(
            checkpoints,
            root / "work",
            max_upload_mb=1,
            heartbeat_timeout=20,
            max_concurrent_runs=2,
            hub_endpoint=server.url,
            hub_cache_dir=root / "hub-cache",
            hub_push_namespace="alice",
        ) as (url, context):
            yield SimpleNamespace(
                client=Client(url, verbose=False),
                context=context,
                checkpoints=checkpoints,
                server=server,
                url=url,
            )
    if token_before is None:
        os.environ.pop("HF_TOKEN")
    else:
        os.environ["HF_TOKEN"] = token_before


def watch(client, agent=AGENT, compare="(none)", seed=0, g=10.0, m=1.0, l=1.0):  # noqa: E741
    return client.predict("pendulum", agent, compare, seed, 1, 1, g, m, l, api_name="/watch")


def decoded_frames(path) -> list:
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return [frame for frame in reader.iter_data()]  # list(reader) asks len(): inf for ffmpeg


def test_watch_returns_a_playable_mp4_and_a_repeat_comes_from_the_cache(app):
    video, status, figures, plot = watch(app.client, seed=0)
    (summary_of_agent,) = figures["agents"].values()
    frames = decoded_frames(video)
    # The episode's start plus one frame per step, every one decoded from the served mp4.
    assert len(frames) == summary_of_agent["frames"] == summary_of_agent["summary"]["steps"] + 1 == 201
    assert frames[0].shape == (320, 320, 3) and frames[0].std() > 0
    assert len(plot["data"]) == 200 and "| return |" in status
    assert "| swung up |" in status and "_" not in status.split("| figure |")[1]  # words, not raw keys

    played = app.context.renderer.episodes_played
    start = time.perf_counter()
    again, status_again, figures_again, _ = watch(app.client, seed=0)
    assert figures_again["cached"] is True and "served from the cache" in status_again
    assert app.context.renderer.episodes_played == played  # no episode was played for the repeat
    assert open(again, "rb").read() == open(video, "rb").read()
    assert time.perf_counter() - start < 5


def test_physics_and_comparison_side_by_side(app):
    video, status, figures, plot = watch(app.client, compare=AGENT, seed=0, g=4.0, m=1.5)
    left, right = figures["agents"].values()
    assert left["summary"]["g"] == right["summary"]["g"] == 4.0 and left["summary"]["m"] == 1.5
    assert left["summary"]["return"] == pytest.approx(right["summary"]["return"])  # same agent, same seed
    frame = decoded_frames(video)[0]
    assert frame.shape[1] == 2 * 320 + 8  # two episodes side by side with a gap
    assert {row[2] for row in plot["data"]} == {"left", "right"}  # both agents' per-step figures
    default_physics = watch(app.client, seed=0)[2]["agents"][AGENT]["summary"]
    assert default_physics["return"] != pytest.approx(
        left["summary"]["return"]
    )  # the physics changed the episode


def test_the_status_says_when_the_physics_differ_from_training(app):
    same = watch(app.client, seed=1)[1]
    assert f"**{AGENT}**: Physics g 10, m 1, l 1, as in training." in same
    other = watch(app.client, seed=1, g=4.0)[1]
    assert "Physics g 4, m 1, l 1: not what it trained on (g 10, m 1, l 1)" in other


def test_a_comparison_reuses_the_cached_episodes_instead_of_replaying_them(app):
    single = watch(app.client, seed=11)[2]["agents"][AGENT]
    played = app.context.renderer.episodes_played
    video, status, figures, _ = watch(app.client, compare=AGENT, seed=11)
    assert figures["cached"] is False  # a new side-by-side video...
    assert app.context.renderer.episodes_played == played  # ...made from the cached episode, not a replay
    frames = decoded_frames(video)
    assert len(frames) == single["frames"] == 201 and frames[0].shape == (320, 2 * 320 + 8, 3)
    left, right = frames[100][:, :320].astype(int), frames[100][:, 328:].astype(int)
    assert abs(left - right).mean() < 2  # the same episode on both sides (up to H.264 noise)


def test_the_default_pendulum_episode_starts_hanging_down_and_switching_system_clears_the_episode(app):
    from rlcore.pendulum.env import initial_state_of_seed
    from rlcore.systems import get_system

    seed = get_system("pendulum").PlayOptions().seed
    theta, _ = initial_state_of_seed(seed, "cpu")
    assert abs(float(theta)) > 2.5  # starts near the bottom: the swing-up is in the video
    assert "on seed 5" in watch(app.client, seed=5)[1]
    agent, compare, *rest = app.client.predict("pendulum", AGENT, api_name="/watch_system")
    *columns, seed_shown, video, status, figures, plot = rest
    assert (
        seed_shown["value"] == seed and figures == {} and "on seed 5" not in status
    )  # the last episode is gone
    replay = app.checkpoints / AGENT / "replay.mp4"  # the agent's published replay instead, when it has one
    assert (Path(video).read_bytes() == replay.read_bytes()) if replay.is_file() else video is None
    assert "press **Play**" in status
    trace = watch(app.client, seed=seed)[3]["data"]
    assert trace[0][1] < -5 and trace[-1][1] > -0.1  # the reward: from hanging down to upright


def test_eight_concurrent_requests_all_get_their_video(app):
    played = app.context.renderer.episodes_played
    jobs = [
        app.client.submit("pendulum", AGENT, "(none)", 20 + i % 2, 1, 1, 10.0, 1.0, 1.0, api_name="/watch")
        for i in range(8)
    ]
    for i, job in enumerate(jobs):
        video, status, figures, _ = job.result(timeout=120)
        assert figures["options"]["seed"] == 20 + i % 2, status
        assert open(video, "rb").read(12)[4:8] == b"ftyp"  # an mp4
    # Two distinct episodes: visitors asking for the same one at once share its rendering.
    assert app.context.renderer.episodes_played - played == 2


def test_unknown_agent_is_a_readable_refusal(app):
    video, status, figures, _ = watch(app.client, agent="no-such-agent")
    assert video is None and status.startswith("**Refused:**") and "no-such-agent" in status
    assert "Traceback" not in status


def test_a_public_space_opens_listed_agents_but_no_arbitrary_server_folder(tmp_path, monkeypatch):
    from demo.catalog import Catalog
    from demo.context import AppSettings
    from rlcore.checkpoint import CheckpointError

    checkpoints, name = agent_checkpoints(tmp_path, "pendulum")
    outside = tmp_path / "elsewhere"
    shutil.copytree(checkpoints / name, outside)
    monkeypatch.setenv("SPACE_ID", "someone/rlcore")  # what Hugging Face Spaces set
    settings = AppSettings.from_env(checkpoints_dir=checkpoints, work_dir=tmp_path / "work")
    assert settings.allow_local_paths is False
    catalog = Catalog(settings)
    assert catalog.resolve(name, "pendulum").path == (checkpoints / name).resolve()
    for probe in (str(outside), "/etc", str(tmp_path / "missing")):
        with pytest.raises(CheckpointError, match="does not open arbitrary folders") as err:
            catalog.resolve(probe)
        assert "config.json" not in str(err.value)  # nothing learnt about what the folder holds
    monkeypatch.setenv("RLCORE_ALLOW_LOCAL_PATHS", "1")  # the owner may allow it explicitly
    assert (
        Catalog(AppSettings.from_env(checkpoints_dir=checkpoints, work_dir=tmp_path / "work"))
        .resolve(str(outside), "pendulum")
        .path
        == outside.resolve()
    )


def test_the_world_playthrough_is_shown_from_a_bundled_folder_with_its_figures_only(tmp_path):
    from demo.catalog import Catalog
    from demo.context import AppSettings
    from demo.playthrough import description, recorded_playthrough
    from rlcore.checkpoint import atomic_write_json

    settings = AppSettings.from_env(checkpoints_dir=tmp_path / "checkpoints", work_dir=tmp_path / "work")
    ctx = SimpleNamespace(catalog=Catalog(settings))
    folder = settings.checkpoints_dir / "mario-1-2"
    folder.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[1] / "checkpoints" / "mario-1-1" / "config.json", folder)
    (folder / "playthrough.mp4").write_bytes(b"not looked into")
    assert recorded_playthrough(ctx, "mario") is None  # a video without its figures is not shown
    figures = {
        "summary": {"levels": 2, "flags": 1, "total_score": 3500},
        "agents": ["checkpoints/mario-1-1", "checkpoints/mario-1-2"],
        "options": {"seed": 0},
        "stages": [
            {"level": "1-1", "flag_get": True, "x_pos": 3161},
            {"level": "1-2", "flag_get": False, "x_pos": 2345},
        ],
    }
    atomic_write_json(folder / "playthrough.json", {**figures, "stages": [*figures["stages"], "1-3"]})
    assert recorded_playthrough(ctx, "mario") is None  # figures it could not read out are not shown
    atomic_write_json(folder / "playthrough.json", figures)
    video, found = recorded_playthrough(ctx, "mario")
    assert video == (folder / "playthrough.mp4").resolve() and found == figures
    assert description(found).startswith(
        "**World 1 in a row** (recorded, seed 0, greedy): mario-1-1, mario-1-2 each play"
    )
    sticky = {**figures, "options": {"seed": 1040, "sticky": 0.25}}  # the protocol it was recorded under
    assert "(recorded, seed 1040, sticky actions 0.25 per frame)" in description(sticky)
    assert "1 of 2 levels cleared, score 3,500: 1-1 flag, 1-2 lost at x 2345." in description(found)
    assert recorded_playthrough(ctx, "pendulum") is None
    settings.uploads_dir.mkdir(parents=True)
    folder.rename(settings.uploads_dir / "mario-1-2")  # a visitor's upload may not bring a video of its own
    assert recorded_playthrough(ctx, "mario") is None


def test_training_streams_metrics_stop_saves_it_and_it_comes_back_as_an_agent(app):
    client = app.client
    job = start_training(client, "pendulum", "tutorial", 2000, 0.002, 0, True)
    plotted = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        outputs = job.outputs()
        lengths = [len(o[1]["value"]["data"]) for o in outputs if isinstance(o[1], dict) and "value" in o[1]]
        plotted = sorted(set(lengths))
        if len(plotted) >= 3 and plotted[-1] >= 3:
            break
        time.sleep(0.2)
    assert len(plotted) >= 3, f"expected several growing metric updates, saw plot sizes {plotted}"
    second = client.predict("pendulum", "tutorial", 10, 0.002, 0, False, api_name="/train")[0]
    assert second.startswith("**Refused:**") and "already have a run" in second  # one run per visitor
    assert client.predict(api_name="/stop_training").startswith("Stopping")
    while not job.done() and time.monotonic() < deadline + 60:
        time.sleep(0.2)
    status, *plots, video, archive = job.outputs()[-1]
    assert "**stopped**" in status and "stopped on request" in status
    done = int(re.search(r", (\d+) / 2000 iterations", status).group(1))
    assert 3 <= done < 2000
    assert len(decoded_frames(video)) == 201
    with zipfile.ZipFile(archive) as z:
        names = {n.split("/")[-1] for n in z.namelist()}
        assert {"model.safetensors", "config.json", "metrics.jsonl", "results.json"} <= names
        config = json.loads(z.read(next(n for n in z.namelist() if n.endswith("config.json"))))
    assert config["system"] == "pendulum" and config["config"]["iterations"] == 2000
    # Pushed as asked, in one commit, into a new repo the app made under the owner's namespace (issue 30,
    # D1), and the token shows nowhere in what the page received.
    pushed = re.search(r"into the new repo \*\*(alice/rlcore-pendulum-\d{8}-\d{6}-[0-9a-f]{6})\*\*", status)
    assert pushed, status
    repo = pushed.group(1)
    assert len(app.server.commits(repo)) == 1 and "model.safetensors" in app.server.files(repo)
    assert not any(TOKEN in json.dumps(outputs, default=str) for outputs in job.outputs())
    # The new agent is offered in Watch.
    run_ref = re.search(r"\*\*(trained/[^*]+)\*\*", status).group(1)
    choices = client.predict("pendulum", AGENT, api_name="/watch_agents")[0]["choices"]
    assert run_ref in [c[0] for c in choices]


def component(client, elem_id: str) -> dict:
    components = client.config["components"]
    return next(c["props"] for c in components if c.get("props", {}).get("elem_id") == elem_id)


def test_pushes_go_only_to_a_new_repo_under_the_owners_namespace_and_are_off_without_one(app, tmp_path):
    """Issue 30, D1: a visitor never names the repo a push goes to (the token is the Space's)."""
    push = component(app.client, "train-push")
    assert push["visible"] and "alice/rlcore-<system>" in push["info"]
    assert "never an existing repo" in push["info"]
    api = app.client.view_api(print_info=False, return_format="dict")
    names = [p["label"] for p in api["named_endpoints"]["/train"]["parameters"]]
    assert not any("repo" in name.lower() for name in names), names  # nothing to type a repo id into
    repos = set(app.server.state.repos)
    # the same machine (a token), but its owner set no namespace: no push offered, none accepted
    with running_app(app.checkpoints, tmp_path / "work", hub_endpoint=app.server.url) as (url, _):
        client = Client(url, verbose=False)
        assert component(client, "train-push")["visible"] is False
        status = client.predict("pendulum", "tutorial", 3, 0.002, 0, True, api_name="/train")[0]
    assert status.startswith("**Refused:**") and "pushing to the Hub is off" in status, status
    assert set(app.server.state.repos) == repos


def test_the_push_namespace_is_the_owners_setting_and_one_name(monkeypatch):
    from demo.context import AppSettings

    monkeypatch.setenv("RLCORE_HUB_PUSH_NAMESPACE", "alice")
    assert AppSettings.from_env().hub_push_namespace == "alice"
    monkeypatch.setenv("RLCORE_HUB_PUSH_NAMESPACE", "alice/some-repo")
    with pytest.raises(ValueError, match="expected one Hub user or organisation name"):
        AppSettings.from_env()
    monkeypatch.delenv("RLCORE_HUB_PUSH_NAMESPACE")
    assert AppSettings.from_env().hub_push_namespace is None  # unset: pushes are off


def test_one_queued_run_per_session_whatever_the_entry_point(app):
    """Issue 30, D5: a session's /train calls made straight through the API, beside or without the place
    /train_check gives, never become runs of their own (they are refused when their turn comes)."""
    client, runs_dir = Client(app.url, verbose=False), app.context.settings.runs_dir
    inputs = ("pendulum", "tutorial", 5, 0.002, 0, False)
    folders = set(runs_dir.iterdir())
    alone = client.predict(*inputs, api_name="/train")[0]
    assert alone.startswith("**Refused:**") and "no place in the queue" in alone, alone
    assert set(runs_dir.iterdir()) == folders  # nothing trained
    jobs = [start_training(client, *inputs)] + [client.submit(*inputs, api_name="/train") for _ in range(2)]
    statuses = [job.result(timeout=300)[0] for job in jobs]
    assert len(set(runs_dir.iterdir()) - folders) == 1, statuses  # one run for the session's one place
    # whichever the queue reached first trains; the others are refused ("no place" or "a run going")
    assert sorted("Saved as" in s for s in statuses) == [False, False, True], statuses
    assert sum(s.startswith("**Refused:**") for s in statuses) == 2, statuses


def test_a_closed_page_stops_its_run_at_once_through_blocks_unload(app, monkeypatch):
    """Blocks.unload: when a client's Gradio heartbeat connection ends (its tab closed), its run is asked to
    stop as soon as the server notices, long before the app's polling backstop (heartbeat_timeout=20)."""
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")  # the server notices a gone client within ~1 s
    runs, client = app.context.training._runs, Client(app.url, verbose=False)
    before = set(runs)
    start_training(client, "pendulum", "tutorial", 2000, 0.002, 0, False)
    wait_until(lambda: set(runs) - before, 60, "the run to start")
    (run,) = [runs[i] for i in set(runs) - before]
    wait_until(lambda: run.records or run.done, 120, "the first records")
    client.close()  # what closing the tab does: the heartbeat connection ends
    wait_until(lambda: run.stop_requested, 10, "the closed page's run to be asked to stop")
    assert "went away" in run.stop_reason
    wait_until(lambda: run.done, 120, "the run to end")


def test_training_settings_outside_the_caps_are_refused(app):
    status = app.client.predict("pendulum", "tutorial", 10**9, 0.002, 0, False, api_name="/train")[0]
    assert status.startswith("**Refused:**") and "from 1 to" in status


def write_pickle(path):
    torch.save({"net.0.weight": torch.zeros(64, 3)}, path)
    return path


def upload(app, *paths):
    return app.client.predict([handle_file(str(p)) for p in paths], False, api_name="/upload_agent")


@pytest.mark.parametrize(
    "case",
    [
        "pickle file",
        "pickle named safetensors",
        "mismatched config",
        "oversize",
        "config missing",
        "text file named .zip",
    ],
)
def test_bad_uploads_are_refused_with_a_readable_message(app, tmp_path, case):
    agent = app.checkpoints / AGENT
    config = agent / "config.json"
    if case == "pickle file":
        files, expected = [write_pickle(tmp_path / "model.pt"), config], "refusing a pickle file"
    elif case == "pickle named safetensors":
        files, expected = [write_pickle(tmp_path / "model.safetensors"), config], "pickle / torch.save file"
    elif case == "mismatched config":
        document = json.loads(config.read_text())
        document["config"]["hidden_size"] = 32
        (tmp_path / "config.json").write_text(json.dumps(document))
        files, expected = [agent / "model.safetensors", tmp_path / "config.json"], "the model described by"
    elif case == "oversize":
        (tmp_path / "model.safetensors").write_bytes(b"\0" * (3 * 2**19))
        files, expected = [tmp_path / "model.safetensors", config], "more than the 1 MB limit"
    elif case == "text file named .zip":
        (tmp_path / "mine.zip").write_text("model.safetensors and config.json, honest\n")
        files, expected = [tmp_path / "mine.zip"], "mine.zip: not a zip file"
    else:
        files, expected = [agent / "model.safetensors"], "no config.json in the upload"
    before = sorted(p.name for p in app.context.settings.uploads_dir.iterdir())
    status, table, note, video = upload(app, *files)
    assert status.startswith("**Refused:**") and expected in status, status
    assert "Traceback" not in status and ".staging" not in status and video is None
    assert sorted(p.name for p in app.context.settings.uploads_dir.iterdir()) == before  # nothing kept


def test_a_good_upload_is_evaluated_and_joins_the_table_with_a_video(app, tmp_path):
    archive = shutil.make_archive(str(tmp_path / "mine"), "zip", root_dir=app.checkpoints / AGENT)
    status, table, note, video = upload(app, archive)
    assert status.startswith("Added **uploaded/pendulum-"), status
    ref = re.search(r"\*\*(uploaded/[^*]+)\*\*", status).group(1)
    rows = {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}
    assert rows[ref]["source"] == "uploaded" and isinstance(rows[ref]["mean return"], float)
    assert rows[ref]["episodes"] == 10
    assert len(decoded_frames(video)) == 201


def test_the_agents_figures_read_as_in_the_model_cards_and_as_cards_on_phones(tmp_path):
    from demo.agents import agent_cards, agent_row, formatted_table
    from demo.catalog import Agent

    mario = Agent(ref="mario-1-1", path=tmp_path, system="mario", source="bundled")
    results = {
        "mean_reward": 3083.54,
        "std_reward": 615.648,
        "n_eval_episodes": 10,
        "flag_rate": 1.0,
        "mean_x_pos": 3161.0,
    }
    frame = formatted_table([agent_row(mario, results)])
    (row,) = frame.to_dict("records")
    assert row["flag rate"] == "100%" and row["mean x position"] == "3161.0" and row["last reward"] is None
    assert (row["mean return"], row["std"]) == (3083.5, 615.6)  # as the card writes them
    cards = agent_cards(frame)
    assert "<h4>mario-1-1</h4>" in cards and "<dt>flag rate</dt><dd>100%</dd>" in cards
    assert "last reward" not in cards  # a figure the agent does not have is left out, not shown empty
    hostile = formatted_table(
        [
            agent_row(
                Agent(ref="<img src=x onerror=alert(1)>", path=tmp_path, system="mario", source="uploaded"),
                {},
            )
        ]
    )
    assert "<img" not in agent_cards(hostile)  # names are escaped


def test_agents_table_lists_hub_agents_and_survives_an_unreachable_hub(app):
    table, note = app.client.predict(True, api_name="/agents")
    rows = {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}
    assert rows[AGENT]["source"] == "bundled"
    assert rows["alice/pendulum-from-hub"]["source"] == "hub" and "found on the Hub" in note

    app.server.fail(r"^/api/models", status=403, times=10)
    try:
        table, note = app.client.predict(True, api_name="/agents")
    finally:
        app.server.clear_failures()
    assert "could not be listed" in note and AGENT in [row[0] for row in table["data"]]


def test_a_hub_repo_id_plays_after_a_pull(app):
    watch(app.client, seed=0)
    video, status, figures, _ = watch(app.client, agent="alice/pendulum-from-hub", seed=0)
    assert figures["agents"]["alice/pendulum-from-hub"]["frames"] == 201
    # Same weights as the bundled agent, same options: the video comes from the cache.
    assert figures["cached"] is True


# ------------------------------------------------------------------- the training queue on its own


def pendulum_run_config(iterations: int) -> dict:
    from rlcore.config import to_dict
    from rlcore.systems import get_system

    return to_dict(get_system("pendulum").Config(iterations=iterations))


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def training_runs(max_seconds: float = 300, heartbeat_timeout: float = 60):
    from demo.jobs import RunLimits, TrainingRuns

    return TrainingRuns(RunLimits(max_seconds, heartbeat_timeout, stop_grace_seconds=30))


@pytest.mark.slow  # the same stop by heartbeat runs by default in test_browser.py (a real closed page)
def test_a_run_whose_page_went_away_is_stopped(tmp_path):
    from demo.jobs import STOPPED

    runs = training_runs(heartbeat_timeout=3)
    try:
        abandoned = runs.start("tab-closed", "pendulum", pendulum_run_config(2000), tmp_path / "a")
        # Nobody polls the run: after the heartbeat timeout it is asked to stop, saves and ends.
        wait_until(lambda: abandoned.done, 60, "the abandoned run to end")
        assert abandoned.state == STOPPED and "went away" in abandoned.message
        assert (tmp_path / "a" / "model.safetensors").is_file() and (tmp_path / "a" / "config.json").is_file()
    finally:
        runs.shutdown()


@pytest.mark.slow
def test_others_wait_their_turn_in_gradios_queue_and_leaving_it_starts_nothing(app):
    from gradio_client.utils import Status

    busy = [
        start_training(Client(app.url, verbose=False), "pendulum", "tutorial", 2000, 0.002, 0, False)
        for _ in range(2)
    ]  # both slots
    wait_until(lambda: len(app.context.training.unfinished_runs()) == 2, 60, "two runs to start")
    folders = set(app.context.settings.runs_dir.iterdir())
    waiting = start_training(Client(app.url, verbose=False), "pendulum", "tutorial", 10, 0.002, 0, False)
    wait_until(lambda: waiting.status().code == Status.IN_QUEUE, 30, "the third run to be queued")
    assert waiting.status().rank == 0 and len(app.context.training.unfinished_runs()) == 2
    assert waiting.cancel()  # the third visitor gives up before its turn
    for run in app.context.training.unfinished_runs():
        run.request_stop()
    wait_until(lambda: all(job.done() for job in busy), 120, "the two runs to end")
    assert set(app.context.settings.runs_dir.iterdir()) == folders  # the cancelled run never started


@pytest.mark.slow
def test_a_killed_training_process_and_the_wall_clock_cap_end_only_their_run(tmp_path):
    import os
    import signal

    from demo.jobs import FAILED, STOPPED

    runs = training_runs()
    try:
        killed = runs.start("a", "pendulum", pendulum_run_config(2000), tmp_path / "killed")
        wait_until(lambda: len(killed.records) > 0 or killed.done, 60, "the first records")
        killed.heartbeat()
        os.kill(killed._process.pid, signal.SIGKILL)  # what the kernel's OOM killer does
        wait_until(lambda: killed.done, 30, "the killed run to be noticed")
        assert killed.state == FAILED and "killed (signal 9" in killed.message
    finally:
        runs.shutdown()

    runs = training_runs(max_seconds=10)
    try:
        capped = runs.start("b", "pendulum", pendulum_run_config(2000), tmp_path / "capped")
        while not capped.done:
            capped.heartbeat()
            time.sleep(0.2)
        assert capped.state == STOPPED and "time limit" in capped.message
        assert capped.elapsed < 10 + 30
        assert (tmp_path / "capped" / "model.safetensors").is_file()
    finally:
        runs.shutdown()


@pytest.mark.slow
def test_a_mario_replay_with_its_x_position_plot_and_a_comparison(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "rlcore-app-mario"
    checkpoints, agent = agent_checkpoints(root, "mario")
    with running_app(checkpoints, root / "work") as (url, context):
        client = Client(url, verbose=False)
        video, status, figures, plot = client.predict(
            "mario", agent, agent, 0, 1, 1, 10.0, 1.0, 1.0, api_name="/watch"
        )
        left, right = figures["agents"].values()
        summary = left["summary"]
        assert {"return", "x_pos", "flag_get", "steps"} <= set(summary) and summary["world"] == 1
        frames = decoded_frames(video)
        assert len(frames) == left["frames"] == summary["steps"] + 1
        assert frames[0].shape == (240, 2 * 256 + 8, 3)  # the two agents side by side
        xs = [row[1] for row in plot["data"] if row[2] == "left"]
        # the figure is the furthest x reached (Mario may step back, e.g. pressing against a pipe)
        assert len(xs) == summary["steps"] and max(xs) == summary["x_pos"]
        again = client.predict("mario", agent, "(none)", 0, 1, 1, 10.0, 1.0, 1.0, api_name="/watch")[2]
        assert again["cached"] is True  # the comparison stored each agent's own episode too


def test_the_video_cache_keeps_the_most_recently_served_episodes(tmp_path):
    import numpy as np

    from demo.rendering import Renderer
    from rlcore.systems import Episode
    from rlcore.video import Mp4Sink

    renderer = Renderer(tmp_path, max_entries=3)
    for i in range(5):  # each stored as a render stores it: its video, then its figures
        video = Mp4Sink(renderer._paths(f"key{i}")[0])
        video([np.full((8, 8, 3), i, np.uint8)] * 2, 30)
        renderer._store_figures(f"key{i}", Episode([], {"return": i}), video.frames)
        os.utime(tmp_path / f"key{i}.json", (i, i))  # distinct ages without sleeping
        if i == 3:
            assert renderer._read("key1")["summary"]["return"] == 1  # served again: now the most recent
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "key1.json",
        "key1.mp4",
        "key3.json",
        "key3.mp4",
        "key4.json",
        "key4.mp4",
    ]


def test_picking_other_physics_picks_the_agent_trained_for_them(tmp_path):
    """Watch defaults to the agent trained for what is played
    (Mario: the level; here: the Pendulum's gravity)."""
    checkpoints, agent = agent_checkpoints(tmp_path, "pendulum")
    heavy = checkpoints / "pendulum-g15"
    shutil.copytree(checkpoints / agent, heavy)
    document = json.loads((heavy / "config.json").read_text())
    document["config"]["g"] = 15.0
    (heavy / "config.json").write_text(json.dumps(document))
    with running_app(checkpoints, tmp_path / "work") as (url, _):
        client = Client(url, verbose=False)

        def picked(current, g):  # the agent the picker switches to; None: it stays as it is
            update = client.predict(
                "pendulum", current, 3, 1, 1, g, 1.0, 1.0, False, api_name="/watch_agent_for_options"
            )
            return update.get("value")

        assert picked(agent, 15.0) == "pendulum-g15"
        assert picked("pendulum-g15", 10.0) == agent
        assert picked(agent, 10.0) is None  # already trained on it: kept
        assert picked("pendulum-g15", 4.0) is None  # nobody trained on g 4: the choice stays


def test_each_tabs_form_updates_run_one_at_a_time_in_the_order_sent(tmp_path):
    """The quick updates that fill a tab's form (tab shown, system, agent or start picked) share one lane of
    Gradio's queue, one at a time, first in first out: a slow one never lands after a later one
    (tests/test_browser_map.py shows the Watch tab's race in a browser)."""
    from demo import build_app

    app = build_app(Path("checkpoints"), tmp_path)
    lanes = {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in app.fns.values()}
    for tab, names in {
        "watch": ("watch_tab", "watch_system", "watch_agents", "watch_map", "watch_snapshot_note"),
        "train": ("train_tab", "train_system", "train_start_choices", "train_start"),
    }.items():
        assert {lanes[name] for name in names} == {(f"{tab}-form", 1)}, tab
    assert lanes["watch"][1] is None  # Play is not held behind them (renders wait for their own slots)
