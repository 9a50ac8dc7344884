"""Mario training on TorchRL's RayCollector (`--collector ray`), against real Ray: a two-node cluster
started with `ray start` on 127.0.0.1 (head + a second node joining it), and the private instance the
trainer starts itself. The fake image env keeps these fast; one slow test uses the real emulator."""

import functools
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mario_fake_env
import pytest
import torch
from mario_fake_env import make_fake_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ (its /proc helpers)

from bench.mario_scale import descendant_pids
from rlcore.checkpoint import load_training_state
from rlcore.mario.config import MarioConfig
from rlcore.mario.distributed import ExplorationPolicy, RayTrainingRun, WorkerLost, prepare_ray_environment
from rlcore.mario.train import train as train_run
from rlcore.metrics import read_metrics

ray = pytest.importorskip("ray")
# the Ray workers import rlcore from this venv, but not the tests' folder: ship the fake env by value
ray.cloudpickle.register_pickle_by_value(mario_fake_env)

FAKE_ENV = functools.partial(make_fake_env, min_frames=40, max_frames=200)  # 10-50 steps per episode
TESTS = Path(__file__).parent
# one Ray environment for everything started here: loopback only, no usage statistics
RAY_ENV = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _config(**overrides):
    return MarioConfig(
        **{
            "burnin": 40,
            "batch_size": 8,
            "memory_size": 2_000,
            "log_every": 1,
            "num_envs": 2,
            "worker_batch": 16,
            "checkpoint_every": 10_000,
            "max_steps": 160,
            "exploration_rate_decay": 0.999,
            "collector": "ray",
            **overrides,
        }
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLUSTER = """
import sys
from ray.cluster_utils import Cluster
node = {"num_cpus": 1, "num_gpus": 0, "object_store_memory": 100 * 1024**2}
nodes = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
nodes.add_node(**node)
print(nodes.address, flush=True)
sys.stdin.read()  # until the test is done with it
nodes.shutdown()
"""


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on 127.0.0.1, one CPU each (so one worker lands on each): Ray's own multi-node test
    harness, separate raylet processes joined to one head, run from a helper process (started from this
    one, Ray's in-process node handles break later fork()s, as the local trainer's env workers use).
    (`ray start` cannot join a second node to a loopback-only head: a joining node always advertises
    the host's external address.)"""
    helper = subprocess.Popen(
        [sys.executable, "-c", CLUSTER], env=RAY_ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        address = helper.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address
        yield address
    finally:
        helper.stdin.close()
        try:
            helper.wait(60)
        except subprocess.TimeoutExpired:
            helper.kill()


def _reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout} s")
        time.sleep(0.5)


def _saved_step(out: Path) -> int:
    try:
        return json.loads((out / "training_state.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return -1


def _alive_nodes() -> int:
    return sum(1 for node in ray.nodes() if node["Alive"])


def test_two_nodes_feed_one_learner_and_a_dead_worker_stops_it_resumably(cluster, tmp_path):
    out = tmp_path / "run"
    config = _config(ray_address=cluster, checkpoint_every=64)
    run = RayTrainingRun(config, out, device="cpu", env_fn=FAKE_ENV)
    lost = None
    try:
        _wait_for(lambda: _alive_nodes() == 2, 60, "the second Ray node")
        # both workers built (their env made) before the first batch: on loaded cores a late worker would
        # otherwise leave every batch of this short run to the other one
        ray.get([worker.__ray_ready__.remote() for worker in run.collector.remote_collectors], timeout=120)
        initial = {k: v.clone() for k, v in run.agent.net.online.state_dict().items()}
        workers_seen, batch_sizes = set(), []
        next_batch = run._next_batch

        def watched():
            batch = next_batch()
            workers_seen.add(int(batch["worker"][0]))
            batch_sizes.append(len(batch))
            return batch

        run._next_batch = watched
        while not run.finished:
            run.step()
        assert workers_seen == {0, 1}  # transitions came from both workers...
        actor_nodes = {
            a["Address"]["NodeID"]
            for a in ray._private.state.actors().values()
            if a["State"] == "ALIVE" and "Collector" in a["ActorClassName"]
        }
        assert len(actor_nodes) == 2  # ...on two nodes
        assert run.agent.memory.transitions_added == run.agent.curr_step == 160 == sum(batch_sizes)
        # the workers' policies hold weights the learner sent after learning, and its epsilon
        for worker_state in run.collector.state_dict():
            policy = {k.split("module.", 1)[-1]: v for k, v in worker_state["policy_state_dict"].items()}
            assert not torch.equal(policy["online.0.weight"], initial["0.weight"])
            assert float(policy["epsilon"]) < 1.0 and float(policy["epsilon"]) >= run.agent.exploration_rate
        assert _saved_step(out) == 128  # the periodic checkpoints (every 64 steps)
        # a worker dies: the next batches end the run with one line, never a hang
        ray.kill(run.collector.remote_collectors[0], no_restart=True)
        run.config.max_steps = 100_000
        with pytest.raises(WorkerLost) as lost:
            for _ in range(1000):
                run.step()
        assert "--resume" in str(lost.value) and "\n" not in str(lost.value)
        assert isinstance(lost.value, OSError)  # the CLI prints it as one line (exit 1), no traceback
    finally:
        run.close()  # the final checkpoint, as after Ctrl-C
    tensors, meta = load_training_state(out)
    assert meta["step"] == run.agent.curr_step >= 160 and meta["config"]["collector"] == "ray"
    assert not torch.equal(tensors["online.0.weight"], initial["0.weight"])  # it learned (burnin 40)
    assert any(r["loss"] > 0 for r in read_metrics(out / "metrics.jsonl"))


DRIVER = """
import functools, sys
sys.path.insert(0, {tests!r})
import ray, mario_fake_env
ray.cloudpickle.register_pickle_by_value(mario_fake_env)
from rlcore.mario.config import MarioConfig
from rlcore.mario.distributed import RayTrainingRun
from rlcore.mario.train import train
config = MarioConfig(**{config!r})
fake_env = functools.partial(mario_fake_env.make_fake_env, min_frames=40, max_frames=200)
for _ in train(config, {out!r}, device="cpu", run_type=RayTrainingRun, env_fn=fake_env):
    pass
"""


@pytest.mark.extended
def test_a_killed_ray_run_resumes_from_its_last_checkpoint(cluster, tmp_path):
    out = tmp_path / "run"
    config = _config(ray_address=cluster, checkpoint_every=48, max_steps=100_000)
    script = DRIVER.format(tests=str(TESTS), config=vars(config), out=str(out))
    driver = subprocess.Popen([sys.executable, "-c", script], env=RAY_ENV, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _saved_step(out) >= 96 or driver.poll() is not None, 120, "two checkpoints")
        assert driver.poll() is None, driver.stderr.read()[-2000:]
    finally:
        driver.kill()  # kill -9: no final save
        driver.wait()
    saved = load_training_state(out)[1]["step"]
    resumed = list(
        train_run(
            _config(ray_address=cluster, max_steps=saved + 64),
            out,
            resume=True,
            device="cpu",
            env_fn=FAKE_ENV,
            run_type=RayTrainingRun,
        )
    )
    meta = load_training_state(out)[1]
    assert meta["step"] == saved + 64
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert steps == [s for s in steps if s <= saved] + [r["step"] for r in resumed]  # rewound, then continued
    assert resumed and all(r["step"] > saved for r in resumed)


def test_a_private_instance_listens_on_loopback_only_and_leaves_no_process(tmp_path):
    already = descendant_pids(os.getpid())  # e.g. the two-node cluster's
    run = RayTrainingRun(_config(max_steps=64), tmp_path / "run", device="cpu", env_fn=FAKE_ENV)
    try:
        while not run.finished:
            run.step()
        ray_pids = {
            pid for pid in descendant_pids(os.getpid()) - already if _is_ray(pid)
        }  # GCS, raylet, workers...
        assert len(ray_pids) >= 4
        listening = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout.splitlines()
        ours = [line for line in listening if any(f"pid={pid}," in line for pid in ray_pids | {os.getpid()})]
        assert ours and all(
            line.split()[3].rsplit(":", 1)[0] in ("127.0.0.1", "[::ffff:127.0.0.1]") for line in ours
        ), ours
    finally:
        run.close()
    _wait_for(lambda: not any(_is_ray(pid) for pid in ray_pids), 30, "Ray's processes to exit")


def _is_ray(pid: int) -> bool:
    """A live process of Ray's: a worker (ray::...) or one of its programs (site-packages/ray/...)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        return command.startswith(b"ray::") or b"/ray/" in command
    except OSError:
        return False


def test_an_unreachable_address_is_a_one_line_error_within_seconds(tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlcore",
            "train",
            "mario",
            "--collector",
            "ray",
            "--ray-address",
            f"127.0.0.1:{_free_port()}",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Ray cluster answers there" in lines[0], result.stderr
    assert time.monotonic() - started < 30  # with the interpreter's start; the check itself waits <= 5 s
    assert not (tmp_path / "run" / "config.json").exists()


def test_workers_flag_and_ray_fields_reach_the_config():
    from rlcore.cli import build_parser, given_fields

    argv = [
        "train",
        "mario",
        "--collector",
        "ray",
        "--workers",
        "3",
        "--ray-address",
        "127.0.0.1:6379",
        "--worker-batch",
        "8",
    ]
    args = build_parser(argv).parse_args(argv)
    assert given_fields(args, args.config_fields) == {
        "collector": "ray",
        "num_envs": 3,
        "ray_address": "127.0.0.1:6379",
        "worker_batch": 8,
    }


def test_exploration_policy_is_greedy_at_epsilon_0_and_uniform_at_1():
    from rlcore.mario.agent import Mario

    agent = Mario(config=MarioConfig(), memory=False)
    policy = ExplorationPolicy(agent.net.online, agent.action_dim, True, epsilon=0.0)
    states = torch.randint(0, 256, (20, 4, 84, 84), dtype=torch.uint8)
    assert [int(policy(s)) for s in states] == list(agent.greedy_actions(states))
    policy.epsilon.fill_(1.0)
    torch.manual_seed(0)
    actions = [int(policy(states[0])) for _ in range(200)]
    assert 60 < sum(actions) < 140  # two actions, drawn uniformly


def test_exploration_policy_draws_its_own_noise_sample_each_step_for_noisy_nets():
    import copy

    from rlcore.mario.agent import Mario

    agent = Mario(config=MarioConfig(noisy=True), memory=False)
    policy = ExplorationPolicy(copy.deepcopy(agent.net.online), agent.action_dim, True, epsilon=0.0)
    states = torch.randint(0, 256, (20, 4, 84, 84), dtype=torch.uint8)
    torch.manual_seed(0)
    rounds = {tuple(int(policy(s)) for s in states) for _ in range(5)}
    assert len(rounds) > 1  # epsilon 0: only a new noise sample per step changes the choices


def test_a_remote_address_keeps_rays_cluster_networking(monkeypatch):
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    prepare_ray_environment(MarioConfig(collector="ray", ray_address="10.1.2.3:6379"))
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ
    prepare_ray_environment(MarioConfig(collector="ray", ray_address="127.0.0.1:6379"))
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"


@pytest.mark.slow
def test_the_real_emulator_trains_on_ray_workers(tmp_path):
    out = tmp_path / "run"
    records = list(
        train_run(
            _config(max_steps=320, burnin=100, sticky=0.25, noop_max=10),
            out,
            device="cpu",
            run_type=RayTrainingRun,
        )
    )
    tensors, meta = load_training_state(out)
    assert meta["step"] == 320 and meta["config"]["sticky"] == 0.25
    assert records and all(r["x_pos"] > 0 for r in records)
    assert any(r["loss"] > 0 for r in read_metrics(out / "metrics.jsonl"))


@pytest.mark.slow
def test_scale_bench_prints_its_figures():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [
            sys.executable,
            str(root / "bench" / "mario_scale.py"),
            "--steps",
            "90",
            "--burnin",
            "60",
            "--env-steps",
            "30",
            "--updates",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    for name in (
        "local steps/s",
        "ray steps/s",
        "local cpu ms per step",
        "ray cpu ms per step",
        "ray cpu overhead ratio",
        "env step ms",
        "update ms",
        "ray transport ms per step",
    ):
        assert name in figures, name
    for cores in (8, 32, 128):
        for suffix in ("", " 10x learner"):
            assert float(figures[f"predicted steps/s {cores} cores{suffix}"]) > 0
    assert float(figures["predicted steps/s 128 cores 10x learner"]) >= float(
        figures["predicted steps/s 8 cores"]
    )


@pytest.mark.extended
def test_ray_workers_start_from_the_route_and_take_the_moving_window(tmp_path):
    # a fake level whose flag is at x 280: a route of 30 "right A" steps (8 pixels each) reaches it
    mario_fake_env.fake_route(30).save(tmp_path / "route")
    env_fn = functools.partial(
        mario_fake_env.make_fake_route_env,
        str(tmp_path / "route"),
        0.0,
        min_frames=130,
        max_frames=400,
        goal_x=280,
    )
    config = _config(
        starts=str(tmp_path / "route"), start_share=0.0, start_window=2, start_threshold=0.2, max_steps=400
    )
    run = RayTrainingRun(config, tmp_path / "run", device="cpu", env_fn=env_fn)
    starts = []
    next_batch = run._next_batch

    def watched():
        batch = next_batch()
        starts.extend(int(s) for s, done in zip(batch["route_start"], batch["done"]) if done)
        return batch

    run._next_batch = watched
    try:
        first = run.curriculum.window
        while not run.finished:
            run.step()
    finally:
        run.close()
    assert first == (6, 7) and run.curriculum.moves  # 8 points (one every 4 steps); the window moved back
    assert min(starts) < first[0] <= max(starts)  # the workers started episodes in the moved windows too
    assert run.curriculum.window[0] < first[0]
