"""Helpers shared by the app's tests (test_app.py, test_browser.py): a real checkpoint and a launched app."""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

BUNDLED_PENDULUM = Path(__file__).resolve().parent.parent / "checkpoints" / "pendulum-swingup"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pendulum_checkpoints(root: Path) -> Path:
    """A checkpoints folder holding a Pendulum agent: the bundled one when the repo has it, else a
    small one trained here with the real trainer (a few iterations). Built once per `root`."""
    folder = root / "checkpoints"
    agent = folder / "pendulum-swingup"
    if not (agent / "config.json").is_file():
        if (BUNDLED_PENDULUM / "config.json").is_file():
            shutil.copytree(BUNDLED_PENDULUM, agent, dirs_exist_ok=True)
        else:
            from rlcore.systems import get_system

            pendulum = get_system("pendulum")
            partial = folder / ".pendulum-partial"  # hidden from the app until complete
            for _ in pendulum.train(pendulum.Config(iterations=3), partial):
                pass
            partial.rename(agent)
    return folder


@contextlib.contextmanager
def running_app(checkpoints_dir: Path, work_dir: Path, **settings) -> Iterator[tuple[str, object]]:
    """The app launched on a free local port: yields (url, its AppContext); closed afterwards."""
    from demo import build_app
    from demo.context import AppContext, AppSettings

    context = AppContext(AppSettings.from_env(checkpoints_dir=checkpoints_dir, work_dir=work_dir, **settings))
    app = build_app(context=context)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", context
    finally:
        app.close()
        context.close()
