"""The repository as a Hugging Face Space: binaries tracked the Hub's way (.gitattributes), `rlcore
deploy-space` (what it sends, against the real huggingface_hub client and tests/hub_server.py), and the
deployed Space downloaded into an empty folder, started there and driven through gradio_client."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_support import answers

ROOT = Path(__file__).resolve().parents[1]


def is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(8000)


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_every_binary_file_in_the_repository_is_an_lfs_file_by_gitattributes():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    binaries = [name for name in tracked.decode().split("\0") if name and is_binary(ROOT / name)]
    assert len(binaries) >= 20  # the bundled agents' weights, videos and plots
    keys = ["filter", "diff", "merge", "text"]
    attributes = (
        subprocess.run(
            ["git", "check-attr", *keys, "-z", "--", *binaries], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    found = {(attributes[i], attributes[i + 1]): attributes[i + 2] for i in range(0, len(attributes) - 2, 3)}
    lfs = ["lfs", "lfs", "lfs", "unset"]
    wrong = [name for name in binaries if [found[(name, key)] for key in keys] != lfs]
    assert not wrong, f"binary files not tracked by LFS in .gitattributes: {wrong}"


# --------------------------------------------------------------------------- what a deploy sends


LEFT_OUT = (
    "tests/test_x.py",
    "bench/bench.py",
    "runs/r/model.safetensors",
    "rlcore/__pycache__/x.pyc",
    "checkpoints/pendulum-swingup/training_state.json",
    "checkpoints/.half-copied/config.json",
    ".venv/bin/python",
    ".env",
    "notes.txt",
    "checkpoints/in-training/mario-1-3/model.safetensors",
)


def app_folder(tmp_path: Path) -> Path:
    """A copy of the app (code, front matter, one bundled agent), with what a deploy leaves out beside it."""
    folder = tmp_path / "app"
    folder.mkdir()
    for name in ("app.py", "requirements.txt", "README.md", ".gitattributes"):
        shutil.copy(ROOT / name, folder / name)
    for name in ("demo", "rlcore"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "checkpoints" / "pendulum-swingup", folder / "checkpoints" / "pendulum-swingup")
    for name in LEFT_OUT:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("not for the Space")
    return folder


def test_a_dry_run_lists_the_app_and_its_agents_and_nothing_else(tmp_path, capsys):
    from rlcore import cli

    folder = app_folder(tmp_path)
    assert cli.main(["deploy-space", "alice/rlcore", "--folder", str(folder), "--dry-run"]) == 0
    *rows, total = capsys.readouterr().out.strip().splitlines()
    listed = {row.split()[1]: int(row.split()[0].replace(",", "")) for row in rows}
    every_file = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(LEFT_OUT) <= every_file and set(listed) == every_file - set(LEFT_OUT)
    assert {
        "app.py",
        "README.md",
        "requirements.txt",
        "rlcore/space.py",
        "demo/__init__.py",
        "checkpoints/pendulum-swingup/model.safetensors",
    } <= set(listed)
    megabytes = sum(listed.values()) / 2**20
    assert total.startswith(f"{len(listed)} files, {megabytes:.1f} MB would go to the Space")


def test_a_folder_that_is_not_the_app_or_a_link_out_of_it_is_refused(tmp_path, capsys):
    from rlcore import cli

    assert cli.main(["deploy-space", "alice/rlcore", "--folder", str(tmp_path), "--dry-run"]) == 2
    assert "not the rlcore app folder (no app.py)" in capsys.readouterr().err
    folder = app_folder(tmp_path)
    (folder / "README.md").write_text("# no front matter\n")
    assert cli.main(["deploy-space", "alice/rlcore", "--folder", str(folder), "--dry-run"]) == 2
    assert "sdk: gradio" in capsys.readouterr().err
    shutil.copy(ROOT / "README.md", folder / "README.md")
    secret = tmp_path / "token"
    secret.write_text("hf_secret")
    (folder / "checkpoints" / "pendulum-swingup" / "notes.png").symlink_to(secret)
    assert cli.main(["deploy-space", "alice/rlcore", "--folder", str(folder), "--dry-run"]) == 2
    assert "a link to a file outside" in capsys.readouterr().err
    assert cli.main(["deploy-space", "alice", "--folder", str(folder), "--dry-run"]) == 2


def test_a_redeploy_is_one_more_commit_that_also_deletes_what_the_folder_no_longer_has(tmp_path):
    from hub_server import TOKEN, HubServer

    from rlcore.space import space_plan

    folder = app_folder(tmp_path)
    with HubServer(tokens={TOKEN: "alice"}) as server:
        deploy(folder, server, "alice/app")
        assert set(server.files("alice/app", repo_type="space")) == set(space_plan(folder).files)
        (folder / "rlcore" / "space.py").unlink()
        deploy(folder, server, "alice/app")
        files = server.files("alice/app", repo_type="space")
        assert "rlcore/space.py" not in files and set(files) == set(space_plan(folder).files)
        assert len(server.commits("alice/app", repo_type="space")) == 2
        assert server.repo("alice/app") is None  # a Space, not a model repo
        assert server.repo("alice/app", "space").private is False
        deploy(folder, server, "alice/hidden", private=True)
        assert server.repo("alice/hidden", "space").private is True


def deploy(folder: Path, server, repo: str, **kwargs) -> str:
    from hub_server import TOKEN

    from rlcore.space import deploy_space

    return deploy_space(folder, repo, token=TOKEN, endpoint=server.url, wait_s=0.01, **kwargs)


# --------------------------------------------------------------------------- the deployed Space runs


@contextlib.contextmanager
def space_app(folder: Path, work_dir: Path, hub_url: str) -> Iterator[str]:
    """`python app.py` started in `folder` as a Space starts it (SPACE_ID set), on 127.0.0.1 and a free port;
    yields its URL once it answers; the process group is stopped afterwards."""
    from app_support import free_port

    port = free_port()
    env = {
        **os.environ,
        "SPACE_ID": "alice/rlcore",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "RLCORE_APP_DIR": str(work_dir),
        "HF_ENDPOINT": hub_url,
        "HF_HOME": str(work_dir / "hf"),
    }
    log = work_dir / "app.log"
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240
        while not answers(url):
            tail = log.read_text()[-3000:]
            assert process.poll() is None, f"the Space's app.py exited:\n{tail}"
            assert time.monotonic() < deadline, f"no answer from the Space's app.py:\n{tail}"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.extended
def test_the_app_deploys_as_a_space_that_runs_from_a_download_of_it(tmp_path):
    from gradio_client import Client
    from hub_server import TOKEN, HubServer
    from huggingface_hub import snapshot_download

    from rlcore.space import space_plan

    with HubServer(tokens={TOKEN: "alice"}) as server:
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "hf")}
        deployed = subprocess.run(
            [sys.executable, "-m", "rlcore", "deploy-space", "alice/rlcore"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert deployed.returncode == 0, deployed.stderr
        assert f"deployed: {server.url}/spaces/alice/rlcore/commit/" in deployed.stdout
        assert len(server.commits("alice/rlcore", repo_type="space")) == 1
        assert set(server.files("alice/rlcore", repo_type="space")) == set(space_plan(ROOT).files)

        space = Path(
            snapshot_download(
                "alice/rlcore",
                repo_type="space",
                local_dir=tmp_path / "space",
                endpoint=server.url,
                token=False,
            )
        )
        where = "import demo, rlcore; print(demo.__file__, rlcore.__file__)"
        probe = subprocess.run(
            [sys.executable, "-c", where], cwd=space, capture_output=True, text=True, check=True
        )
        assert all(Path(f).is_relative_to(space) for f in probe.stdout.split())  # the Space's code, not ours
        replay = space / "checkpoints" / "pendulum-swingup" / "replay.mp4"
        assert replay.read_bytes() == (ROOT / "checkpoints" / "pendulum-swingup" / "replay.mp4").read_bytes()

        with space_app(space, tmp_path / "work", server.url) as url:
            client = Client(url, verbose=False)
            *_, video, status, figures, plot = client.predict(
                "pendulum", "pendulum-swingup", api_name="/watch_system"
            )
            assert Path(video).read_bytes() == replay.read_bytes()  # the bundled replay, served by the Space
            video, status, figures, plot = client.predict(
                "pendulum", "pendulum-swingup", "(none)", 3, 1, 1, 10.0, 1.0, 1.0, api_name="/watch"
            )
            assert open(video, "rb").read(12)[4:8] == b"ftyp" and "return" in status  # played by the Space
