"""`python -m rlcore ...` as a user runs it: subprocesses of the real entry point, against a local Hub server.

The Hugging Face settings (HF_ENDPOINT, HF_TOKEN, HF_HOME, HF_HUB_OFFLINE, HF_HUB_DISABLE_XET) go
into each subprocess's environment, so huggingface_hub reads them at import exactly as it does for a
user; nothing in this process's huggingface_hub is touched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from hub_server import TOKEN, HubServer, copy_of_folder, folder_bytes, make_checkpoint

from rlcore import cli
from rlcore.config import option

ROOT = Path(__file__).resolve().parents[1]
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused


@pytest.fixture
def server():
    with HubServer(tokens={TOKEN: "alice"}) as running:
        yield running


def run_cli(
    *args, endpoint: str, home: Path, token: str | None = TOKEN, timeout: float = 300, **extra_env: str
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(home),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(ROOT),
        **extra_env,
    )
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "rlcore", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rlcore: error: ") and fragment in last, result.stderr


# ----------------------------------------------------------------------------- flags and help


@dataclasses.dataclass
class ExampleConfig:
    lr: float = option(0.1, "learning rate of the example")
    layers: int = option(2, "hidden layers")
    dueling: bool = option(False, "a boolean switch")
    engine: Literal["fast", "env"] = option("fast", "which engine")
    sizes: list = option([64, 64], "a list")


def test_flags_come_from_the_config_dataclass_and_only_given_ones_are_kept():
    import argparse

    parser = argparse.ArgumentParser()
    names = cli.add_dataclass_flags(parser, ExampleConfig)
    args = parser.parse_args(["--lr", "0.5", "--dueling", "--engine", "env"])
    assert cli.given_fields(args, names) == {"lr": 0.5, "dueling": True, "engine": "env"}
    args = parser.parse_args(["--no-dueling", "--layers", "4"])
    assert cli.given_fields(args, names) == {"dueling": False, "layers": 4}
    text = " ".join(parser.format_help().split())
    for expected in (
        "--lr LR learning rate of the example (default: 0.1)",
        "--dueling, --no-dueling",
        "{fast,env}",
        "which engine",
    ):
        assert expected in text
    with pytest.raises(SystemExit):
        parser.parse_args(["--engine", "slow"])


@pytest.mark.parametrize("system_name", ["pendulum", "mario"])
def test_train_help_explains_every_config_field(system_name):
    from rlcore.config import field_help
    from rlcore.systems import get_system

    try:
        system = get_system(system_name)
    except ModuleNotFoundError:
        pytest.skip(f"rlcore.{system_name}.api has not landed yet")
    parser = cli.build_parser(["train", system_name, "--help"])
    train = parser._subparsers._group_actions[0].choices["train"]
    sub = train._subparsers._group_actions[0].choices[system_name]
    text = " ".join(sub.format_help().split())
    for flag in ("--out DIR", "--resume", "--device {auto,cpu,cuda}", "--push-to-hub OWNER/NAME"):
        assert flag in text
    for field in dataclasses.fields(system.Config):
        if (
            field.name == "init_from"
        ):  # a run from a trained agent: --init, which also takes the agent's config
            assert "--init CHECKPOINT start from the weights and config of this checkpoint" in text
            continue
        flag = "--" + field.name.replace("_", "-")
        assert flag in text, flag
        if field.type in (bool, "bool"):
            assert f"{flag}, --no-{field.name.replace('_', '-')}" in text
        assert "".join(field_help(system.Config)[field.name].split()) in "".join(text.split())  # any wrapping


def test_every_command_has_help_through_the_real_entry_point(tmp_path):
    result = run_cli("--help", endpoint=CLOSED_PORT_URL, home=tmp_path)
    assert result.returncode == 0
    for command in cli.COMMANDS:
        assert command in result.stdout
    for command, flags in (
        ("push", ["--episodes", "--seed", "--message", "--private", "OWNER/NAME"]),
        ("pull", ["--cache-dir", "OWNER/NAME[@REVISION]"]),
        ("list", ["--author", "--search", "--limit"]),
        (
            "evaluate",
            [
                "--episodes",
                "--seed",
                "--out",
                "--write",
                "--sticky",
                "--epsilon",
                "hf://OWNER/NAME[@REVISION]",
            ],
        ),
        ("compare", ["--episodes", "--seed", "--out", "--sticky", "--epsilon"]),
        ("evaluate-snapshots", ["--episodes", "--seed", "--sticky", "--epsilon", "--every", "RUN"]),
        ("export", ["--out", "CHECKPOINT"]),
    ):
        text = (
            cli.build_parser([command, "--help"])._subparsers._group_actions[0].choices[command].format_help()
        )
        for flag in flags:
            assert flag in text, (command, flag)


def test_parsing_a_hub_command_imports_no_system(tmp_path):
    """Flags are built for the command being run: `rlcore pull` / `list` / `--help` never import torch."""
    code = (
        "import sys; from rlcore.cli import build_parser\n"
        "for argv in (['pull', 'a/b'], ['list', '--author', 'a'], ['push', 'run', 'a/b']):\n"
        "    build_parser(argv).parse_args(argv)\n"
        "build_parser(['--help']).format_help()\n"
        "print([name for name in ('torch', 'rlcore.pendulum.api', 'rlcore.mario.api') if name in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


# ----------------------------------------------------------------------------- bad input, failures


def test_expected_errors_are_one_line_with_exit_codes(server, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    home = tmp_path / "hf"
    checkpoint = make_checkpoint(tmp_path / "run")
    before = folder_bytes(checkpoint)
    hub_url = {"endpoint": server.url, "home": home}
    cases = {  # name: (arguments, environment, exit code, what the one line says)
        "push without token": (
            ["push", checkpoint, "alice/pendulum"],
            {**hub_url, "token": None},
            2,
            "no Hugging Face token",
        ),
        "train without token": (
            ["train", "pendulum", "--out", tmp_path / "never", "--push-to-hub", "alice/p"],
            {**hub_url, "token": None},
            2,
            "no Hugging Face token",
        ),
        "escaping id": (["pull", "../x"], hub_url, 2, "invalid Hub repo id"),
        "unknown repo": (["pull", "alice/missing"], hub_url, 2, "no such model repo"),
        "unreachable": (
            ["pull", "alice/pendulum"],
            {"endpoint": CLOSED_PORT_URL, "home": home},
            1,
            "Hub cannot be reached",
        ),
    }
    # independent subprocesses: run them side by side (each spends most of its time importing)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, *args, **env) for name, (args, env, _, _) in cases.items()}
        debug = run_cli("pull", "a/b/c", "--debug", **hub_url)
        results = {name: future.result() for name, future in futures.items()}
    for name, (_, _, code, fragment) in cases.items():
        assert_one_line_error(results[name], code, fragment)
    assert debug.returncode == 2 and "Traceback" in debug.stderr  # --debug shows what happened

    # refused before anything was sent: nothing created, uploaded or committed; no training started
    assert [r for r in server.requests if r[0] in ("POST", "PUT")] == []
    assert not (tmp_path / "never").exists()
    assert folder_bytes(checkpoint) == before
    assert all(TOKEN not in result.stdout + result.stderr for result in results.values())


def test_local_checkpoint_errors_exit_2_in_process(tmp_path, capsys):
    """Commands on local folders do not depend on Hugging Face settings: main() runs in this process."""
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "model.pt").write_bytes(b"\x80\x04\x95" + b"\0" * 16)
    assert cli.main(["evaluate", str(pickled)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"rlcore: error: {pickled / 'model.pt'}: refusing to load a pickle "
        "file (rlcore loads only model.safetensors; pickles can run "
        "arbitrary code)"
    )
    assert cli.main(["play", str(tmp_path / "nowhere")]) == 2
    assert "no such checkpoint folder" in capsys.readouterr().err
    assert cli.main(["train", "pendulum", "--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "holds no checkpoint to resume" in capsys.readouterr().err
    assert cli.main(["train", "pendulum", "--device", "tpu"]) == 2  # argparse: invalid choice
    assert "invalid choice" in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained_with_the_cli(tmp_path_factory):
    """`rlcore train pendulum` for 3 iterations, through the real entry point."""
    root = tmp_path_factory.mktemp("cli")
    run = root / "run"
    result = run_cli(
        "train",
        "pendulum",
        "--out",
        run,
        "--iterations",
        3,
        "--checkpoint-every",
        3,
        "--batch-size",
        8,
        "--rollout-steps",
        20,
        "--device",
        "cpu",
        endpoint=CLOSED_PORT_URL,
        home=root / "hf",
    )
    assert result.returncode == 0, result.stderr
    assert "train pendulum" in result.stderr and "3/3" in result.stderr  # the progress bar
    assert json.loads((run / "config.json").read_text())["config"]["rollout_steps"] == 20
    return run, result


def test_evaluate_play_and_resume_in_process(trained_with_the_cli, tmp_path, capsys):
    run, _ = trained_with_the_cli
    local = tmp_path / "run"
    local.mkdir()
    for name, data in folder_bytes(run).items():
        (local / name).write_bytes(data)

    assert cli.main(["evaluate", str(local), "--episodes", "2", "--seed", "4", "--write"]) == 0
    results = json.loads((local / "results.json").read_text())
    assert (
        results["protocols"]["greedy"]["seeds"] == [4, 5]
        and f"{results['mean_reward']:.2f}" in capsys.readouterr().out
    )

    assert (
        cli.main(["play", str(local), "--out", str(tmp_path / "one.mp4"), "--seed", "3", "--steps", "10"])
        == 0
    )
    assert (tmp_path / "one.mp4").stat().st_size > 1000 and "one.mp4" in capsys.readouterr().out

    assert cli.main(["train", "pendulum", "--out", str(local)]) == 2  # never overwrite a run silently
    assert "already holds a checkpoint" in capsys.readouterr().err
    assert (
        cli.main(["train", "pendulum", "--out", str(local), "--resume", "--iterations", "5", "--no-progress"])
        == 0
    )
    assert f"resuming {local} with iterations 3 -> 5\n" in capsys.readouterr().err  # what the flags change
    document = json.loads((local / "config.json").read_text())
    assert document["config"]["iterations"] == 5 and document["config"]["rollout_steps"] == 20  # saved + flag


def test_train_push_list_pull_offline_through_the_entry_point(server, trained_with_the_cli, tmp_path):
    import numpy as np
    import torch

    from rlcore.pendulum import api
    from rlcore.video import write_mp4

    run_source, trained = trained_with_the_cli
    run = copy_of_folder(run_source, tmp_path / "run")
    # a short replay made here; the full 200-step render of `push` is covered by the slow test below
    write_mp4(run / "replay.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3, fps=3)
    home, fresh_home = tmp_path / "hf", tmp_path / "hf-fresh"
    outputs = [trained.stdout + trained.stderr]

    def cli_ok(*args, **kwargs):
        kwargs.setdefault("endpoint", server.url)
        kwargs.setdefault("home", home)
        result = run_cli(*args, **kwargs)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, result.stderr
        return result

    pushed = cli_ok("push", run, "alice/pendulum-bptt", "--episodes", 3)
    assert pushed.stdout.strip().endswith(server.commits("alice/pendulum-bptt")[-1].oid)
    events = {path.name for path in run.glob("events.out.tfevents.*")}  # TensorBoard's logs of the training
    assert len(events) == 1 and {
        "model.safetensors",
        "config.json",
        "results.json",
        "metrics.jsonl",
        "replay.mp4",
        "README.md",
        "training.png",
        "agent.pt",
        *events,
    } == set(server.files("alice/pendulum-bptt"))  # agent.pt: the leaderboard's

    listed = cli_ok("list", "--author", "alice")
    assert "alice/pendulum-bptt" in listed.stdout and "Pendulum-v1" in listed.stdout

    pulled = cli_ok("pull", "alice/pendulum-bptt", home=fresh_home)
    folder = Path(pulled.stdout.strip().splitlines()[-1])
    assert folder.is_relative_to(fresh_home / "hub" / "models--alice--pendulum-bptt" / "snapshots")
    offline = cli_ok(
        "pull", "alice/pendulum-bptt", home=fresh_home, endpoint=CLOSED_PORT_URL, HF_HUB_OFFLINE="1"
    )
    assert Path(offline.stdout.strip().splitlines()[-1]) == folder
    assert not (
        folder / "agent.pt"
    ).exists()  # pushed for the leaderboard, never pulled (rlcore does not load it)

    observations = torch.randn(32, 3)
    assert torch.equal(api.load(run).act(observations), api.load(folder).act(observations))

    # the token: never printed, never in a file we produced or downloaded
    assert all(TOKEN not in text for text in outputs)
    for root in (run, home, fresh_home):
        for name, data in folder_bytes(root).items():
            assert TOKEN.encode() not in data, name
    for name, data in server.files("alice/pendulum-bptt").items():
        assert TOKEN.encode() not in data, name


@pytest.mark.slow
def test_push_renders_and_evaluates_and_hub_checkpoints_evaluate_and_play(server, tmp_path):
    home = tmp_path / "hf"
    pushed = run_cli(
        "train",
        "pendulum",
        "--out",
        tmp_path / "run2",
        "--iterations",
        2,
        "--batch-size",
        4,
        "--rollout-steps",
        10,
        "--push-to-hub",
        "alice/straight-from-training",
        endpoint=server.url,
        home=home,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "replay.mp4" in server.files("alice/straight-from-training")

    evaluated = run_cli(
        "evaluate",
        "hf://alice/straight-from-training",
        "--episodes",
        2,
        "--out",
        tmp_path / "ev.json",
        endpoint=server.url,
        home=home,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((tmp_path / "ev.json").read_text())["n_eval_episodes"] == 2
    played = run_cli(
        "play",
        "alice/straight-from-training",
        "--out",
        tmp_path / "hub.mp4",
        "--steps",
        10,
        endpoint=server.url,
        home=home,
    )
    assert played.returncode == 0, played.stderr
    assert (tmp_path / "hub.mp4").stat().st_size > 1000
    for text in (
        pushed.stdout + pushed.stderr,
        evaluated.stdout + evaluated.stderr,
        played.stdout + played.stderr,
    ):
        assert TOKEN not in text


@pytest.mark.slow
def test_a_mario_agent_trained_pushed_and_pulled_through_the_entry_point(server, tmp_path):
    from huggingface_hub import ModelCard

    from rlcore import hub
    from rlcore.mario import api

    home, run = tmp_path / "hf", tmp_path / "mario"
    trained = run_cli(
        "train",
        "mario",
        "--out",
        run,
        "--max-steps",
        120,
        "--burnin",
        40,
        "--memory-size",
        1000,
        "--log-every",
        1,
        "--checkpoint-every",
        60,
        endpoint=server.url,
        home=home,
    )
    assert trained.returncode == 0, trained.stderr
    pushed = run_cli("push", run, "alice/mario-ddqn", "--episodes", 1, endpoint=server.url, home=home)
    assert pushed.returncode == 0, pushed.stderr
    files = server.files("alice/mario-ddqn")
    assert {"model.safetensors", "config.json", "results.json", "replay.mp4", "README.md"} <= set(files)
    assert set(files) == {path.name for path in hub.files_to_push(run)} | {"README.md"}

    pulled = run_cli("pull", "alice/mario-ddqn", endpoint=server.url, home=tmp_path / "fresh")
    assert pulled.returncode == 0, pulled.stderr
    folder = Path(pulled.stdout.strip().splitlines()[-1])
    card = ModelCard.load(folder / "README.md")
    assert {r.metric_type for r in card.data.eval_results} == {"mean_reward", "x_pos", "flag_rate"}
    assert api.evaluate(folder, episodes=1)["mean_reward"] == json.loads(files["results.json"])["mean_reward"]


def test_play_defaults_to_what_the_agent_was_trained_on(tmp_path, capsys):
    """`rlcore play checkpoints/mario-1-3` plays 1-3 (evaluate's level), a Pendulum trained at g 15 swings at
    g 15; a flag still chooses another level or physics."""
    import shutil

    heavier = tmp_path / "g15"
    shutil.copytree(ROOT / "checkpoints" / "pendulum-swingup", heavier)
    document = json.loads((heavier / "config.json").read_text())
    document["config"]["g"] = 15.0
    (heavier / "config.json").write_text(json.dumps(document))
    cases = [
        ([str(heavier), "--steps", "5"], "g=15,"),
        ([str(heavier), "--steps", "5", "--g", "9.8"], "g=9.8,"),
        ([str(ROOT / "checkpoints" / "mario-1-3"), "--max-steps", "3"], "world=1, stage=3,"),
        ([str(ROOT / "checkpoints" / "mario-1-3"), "--max-steps", "3", "--stage", "1"], "world=1, stage=1,"),
    ]
    for args, played in cases:
        capsys.readouterr()
        assert cli.main(["play", *args, "--out", str(tmp_path / "episode.mp4")]) == 0
        assert played in capsys.readouterr().out, args
    assert cli.main(["play", "--help"]) == 0
    assert (
        "--stage STAGE [mario] stage 1-4 to play (from 1 to 4; default: what the agent was trained on)"
        in " ".join(capsys.readouterr().out.split())
    )


def test_curves_overlays_runs_and_tabulates_their_window_means(tmp_path, capsys):
    """Two runs of one system with known records: the table holds each window's mean per run, the PNG is
    written, and bad input (labels, unknown metric, mixed systems, no records) is one line, exit 2."""
    runs = []
    for name, rate in (("plain", 0.1), ("shift", 0.3)):
        run = tmp_path / name
        run.mkdir()
        (run / "config.json").write_bytes((ROOT / "checkpoints/mario-1-4/config.json").read_bytes())
        records = [
            {"step": step, "flag_rate": rate * (step // 100), "x_pos": 1000 + step, "time": "2026-12-03"}
            for step in range(0, 300, 25)
        ]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        runs.append(str(run))
    png = tmp_path / "curves.png"
    assert (
        cli.main(["curves", *runs, "--metrics", "flag_rate", "x_pos", "--window", "100", "--out", str(png)])
        == 0
    )
    out = capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:1].isdigit()}
    assert out.index("flag_rate") < out.index("x_pos")
    flag_rows = [line.split() for line in out[: out.index("x_pos")].splitlines() if line[:1].isdigit()]
    assert flag_rows == [["0-100", "0", "0"], ["100-200", "0.1", "0.3"], ["200-300", "0.2", "0.6"]]
    assert rows["0-100"] == ["1038", "1038"]  # x_pos: mean of 1000, 1025, 1050, 1075 (the last table wins)

    assert cli.main(["curves", *runs, "--labels", "one"]) == 2
    assert "--labels needs 2 different names" in capsys.readouterr().err
    for metric in ("lives", "time"):
        assert cli.main(["curves", *runs, "--metrics", metric, "--out", str(png)]) == 2
        assert f"no run records {metric} as numbers" in capsys.readouterr().err
    pendulum = tmp_path / "pendulum"
    pendulum.mkdir()
    (pendulum / "config.json").write_bytes((ROOT / "checkpoints/pendulum-swingup/config.json").read_bytes())
    assert cli.main(["curves", runs[0], str(pendulum)]) == 2
    assert "runs of one system, got mario, pendulum" in capsys.readouterr().err
    (tmp_path / "plain" / "metrics.jsonl").write_text("")
    assert cli.main(["curves", *runs]) == 2
    assert "has no training records" in capsys.readouterr().err


@pytest.mark.parametrize("span, width", [(273_522, 20_000), (1_500, 100), (150_000, 10_000), (7, 1)])
def test_curves_default_window_is_a_round_tenth(span, width):
    assert cli._round_width(span) == width


def test_a_resumed_runs_progress_bar_rates_only_its_own_steps(capsys):
    """The bar starts at the first record's count: a run resumed at 1,500 iterations that then does ~20
    a second is shown at ~20/s, not at the thousands/s that counting the resumed ones would give."""
    import time

    from rlcore.systems import get_system

    system = get_system("pendulum")
    key = system.budget.record_key

    def records():
        for done in range(1500, 1504):
            time.sleep(0.05)
            yield {key: done}

    cli.show_progress(system, system.Config(), records(), quiet=False)
    shown = capsys.readouterr().err
    rates = [float(rate) for rate in re.findall(rf"([\d.]+){key}/s", shown)]
    assert f"1503{key}" in shown.replace(" ", "") and rates, shown
    assert max(rates) < 100, shown
