"""Training runs in a child process, one at a time on this machine, with hard caps.

A crash, an out-of-memory kill or a Stop ends only the child. The queue is first come, first served;
each waiting run knows its position. A run is stopped (asked to save and exit, then terminated after a
grace period) when the user presses Stop, when it reaches the wall-clock cap, or when its page stopped
polling (heartbeat), so a closed browser tab does not leave a run going. The machine-wide slot is a
file lock, so two app processes on one machine also take turns.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
# Run states; the last four are final.
WAITING, RUNNING, STOPPING, FINISHED, STOPPED, FAILED, ABANDONED = (
    "waiting", "running", "stopping", "finished", "stopped", "failed", "abandoned")
FINAL_STATES = (FINISHED, STOPPED, FAILED, ABANDONED)
PAGE_WENT_AWAY = "stopped: the page that started it went away"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _train_in_child(system_name: str, config: Mapping[str, Any], out_dir: str, device: str,
                    stop_request, messages) -> None:
    """The child process: run the system's trainer, send each metric record to the parent."""
    try:
        from rlcore.config import from_dict
        from rlcore.systems import get_system

        system = get_system(system_name)
        stop = threading.Event()
        parent = mp.parent_process()

        def watch_parent_and_stop_request():
            while not stop.is_set():
                if stop_request.wait(0.5) or (parent is not None and not parent.is_alive()):
                    stop.set()

        threading.Thread(target=watch_parent_and_stop_request, daemon=True).start()
        train_config = from_dict(system.Config, dict(config), source="training settings")
        for record in system.train(train_config, out_dir, device=device, stop=stop):
            messages.put(("record", dict(record)))
        messages.put(("done", STOPPED if stop.is_set() else FINISHED))
    except BaseException as err:  # reported to the page as one line, never a stack trace
        messages.put(("error", _one_line(err)))
    finally:
        messages.close()
        messages.join_thread()


class Run:
    """One training run's request, state and received metric records (read by the page's generator)."""

    def __init__(self, run_id: int, owner: str, system: str, config: Mapping[str, Any], out_dir: Path,
                 device: str):
        self.id, self.owner, self.system = run_id, owner, system
        self.config, self.out_dir, self.device = dict(config), Path(out_dir), device
        self.state = WAITING
        self.message = ""
        self.records: list[dict[str, Any]] = []
        self.position = 0           # 1-based place among waiting runs; 0 once started
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.last_seen = time.monotonic()
        self.stop_requested = False
        self.stop_reason = "stopped on request"
        self._process = None
        self._stop_event = None
        self._messages = None
        self._stop_sent_at: float | None = None
        self._terminated = False

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.ended_at or time.monotonic()) - self.started_at

    def heartbeat(self) -> None:
        """The page is still watching (called by its polling generator)."""
        self.last_seen = time.monotonic()

    def request_stop(self, reason: str = "stopped on request") -> None:
        self.stop_reason = reason
        self.stop_requested = True


class TrainingQueue:
    def __init__(self, lock_file: Path, max_seconds: float, heartbeat_timeout: float,
                 stop_grace_seconds: float = 30.0):
        self.lock_file = Path(lock_file)
        self.max_seconds = max_seconds
        self.heartbeat_timeout = heartbeat_timeout
        self.stop_grace_seconds = stop_grace_seconds
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: list[Run] = []
        self._active: Run | None = None
        self._runs: dict[int, Run] = {}
        self._machine_lock_fd: int | None = None
        self._scheduler: threading.Thread | None = None
        self._closed = threading.Event()
        self._mp = mp.get_context("spawn")  # a fresh interpreter: no inherited threads, locks or CUDA state

    # ------------------------------------------------------------------------------ API
    def submit(self, owner: str, system: str, config: Mapping[str, Any], out_dir: Path,
               device: str = "auto") -> Run:
        with self._lock:
            run = Run(next(self._ids), owner, system, config, out_dir, device)
            self._runs[run.id] = run
            self._waiting.append(run)
            self._renumber()
            if self._scheduler is None:
                self._scheduler = threading.Thread(target=self._schedule, name="training-queue", daemon=True)
                self._scheduler.start()
        return run

    def unfinished_runs(self) -> list[Run]:
        with self._lock:
            return [r for r in self._runs.values() if not r.done]

    def stop_runs_of(self, owner: str) -> int:
        """Ask every unfinished run of this owner to stop; the number of runs asked."""
        with self._lock:
            runs = [r for r in self._runs.values() if r.owner == owner and not r.done]
        for run in runs:
            run.request_stop()
        return len(runs)

    def shutdown(self) -> None:
        self._closed.set()
        with self._lock:
            runs = list(self._waiting) + ([self._active] if self._active else [])
        for run in runs:
            run.request_stop()
        if self._scheduler is not None:
            self._scheduler.join(timeout=self.stop_grace_seconds + 10)

    # ------------------------------------------------------------------------ scheduler
    def _renumber(self) -> None:
        for i, run in enumerate(self._waiting, start=1):
            run.position = i

    def _schedule(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:  # never let the scheduler die: log and go on
                log.exception("training queue")
            with self._lock:
                idle = self._active is None and not self._waiting
            if self._closed.is_set() and idle:
                return
            time.sleep(POLL_SECONDS)

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            for run in list(self._waiting):
                if run.stop_requested or now - run.last_seen > self.heartbeat_timeout:
                    self._waiting.remove(run)
                    run.state = STOPPED if run.stop_requested else ABANDONED
                    run.message = ("stopped before it started" if run.stop_requested
                                   else "the page stopped waiting for it")
                    run.ended_at = time.monotonic()
            self._renumber()
            if self._active is None and self._waiting and self._take_machine_slot():
                run = self._waiting.pop(0)
                self._renumber()
                self._active = run
                self._start(run)
            active = self._active
        if active is not None:
            self._watch(active, now)

    def _take_machine_slot(self) -> bool:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._machine_lock_fd = fd
        return True

    def _release_machine_slot(self) -> None:
        if self._machine_lock_fd is not None:
            fcntl.flock(self._machine_lock_fd, fcntl.LOCK_UN)
            os.close(self._machine_lock_fd)
            self._machine_lock_fd = None

    def _start(self, run: Run) -> None:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        run._stop_event = self._mp.Event()
        run._messages = self._mp.Queue()
        run._process = self._mp.Process(
            target=_train_in_child, name=f"rlcore-train-{run.id}",
            args=(run.system, run.config, str(run.out_dir), run.device, run._stop_event, run._messages),
            # Not a daemon: trainers may start their own worker processes (Mario's emulators). The child
            # stops itself when this process dies (see _train_in_child), and shutdown() stops it here.
            daemon=False)
        run.state, run.position, run.started_at = RUNNING, 0, time.monotonic()
        run._process.start()
        log.info("training run %d (%s) started in process %s", run.id, run.system, run._process.pid)

    def _drain(self, run: Run) -> None:
        while True:
            try:
                kind, payload = run._messages.get_nowait()
            except (queue.Empty, EOFError, OSError):
                return
            if kind == "record":
                run.records.append(payload)
            elif kind == "done":
                run.state = STOPPED if (payload == STOPPED or run.stop_requested) else FINISHED
            elif kind == "error":
                run.state, run.message = FAILED, payload

    def _watch(self, run: Run, now: float) -> None:
        self._drain(run)
        process = run._process
        if process.is_alive():
            reason = None
            if run.stop_requested:
                reason = run.stop_reason
            elif now - run.last_seen > self.heartbeat_timeout:
                reason = PAGE_WENT_AWAY
            elif now - run.started_at > self.max_seconds:
                reason = f"stopped at the {self.max_seconds:.0f} s time limit"
            if reason and run.state == RUNNING:
                run._stop_sent_at = now
                run.state, run.message = STOPPING, reason
                run._stop_event.set()
            elif run._stop_sent_at is not None and now - run._stop_sent_at > self.stop_grace_seconds:
                log.warning("training run %d did not stop in %.0f s: terminating", run.id, self.stop_grace_seconds)
                run._terminated = True
                process.terminate()
                process.join(5)
                if process.is_alive():
                    process.kill()
            return
        process.join(1)
        self._drain(run)
        if run.state in (RUNNING, STOPPING):  # the child ended without reporting how
            code = process.exitcode
            if run._terminated:
                run.state = STOPPED
                run.message += f" (terminated: it did not save within {self.stop_grace_seconds:.0f} s)"
            elif code and code < 0:
                run.state = FAILED
                run.message = f"the training process was killed (signal {-code}; out of memory?)"
            else:
                run.state = FAILED
                run.message = f"the training process exited with code {code} without finishing"
        if run.state == STOPPED and not run.message:
            run.message = "stopped on request"
        run.ended_at = time.monotonic()
        run._messages.close()
        with self._lock:
            self._active = None
            self._release_machine_slot()
        log.info("training run %d ended: %s %s", run.id, run.state, run.message)
