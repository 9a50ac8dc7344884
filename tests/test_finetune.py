"""Runs that start from a trained agent (`rlcore train SYSTEM --init CHECKPOINT`, System.start_config): the
weights are loaded, the config is the checkpoint's with the new level or physics,
and no resume state is needed."""

from __future__ import annotations

import functools
import json
import shlex
import shutil

import pytest
import torch
from mario_fake_env import make_fake_env
from test_cli import ROOT

from rlcore import cli
from rlcore.checkpoint import TRAINING_STATE_FILE, load_tensors
from rlcore.modelcard import train_command
from rlcore.resolve import resolve_config
from rlcore.systems import get_system

BUNDLED = ROOT / "checkpoints"
FAKE_ENV = functools.partial(make_fake_env, min_frames=40, max_frames=200)


def weights_of(folder):
    return load_tensors(folder / "model.safetensors")


def test_cli_init_starts_the_pendulum_from_a_bundled_agent_on_new_physics(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    start = BUNDLED / "pendulum-swingup"
    assert not (start / TRAINING_STATE_FILE).exists()  # a bundled agent has no resume state
    out = tmp_path / "heavier"
    code = cli.main(
        [
            "train",
            "pendulum",
            "--init",
            str(start),
            "--g",
            "15",
            "--m",
            "1.5",
            "--iterations",
            "3",
            "--lr",
            "0",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert f"starting from {start} (trained for 1,500 iterations)" in capsys.readouterr().err
    document = json.loads((out / "config.json").read_text())
    config, bundled = document["config"], json.loads((start / "config.json").read_text())["config"]
    assert (config["g"], config["m"], config["l"], config["init_from"]) == (
        15.0,
        1.5,
        1.0,
        "checkpoints/pendulum-swingup",
    )
    # the rest is the bundled agent's recipe (its network and gradient decay), not the tutorial's defaults
    assert all(config[k] == bundled[k] for k in ("hidden_size", "hidden_layers", "gradient_decay", "squash"))
    assert document["iterations_done"] == 3
    trained, original = weights_of(out), weights_of(start)
    assert trained.keys() == original.keys()
    assert all(torch.equal(trained[k], original[k]) for k in original)  # lr 0: still the bundled weights
    # the model card's command starts the run the same way (from the repository root), and the command line
    # takes it
    words = shlex.split(train_command(document))[3:]
    assert words[words.index("--init") + 1] == "checkpoints/pendulum-swingup"
    assert cli.build_parser(words).parse_args(words).init == "checkpoints/pendulum-swingup"


def test_a_pendulum_start_from_learns_the_new_gravity(tmp_path):
    """The Train tab's default Pendulum run: the swing-up agent fails at g 15; a short fine-tune fixes it."""
    from rlcore.pendulum.play import evaluate_net

    pendulum = get_system("pendulum")

    def mean_return(folder):
        return evaluate_net(pendulum.load(folder).net, 32, seed=1000, physics={"g": 15.0})["mean_reward"]

    start = BUNDLED / "pendulum-swingup"
    config = resolve_config(pendulum, init=start, overrides=dict(g=15.0, iterations=60))
    list(pendulum.train(config, tmp_path / "g15", device="cpu"))
    before, after = mean_return(start), mean_return(tmp_path / "g15")
    assert before < -700 and after > before + 300, (before, after)


def test_mario_start_from_loads_the_weights_and_starts_counters_afresh(tmp_path, monkeypatch):
    from rlcore.mario.train import TrainingRun

    mario = get_system("mario")
    start = BUNDLED / "mario-1-1"
    monkeypatch.chdir(tmp_path)  # a start outside the working directory is recorded as given
    assert resolve_config(mario, init=start).init_from == str(start)
    # inside it, relative: the card's `--init checkpoints/mario-1-1` names no server's folders
    monkeypatch.chdir(ROOT)
    config = resolve_config(
        mario,
        init=start,
        overrides=dict(
            stage=2,
            max_steps=60,
            burnin=30,
            batch_size=8,
            memory_size=500,
            lr=0.0,
            num_envs=1,
            log_every=1,
            checkpoint_every=10_000,
        ),
    )
    assert (config.world, config.stage, config.init_from) == (1, 2, "checkpoints/mario-1-1")
    assert config.dueling and config.n_step == 3  # the bundled agent's recipe and network
    run = TrainingRun(config, tmp_path / "run", device="cpu", env_fn=FAKE_ENV)
    try:
        original = weights_of(start)
        for name, tensor in run.agent.net.online.state_dict().items():
            assert torch.equal(tensor, original[name])
            assert torch.equal(run.agent.net.target.state_dict()[name], tensor)
        assert run.agent.curr_step == 0 and run.episode == 0  # not the bundled agent's 705,741 steps
        assert run.agent.exploration_rate == pytest.approx(0.2)
        assert run.config.precision in ("float32", "bfloat16")  # "auto" resolved for this CPU
        while not run.finished:
            run.step()
    finally:
        run.close()
    document = json.loads((tmp_path / "run" / "config.json").read_text())
    assert document["config"]["stage"] == 2 and document["config"]["init_from"] == "checkpoints/mario-1-1"
    assert document["state"]["step"] >= 60


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--init", "checkpoints/pendulum-swingup"], "a pendulum checkpoint, expected a mario checkpoint"),
        (["--init", "checkpoints/mario-1-1", "--preset", "fast"], "--init takes the checkpoint's config"),
        (["--init", "checkpoints/mario-1-1", "--resume"], "--init starts a new run"),
        (["--init", "/nonexistent/agent"], "/nonexistent/agent"),
    ],
)
def test_cli_init_refusals_are_one_line(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(ROOT)
    (tmp_path / "run").mkdir()
    if "--resume" in args:
        shutil.copytree(BUNDLED / "mario-1-1", tmp_path / "run", dirs_exist_ok=True)
    assert cli.main(["train", "mario", *args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert "--resume" in args or not (tmp_path / "run" / "metrics.jsonl").exists()  # nothing was started


@pytest.mark.parametrize("noisy", [False, True])
@pytest.mark.parametrize("dueling", [True, False])
@pytest.mark.parametrize(
    "source, target",
    [
        ("right_jump", "right_only"),  # the tutorial's two -> five (NOOP, running)
        ("right_jump", [["right", "A"], ["left"], ["right"]]),  # reordered, plus one new
        ("right_only", "right_jump"),  # fewer: the greedy choice among those kept
    ],
)
def test_another_action_set_keeps_the_agents_choices_and_values_new_actions_below_them(
    dueling, noisy, source, target
):
    from rlcore.mario.env import resolve_actions, source_rows
    from rlcore.mario.net import NEW_ACTION_MARGIN, MarioNet, expand_action_rows

    torch.manual_seed(0)
    old_actions, new_actions = resolve_actions(source), resolve_actions(target)
    trained = MarioNet((4, 84, 84), len(old_actions), dueling=dueling, noisy=noisy).online
    with torch.no_grad():  # trained-looking outputs: biases far from the initialisation's
        for name, p in trained.named_parameters():
            if name.endswith(("bias", "bias_mu")):
                p.add_(torch.randn_like(p))
    fresh = MarioNet((4, 84, 84), len(new_actions), dueling=dueling, noisy=noisy).online
    fresh.load_state_dict(
        expand_action_rows(trained.state_dict(), fresh, source_rows(old_actions, new_actions))
    )
    states = torch.rand(64, 4, 84, 84)
    with torch.no_grad():
        before, after = trained(states), fresh(states)
    where = {frozenset(a): i for i, a in enumerate(old_actions)}
    kept = [(i, where[frozenset(a)]) for i, a in enumerate(new_actions) if frozenset(a) in where]
    added = [i for i, a in enumerate(new_actions) if frozenset(a) not in where]
    kept_after, kept_before = after[:, [i for i, _ in kept]], before[:, [j for _, j in kept]]
    # the greedy action among the kept ones is unchanged, and none of the new actions beats it
    assert torch.equal(kept_after.argmax(1), kept_before.argmax(1))
    assert torch.equal(after.argmax(1), torch.tensor([kept[k][0] for k in kept_before.argmax(1)]))
    if added:  # a new action starts NEW_ACTION_MARGIN below the mean of the kept ones, in every state
        expected = kept_after.mean(1, keepdim=True) - NEW_ACTION_MARGIN
        torch.testing.assert_close(after[:, added], expected.expand(-1, len(added)), atol=1e-4, rtol=0)
    if len(kept) == len(old_actions):  # nothing dropped: the kept actions' values are the trained ones
        torch.testing.assert_close(kept_after, kept_before, atol=1e-4, rtol=0)
    else:  # a dropped action moves a dueling head's mean: every kept value moves by the same amount
        shift = kept_after - kept_before
        torch.testing.assert_close(shift, shift[:, :1].expand_as(shift), atol=1e-4, rtol=0)


def test_a_run_with_more_actions_starts_from_the_agents_weights(tmp_path, monkeypatch, capsys):
    """`rlcore train mario --init checkpoints/mario-1-1 --actions right_only`: the trunk and the two trained
    actions' outputs are the bundled agent's; NOOP and the running actions are new."""
    from rlcore.mario.train import TrainingRun

    monkeypatch.chdir(ROOT)
    mario = get_system("mario")
    config = resolve_config(
        mario,
        init=BUNDLED / "mario-1-1",
        overrides=dict(
            actions="right_only",
            max_steps=40,
            burnin=20,
            batch_size=8,
            memory_size=200,
            num_envs=1,
            log_every=1,
            checkpoint_every=10_000,
        ),
    )
    run = TrainingRun(
        config,
        tmp_path / "run",
        device="cpu",
        env_fn=functools.partial(make_fake_env, n_actions=5, min_frames=40, max_frames=200),
    )
    try:
        original, loaded = weights_of(BUNDLED / "mario-1-1"), run.agent.net.online.state_dict()
        head = "7.advantage.2"  # the action outputs: right and right A are rows 1 and 2 of right_only
        assert all(
            torch.equal(loaded[k], original[k].float())
            for k in original
            if not k.startswith(head) and k != "7.value.2.bias"
        )
        assert torch.equal(loaded[f"{head}.weight"][1:3], original[f"{head}.weight"].float())
        assert loaded[f"{head}.weight"].shape == (5, 512)
        assert (
            "2 actions -> 5: right, right A keep their Q outputs, NOOP, right B, right A B start"
            in capsys.readouterr().err
        )
        while not run.finished:
            run.step()
    finally:
        run.close()
    document = json.loads((tmp_path / "run" / "config.json").read_text())
    assert document["config"]["actions"] == "right_only" and document["action_dim"] == 5


def _finish_run(config, out):
    from rlcore.mario.train import TrainingRun

    run = TrainingRun(config, out, device="cpu", env_fn=FAKE_ENV)
    try:
        start_q = run.agent.q_values(STATES)
        while not run.finished:
            run.step()
    finally:
        run.close()
    return start_q


STATES = torch.randint(0, 256, (16, 4, 84, 84), dtype=torch.uint8)


@pytest.mark.extended
def test_noisy_nets_start_from_a_plain_agent_with_its_values_and_go_back(tmp_path, monkeypatch, capsys):
    """`--init checkpoints/mario-1-1 --noisy`: its Linear layers become the NoisyNet means (same greedy Q
    values), the sigmas start at TorchRL's initial ones; the noisy run's checkpoint holds means and sigmas but
    no noise sample, and a plain run started from it takes the means."""
    from rlcore.mario.agent import Mario

    monkeypatch.chdir(ROOT)
    mario = get_system("mario")
    small = dict(
        max_steps=60,
        burnin=20,
        batch_size=8,
        memory_size=200,
        num_envs=1,
        log_every=1,
        checkpoint_every=10_000,
        exploration_rate=0.0,
        exploration_rate_min=0.0,
    )
    bundled_q = Mario.load(BUNDLED / "mario-1-1").q_values(STATES)
    noisy_q = _finish_run(
        resolve_config(mario, init=BUNDLED / "mario-1-1", overrides=dict(noisy=True, **small)),
        tmp_path / "noisy",
    )
    torch.testing.assert_close(torch.tensor(noisy_q), torch.tensor(bundled_q), atol=1e-5, rtol=0)
    assert "its Linear layers -> NoisyNet means" in capsys.readouterr().err

    stored = weights_of(tmp_path / "noisy")
    assert {"7.advantage.0.weight_mu", "7.advantage.0.weight_sigma", "7.value.2.bias_sigma"} <= set(stored)
    assert not any("epsilon" in name for name in stored) and "7.advantage.0.weight" not in stored
    trained = Mario.load(tmp_path / "noisy")
    assert trained.config.noisy and not trained.net.training  # loaded for play: the mean weights
    assert not torch.equal(
        stored["7.advantage.0.weight_sigma"],
        torch.full_like(stored["7.advantage.0.weight_sigma"], 0.5 / 3136**0.5),
    )  # learnt

    plain_q = _finish_run(
        resolve_config(mario, init=tmp_path / "noisy", overrides=dict(noisy=False, **small)),
        tmp_path / "plain",
    )
    torch.testing.assert_close(
        torch.tensor(plain_q), torch.tensor(trained.q_values(STATES)), atol=1e-5, rtol=0
    )
    assert "its NoisyNet means -> Linear layers" in capsys.readouterr().err
    assert "7.advantage.0.weight" in weights_of(tmp_path / "plain")


# Issue 30, D2: a checkpoint's config.json as a hostile (or merely other machine's) agent ships it: where and
# how its run computed. None of it may reach a run started from it.
ELSEWHERE = {
    "mario": {
        "collector": "ray",
        "ray_address": "127.0.0.1:6379",
        "num_envs": 6,
        "memory_size": 1e8,
        "torch_threads": 64,
        "pin_cpus": False,
        "target_thread": False,
        "worker_batch": 4096,
        "checkpoint_every": 1,
        "log_every": 1,
        "channels_last": False,
        "starts": "/srv/their/route",
    },
    "pendulum": {"engine": "env", "compile": True, "threads": 64, "checkpoint_every": 1, "eval_every": 1},
}


def checkpoint_from_elsewhere(source, folder, top=None, **learned):
    """A copy of `source`'s config.json (no weights: nothing here loads them) with ELSEWHERE's run-time
    settings and the `learned` fields changed."""
    document = json.loads((source / "config.json").read_text())
    document["config"].update(ELSEWHERE[document["system"]], **learned)
    document.update(top or {})
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(document))
    return folder


def test_init_takes_the_learned_config_and_never_where_or_how_to_run(tmp_path, monkeypatch):
    from demo.train import run_config

    monkeypatch.chdir(ROOT)
    mario, defaults = get_system("mario"), get_system("mario").Config()
    start = checkpoint_from_elsewhere(
        BUNDLED / "mario-1-1",
        tmp_path / "downloaded",
        top={"action_dim": 5},
        actions="right_only",
        noisy=True,
    )
    words = ["train", "mario", "--init", str(start), "--out", str(tmp_path / "run")]
    config = cli.train_config(mario, cli.build_parser(words).parse_args(words))  # nothing is started
    where = {
        k: getattr(config, k)
        for k in (
            "collector",
            "ray_address",
            "num_envs",
            "memory_size",
            "torch_threads",
            "pin_cpus",
            "target_thread",
            "worker_batch",
            "checkpoint_every",
            "starts",
        )
    }
    # local, no address, the system's fine-tune workers (3), 100k transitions ...: never the checkpoint's
    assert where == {k: mario.fine_tune.get(k, getattr(defaults, k)) for k in where}
    assert (config.precision, config.keep_snapshots) == (
        "auto",
        False,
    )  # the system's fine_tune, not the agent's
    # what defines the agent is the checkpoint's: its action set, head, exploration and return recipe
    assert (
        config.actions,
        config.noisy,
        config.dueling,
        config.n_step,
        config.reward_scale,
        config.noop_max,
    ) == ("right_only", True, True, 3, 0.1, 30)
    flags = words + ["--num-envs", "2", "--memory-size", "5000", "--torch-threads", "2"]
    config = cli.train_config(mario, cli.build_parser(flags).parse_args(flags))
    assert (config.num_envs, config.memory_size, config.torch_threads, config.collector) == (
        2,
        5000,
        2,
        "local",
    )
    # the app's "Start from" resolves through the same System.start_config
    app = run_config("mario", "tutorial", 1000, 0.0001, 0, start=start)
    assert (app["collector"], app["ray_address"], app["num_envs"], app["torch_threads"]) == (
        "local",
        "",
        3,
        1,
    )
    assert app["memory_size"] <= defaults.memory_size and app["actions"] == "right_only" and app["noisy"]

    pendulum = get_system("pendulum")
    swingup = checkpoint_from_elsewhere(BUNDLED / "pendulum-swingup", tmp_path / "pendulum", hidden_size=32)
    config = resolve_config(pendulum, init=swingup, overrides=dict(g=15.0))
    assert {k: getattr(config, k) for k in ELSEWHERE["pendulum"]} == {
        k: getattr(pendulum.Config(), k) for k in ELSEWHERE["pendulum"]
    }
    assert (config.hidden_size, config.gradient_decay, config.g) == (32, 0.98, 15.0)


def test_the_run_time_fields_are_declared_on_each_config():
    from rlcore.config import runtime_fields

    for system, fields in ELSEWHERE.items():
        assert set(fields) <= runtime_fields(get_system(system).Config)
    assert not {"actions", "dueling", "noisy", "n_step", "world", "stage"} & runtime_fields(
        get_system("mario").Config
    )
