"""The toy bandit (toy_system.py) paced like an emulator run: one record at the end only, a worker process
of its own, and progress(done, doing) in between; its episodes play slowly too (PLAY_PULL_SECONDS a
pull), as a long Mario render. rlcore knows it through RLCORE_SYSTEMS="paced=paced_system"; the Train
tab's start-up, progress and CPU-priority tests and the render-queue tests use it. Its profile is
paced_system_ui.py."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

from toy_system import Bandit, BanditConfig

from rlcore.config import option

WORKER_STARTED = "one worker process started"
PLAY_PULL_SECONDS = 0.4  # wall-clock time each pull of a played episode takes


@dataclasses.dataclass
class PacedConfig(BanditConfig):
    pull_seconds: float = option(0.05, "wall-clock time each pull takes")


class PacedBandit(Bandit):
    name = "paced"
    Config = PacedConfig
    presets = {"tutorial": {}}

    def train(self, config, out_dir, *, resume=False, device="auto", stop=None, progress=None):
        progress = progress or (lambda done, doing: None)
        progress(0, "starting a worker process")
        worker = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"]
        )  # an emulator's stand-in
        try:
            progress(0, WORKER_STARTED)
            time.sleep(1.0)  # the worker's own start-up (an emulator's reset)
            last = None
            for last in super().train(config, out_dir, resume=resume, device=device, stop=stop):
                time.sleep(config.pull_seconds)
                progress(last["step"], "")
            yield last  # the only record: as slow-to-log as a long episode
        finally:
            worker.kill()
            worker.wait()

    def play(self, checkpoint, options=None):
        episode = super().play(checkpoint, options)
        time.sleep(PLAY_PULL_SECONDS * len(episode.frames))
        return episode


SYSTEM = PacedBandit()
