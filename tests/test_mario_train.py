"""The real trainer on the real emulator: a short run writes a checkpoint, resumes from it,
evaluates and plays it back through the systems contract (rlcore/mario/api.py)."""

import functools
import json
import os
import threading

import numpy as np
import pytest
import torch
from mario_fake_env import make_fake_env

from rlcore.checkpoint import CheckpointError, load_training_state
from rlcore.mario.agent import Mario
from rlcore.mario.play import evaluate
from rlcore.mario.train import train
from rlcore.metrics import read_metrics
from rlcore.systems import Episode, get_system

api = get_system("mario")


@pytest.fixture(autouse=True)
def restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _config(**overrides):
    return api.Config(
        **{
            "burnin": 45,
            "batch_size": 8,
            "memory_size": 2_000,
            "log_every": 1,
            "checkpoint_every": 10_000,
            "max_steps": 150,
            "exploration_rate_decay": 0.999,
            **overrides,
        }
    )


FAKE_ENV = functools.partial(make_fake_env, min_frames=40, max_frames=200)  # 10-50 steps per episode


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """The trainer's logic on the fake image env: 150 steps, then resumed to 240."""
    out = tmp_path_factory.mktemp("mario_fake") / "run"
    first = list(train(_config(), out, device="cpu", env_fn=FAKE_ENV))
    state_after_first = load_training_state(out)[1]
    resumed = list(train(_config(max_steps=240), out, resume=True, device="cpu", env_fn=FAKE_ENV))
    return out, first, state_after_first, resumed


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The real emulator through the api: 120 steps (learning from step 45), resumed to 150."""
    out = tmp_path_factory.mktemp("mario") / "run"
    list(api.train(_config(max_steps=120, checkpoint_every=60), out, device="cpu"))
    first_state = load_training_state(out)
    list(api.train(_config(max_steps=150), out, resume=True, device="cpu"))
    return out, first_state


def test_a_short_real_run_learns_and_writes_a_complete_checkpoint(trained):
    out, (tensors, meta) = trained
    names = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "training_state.safetensors",
        "training_state.json",
        "metrics.jsonl",
        "log",
    } <= names
    assert meta["step"] == 120 and 0 < meta["exploration_rate"] < 1
    document = json.loads((out / "config.json").read_text())
    assert document["system"] == "mario" and document["env_id"] == "SuperMarioBros-1-1-v0"
    assert document["algorithm"] == "Double DQN"
    # Q_online moved away from its initialisation, Q_target did not (no sync before step 10,000)
    torch.manual_seed(_config().seed)
    fresh = Mario(config=_config(), memory=False)
    online = {k[len("online.") :]: v for k, v in tensors.items() if k.startswith("online.")}
    target = {k[len("target.") :]: v for k, v in tensors.items() if k.startswith("target.")}
    assert not torch.equal(online["0.weight"], fresh.net.online[0].weight.detach())
    torch.testing.assert_close(target["0.weight"], fresh.net.online[0].weight.detach().contiguous())
    assert load_training_state(out)[1]["step"] == 150  # resumed


def test_log_table_has_the_tutorials_columns(fake_run):
    log_lines = (fake_run[0] / "log").read_text().splitlines()
    assert log_lines[0].split() == [
        "Episode",
        "Step",
        "Epsilon",
        "MeanReward",
        "MeanLength",
        "MeanLoss",
        "MeanQValue",
        "TimeDelta",
        "Time",
    ]
    assert len(log_lines) == 1 + len(fake_run[1]) + len(fake_run[3])


def test_records_are_flat_and_learning_happened(fake_run):
    _, first, _, resumed = fake_run
    records = first + resumed
    assert len(records) > 5
    for key in ("step", "episode", "reward", "length", "loss", "q", "epsilon", "steps_per_s", "x_pos"):
        assert all(isinstance(r[key], (int, float)) for r in records), key
    assert any(r["loss"] > 0 for r in first if r["step"] > 75)  # updates ran after burnin (45)
    assert [r["episode"] for r in records] == list(range(1, len(records) + 1))
    steps = [r["step"] for r in records]
    assert steps == sorted(steps)


def test_resume_continues_the_counters_and_the_metrics(fake_run):
    out, first, state, resumed = fake_run
    final = load_training_state(out)[1]
    assert state["step"] == 150 and final["step"] == 240
    assert final["episode"] == state["episode"] + len(resumed)
    assert final["exploration_rate"] < state["exploration_rate"]
    assert resumed[0]["step"] > 150
    metrics = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in metrics] == [r["step"] for r in first + resumed]
    for plot in ("reward_plot.png", "x_pos_plot.png", "flag_rate_plot.png"):
        assert (out / plot).stat().st_size > 1000


def test_a_committed_checkpoint_without_its_large_training_state_resumes_from_its_weights(tmp_path):
    out = tmp_path / "run"
    list(train(_config(max_steps=90), out, device="cpu", env_fn=FAKE_ENV))
    (out / "training_state.safetensors").unlink()  # what a bundled checkpoint leaves out of git
    saved = json.loads((out / "config.json").read_text())["state"]
    from rlcore.mario.train import TrainingRun

    run = TrainingRun(_config(max_steps=130), out, resume=True, device="cpu", env_fn=FAKE_ENV)
    try:
        weights = Mario.load(out).net.online.state_dict()
        for name, tensor in run.agent.net.online.state_dict().items():
            assert torch.equal(tensor, weights[name])
            assert torch.equal(run.agent.net.target.state_dict()[name], tensor)  # target re-synced
        assert run.agent.curr_step == saved["step"] and run.episode == saved["episode"]
        assert run.agent.exploration_rate == saved["exploration_rate"]
        assert run.agent.burnin == saved["step"] + 45  # the replay is refilled before learning again
        while not run.finished:
            run.step()
    finally:
        run.close()
    assert json.loads((out / "config.json").read_text())["state"]["step"] >= 130
    assert (out / "training_state.safetensors").is_file()  # the next save is complete again


def test_resume_without_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        next(api.train(_config(), tmp_path / "empty", resume=True, device="cpu"))


def test_stop_event_saves_and_returns(tmp_path):
    stop = threading.Event()
    stop.set()
    assert (
        list(train(_config(max_steps=10_000), tmp_path / "run", stop=stop, device="cpu", env_fn=FAKE_ENV))
        == []
    )
    assert (tmp_path / "run" / "config.json").is_file()


def test_evaluate_and_play_through_the_api(trained, tmp_path):
    out = trained[0]
    results = evaluate(out, episodes=2, seed=5, max_steps=150)  # api.evaluate, with a cap on episode length
    for key in (
        "mean_reward",
        "std_reward",
        "mean_x_pos",
        "max_x_pos",
        "flag_rate",
        "n_eval_episodes",
        "date",
    ):
        assert key in results
    assert results["seeds"] == [5, 6] and len(results["episodes"]) == 2
    assert all(e["x_pos"] > 40 for e in results["episodes"])
    episode = api.play(out, api.PlayOptions(seed=1, max_steps=60))
    assert isinstance(episode, Episode)
    assert len(episode.frames) == episode.summary["steps"] + 1 <= 61
    assert episode.frames[0].shape == (240, 256, 3) and episode.frames[0].dtype == np.uint8
    assert [t["step"] for t in episode.trace] == list(range(1, episode.summary["steps"] + 1))
    assert episode.summary["x_pos"] == max(t["x_pos"] for t in episode.trace)
    from rlcore.video import write_mp4

    video = write_mp4(tmp_path / "replay.mp4", episode.frames, fps=episode.fps)
    assert video.stat().st_size > 1000
    agent = api.load(out)
    assert agent.curr_step == 150


def test_greedy_play_runs_on_one_torch_thread_and_restores_the_callers(trained):
    # batch-1 forwards: a second OpenMP thread only stalls when the cores are busy (see PLAY_THREADS)
    from rlcore.mario.play import run_episode

    agent = api.load(trained[0])
    seen = []
    q_values = agent.q_values
    agent.q_values = lambda state: (seen.append(torch.get_num_threads()), q_values(state))[1]
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_episode(agent, seed=0, max_steps=5)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_resume_after_a_kill_restarts_from_the_last_periodic_checkpoint(tmp_path):
    from rlcore.mario.train import TrainingRun

    out = tmp_path / "run"
    run = TrainingRun(_config(checkpoint_every=50, max_steps=10_000), out, device="cpu", env_fn=FAKE_ENV)
    while run.agent.curr_step < 130:
        run.step()
    run.envs.close()  # killed: no final save; the last checkpoint is the one at step 100
    saved = load_training_state(out)[1]
    assert saved["step"] == 100
    assert any(r["step"] > 100 for r in read_metrics(out / "metrics.jsonl"))
    records = list(train(_config(max_steps=140), out, resume=True, device="cpu", env_fn=FAKE_ENV))
    assert load_training_state(out)[1]["step"] == 140
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    # the records logged after the checkpoint (the lost steps 101-130) were dropped, the new ones follow
    assert steps == [s for s in steps if s <= 100] + [r["step"] for r in records]
    assert all(r["step"] > 100 for r in records)
    # the tutorial's log table was rewound the same way: one row per record, same steps
    header, *rows = (out / "log").read_text().splitlines()
    assert header.split()[:2] == ["Episode", "Step"] and [int(row.split()[1]) for row in rows] == steps


def test_keep_snapshots_keeps_each_checkpoints_playable_weights(tmp_path):
    out = tmp_path / "run"
    list(
        train(
            _config(checkpoint_every=50, max_steps=120, keep_snapshots=True),
            out,
            device="cpu",
            env_fn=FAKE_ENV,
        )
    )
    snapshots = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snapshots == ["step-00000050", "step-00000100", "step-00000120"]
    first, last = Mario.load(out / "snapshots" / snapshots[0]), Mario.load(out / "snapshots" / snapshots[-1])
    assert (first.curr_step, last.curr_step) == (50, 120)
    final = Mario.load(out)  # the last snapshot is the run's own final checkpoint
    for name, weight in last.net.online.state_dict().items():
        assert torch.equal(weight, final.net.online.state_dict()[name])
    assert any(
        not torch.equal(w, last.net.online.state_dict()[n]) for n, w in first.net.online.state_dict().items()
    )


def test_learner_and_workers_are_pinned_apart_and_the_learner_unpinned_on_close(tmp_path):
    from rlcore.mario.train import WORKER_NICE, TrainingRun

    allowed = os.sched_getaffinity(0)
    run = TrainingRun(_config(num_envs=2), tmp_path / "run", device="cpu", env_fn=FAKE_ENV)
    try:
        workers = [p.pid for p in run.envs.processes]
        if len(allowed) < 2:  # nothing to pin apart: everything stays as it was
            assert run.agent.target_thread is None and os.sched_getaffinity(0) == allowed
        else:
            learner = os.sched_getaffinity(0)
            assert len(learner) == torch.get_num_threads()
            for pid in workers:
                assert os.sched_getaffinity(pid) == allowed - learner
                assert os.getpriority(os.PRIO_PROCESS, pid) == WORKER_NICE
            helper_cpus = run.agent.target_thread.submit(os.sched_getaffinity, 0).result()
            assert helper_cpus == allowed - learner  # Q_target's thread runs beside the workers
        for _ in range(30):
            run.step()
    finally:
        run.close(save=False)
    assert os.sched_getaffinity(0) == allowed
    assert run.agent.target_thread is None


def test_pin_cpus_off_leaves_the_scheduler_alone(tmp_path):
    from rlcore.mario.train import TrainingRun

    allowed = os.sched_getaffinity(0)
    run = TrainingRun(_config(num_envs=2, pin_cpus=False), tmp_path / "run", device="cpu", env_fn=FAKE_ENV)
    try:
        assert os.sched_getaffinity(0) == allowed and run.agent.target_thread is None
        assert all(os.sched_getaffinity(p.pid) == allowed for p in run.envs.processes)
    finally:
        run.close(save=False)


def test_progress_comes_by_agent_steps_between_the_episode_records(tmp_path):
    """The app's Train tab shows Mario's progress by agent steps: records come an episode apart."""
    events = []  # ("progress", done, doing) and ("record", step) in the order they came
    progress = lambda done, doing: events.append(("progress", done, doing))  # noqa: E731
    for record in train(
        _config(num_envs=2), tmp_path / "run", device="cpu", env_fn=FAKE_ENV, progress=progress
    ):
        events.append(("record", record["step"]))
    steps = [e[1] for e in events if e[0] == "progress"]
    assert events[0] == ("progress", 0, "starting 2 emulator worker(s) and the learner")
    assert steps[1:] == list(range(2, 151, 2))  # every vector step: 2 agent steps, not once per episode
    records = [i for i, e in enumerate(events) if e[0] == "record"]  # one per episode (log_every 1)
    assert 2 <= len(records) and 3 * len(records) < len(steps)
    notes = {e[1]: e[2] for e in events if e[0] == "progress"}
    assert notes[44] == "filling the replay memory: learning starts at step 45" and notes[46] == ""


def test_a_prioritized_run_learns_and_records_its_replay_settings(tmp_path):
    out = tmp_path / "run"
    records = list(train(_config(prioritized=True, priority_beta=0.5), out, device="cpu", env_fn=FAKE_ENV))
    losses = [r["loss"] for r in records if r.get("loss") is not None]
    assert losses and np.isfinite(losses).all()  # updates ran, with importance-weighted losses
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["prioritized"] is True and saved["priority_beta"] == 0.5
    agent = Mario.load(out, memory=True)
    assert agent.memory.sampler is not None and agent.memory.sampler.alpha == pytest.approx(0.6)


def test_death_penalty_and_flag_bonus_change_the_learned_rewards_of_ending_steps_only(tmp_path):
    """Two runs on the same seeds (random play, no learning): the shaped one's replay holds the game's
    rewards except on the steps where Mario died (-death_penalty) or reached the flag (+flag_bonus),
    and both log the game's own rewards."""
    from rlcore.mario.train import TrainingRun

    fake = functools.partial(make_fake_env, min_frames=40, max_frames=200, goal_x=120)  # some reach it
    memories, logged = [], []
    for name, shaping in (("plain", {}), ("shaped", {"death_penalty": 100.0, "flag_bonus": 40.0})):
        config = _config(num_envs=1, burnin=10**9, max_steps=400, pin_cpus=False, **shaping)
        run = TrainingRun(config, tmp_path / name, device="cpu", env_fn=fake)
        try:
            while not run.finished:
                run.step()
            rows = len(run.agent.memory)
            memories.append({k: run.agent.memory._np[k][:rows].copy() for k in ("reward", "done")})
        finally:
            run.close()
        logged.append([r["reward"] for r in read_metrics(tmp_path / name)])
    plain, shaped = memories
    assert (plain["done"] == shaped["done"]).all() and plain["done"].sum() >= 4
    difference = shaped["reward"] - plain["reward"]
    assert set(np.round(difference[plain["done"]]).tolist()) == {-100.0, 40.0}  # deaths and flags, both
    assert not difference[~plain["done"]].any()
    assert logged[0] == logged[1]


def test_a_held_random_action_ends_with_its_episode(tmp_path):
    """ez-greedy's hold belongs to the episode that drew it: an env whose episode ended in a step holds
    nothing after it, so the next episode starts on the policy's own choice."""
    from rlcore.mario.train import TrainingRun

    config = _config(
        num_envs=1, exploration_rate=1.0, exploration_rate_min=1.0, exploration_repeat=1.01, pin_cpus=False
    )
    run = TrainingRun(config, tmp_path / "run", device="cpu", env_fn=FAKE_ENV)
    held_at_ends, held_within = [], []
    try:
        while len(held_at_ends) < 8:
            episodes = run.episode
            run.step()
            (held_at_ends if run.episode > episodes else held_within).append(int(run.agent.hold_left[0]))
    finally:
        run.close(save=False)
    assert max(held_within) > 0  # holds (mean ~19 steps) outlast steps within an episode ...
    assert held_at_ends == [0] * 8  # ... but none outlasts its episode
