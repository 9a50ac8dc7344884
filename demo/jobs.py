"""One training run in a child process, with hard caps; Gradio's queue decides when a run starts.

Which runs go and which wait is Gradio's queue (the Train tab's event has concurrency_id="training"
and concurrency_limit=AppSettings.max_concurrent_runs). This module owns what Gradio cannot: the child
process, so a crash, an out-of-memory kill or a Stop ends only the child; and a supervisor thread per
run that asks the child to save and exit (then terminates it after a grace period) on Stop, at the
wall-clock cap, or when the page stopped polling (heartbeat: the backstop to the page's `finally`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
WAITING_FORGOTTEN_SECONDS = 24 * 3600
PROGRESS_SECONDS = 0.5  # the child sends the trainer's progress at most this often
TRAINING_NICE = 10  # the training process and its workers run this much below the app (CPU priority)
# Replays first: while the app plays an episode for a visitor, training runs are paused (SIGSTOP to their
# process group): a niced run still shares the two cores' caches and memory with the replay (measured: a
# first Mario video 4.6 s alone, 5.5 s beside a niced run). Never longer than this at a time.
MAX_PAUSE_SECONDS = 60.0
# A run is paused only while it has at least this much pause credit (RunLimits.max_pause_share): a burst
# of replays pauses it in a few longer pieces, not in stops and starts.
MIN_PAUSE_SECONDS = 1.0
# What a run is doing before its trainer says (the Train tab shows it beside "0 / N")
STARTING = "starting the training process"
LOADING = "loading the trainer (importing PyTorch and the system's code)"
# Run states; the last three are final.
RUNNING, STOPPING, FINISHED, STOPPED, FAILED = "running", "stopping", "finished", "stopped", "failed"
FINAL_STATES = (FINISHED, STOPPED, FAILED)
PAGE_WENT_AWAY = "stopped: the page that started it went away"
SHUT_DOWN = "stopped: the app is shutting down"
SHUTTING_DOWN = "the app is shutting down: no new run starts (try again when it is back)"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def lower_priority(increment: int) -> None:
    """Nice this process (and so the worker processes it starts, which inherit it) below the app's own,
    so the app's replays keep their CPU while a run trains on the same cores."""
    if hasattr(os, "nice"):
        os.nice(increment)


class ProgressSender:
    """The trainer's progress(done, doing) callback in the child: sent to the parent at most every
    PROGRESS_SECONDS, at once when what it is doing changes."""

    def __init__(self, messages):
        self.messages, self.sent_at, self.sent, self.latest = messages, -math.inf, None, None

    def __call__(self, done: int | None, doing: str = "") -> None:
        self.latest = (done, doing)
        if self.sent is None or doing != self.sent[1] or time.monotonic() - self.sent_at >= PROGRESS_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Send the latest progress now (at the end: the final count, not the last one sent)."""
        if self.latest is not None and self.latest != self.sent:
            self.messages.put(("progress", self.latest))
            self.sent_at, self.sent = time.monotonic(), self.latest


def _train_in_child(
    system_name: str, config: Mapping[str, Any], out_dir: str, device: str, stop_request, messages
) -> None:
    """The child process: run the system's trainer, send each metric record to the parent."""
    try:
        if hasattr(os, "setpgid"):
            os.setpgid(0, 0)  # a process group of its own (its workers join it): the app pauses it as one
        lower_priority(TRAINING_NICE)
        progress = ProgressSender(messages)
        progress(None, LOADING)
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
        for record in system.train(train_config, out_dir, device=device, stop=stop, progress=progress):
            messages.put(("record", dict(record)))
        progress.flush()
        messages.put(("done", STOPPED if stop.is_set() else FINISHED))
    except BaseException as err:  # reported to the page as one line, never a stack trace
        messages.put(("error", _one_line(err)))
    finally:
        messages.close()
        messages.join_thread()


@dataclasses.dataclass(frozen=True)
class RunLimits:
    max_seconds: float
    """Wall-clock cap: the run is asked to stop after this long."""
    heartbeat_timeout: float
    """A run whose page stopped polling for this long is asked to stop."""
    stop_grace_seconds: float = 30.0
    """After a stop request, how long the child may take to save before it is terminated."""
    max_pause_share: float = 0.25
    """Pauses for replays are paid from a credit that grows by this much per second of the run's wall time
    and shrinks by one per second paused, whatever the request rate: the cap's clock (wall time less the
    pauses) runs at least 1 - share as fast as the wall clock, beyond the credit banked."""
    max_pause_bank: float = 10.0
    """The most credit a run holds (it starts with it): no pause lasts longer than bank / (1 - share)
    (13 s), and a run holds its training slot at most (max_seconds + bank) / (1 - share)."""


class Run:
    """One training run's child process, state and received metric records (read by the page's generator)."""

    def __init__(
        self,
        run_id: int,
        owner: str,
        system: str,
        config: Mapping[str, Any],
        out_dir: Path,
        device: str,
        limits: RunLimits,
    ):
        self.id, self.owner, self.system = run_id, owner, system
        self.config, self.out_dir, self.device, self.limits = dict(config), Path(out_dir), device, limits
        self.state = RUNNING
        self.message = ""
        self.records: list[dict[str, Any]] = []
        self.progress: int | None = None  # budget units done, from the trainer between records
        self.doing = STARTING  # what the trainer says it is doing ("" once it simply trains)
        self.started_at = self.last_seen = time.monotonic()
        self.ended_at: float | None = None
        self.stop_requested = False
        self.stop_reason = "stopped on request"
        self._process = None
        self._stop_event = None
        self._messages = None
        self._stop_sent_at: float | None = None  # training_seconds when asked to stop: the grace skips pauses
        self._terminated = False
        self.paused_seconds = 0.0  # paused for replays (not counted by the time cap)
        self._paused_at: float | None = None
        self._pause_credit, self._credit_at = limits.max_pause_bank, time.monotonic()  # see RunLimits
        self._pause_lock = threading.Lock()  # render threads pause and resume; the supervisor resumes

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def elapsed(self) -> float:
        return (self.ended_at or time.monotonic()) - self.started_at

    def heartbeat(self) -> None:
        """The page is still watching (called by its polling generator)."""
        self.last_seen = time.monotonic()

    @property
    def paused_total(self) -> float:
        """Seconds paused for replays so far, the pause going now included."""
        with self._pause_lock:
            paused_now = time.monotonic() - self._paused_at if self._paused_at is not None else 0.0
            return self.paused_seconds + paused_now

    @property
    def training_seconds(self) -> float:
        """Wall-clock time it has run, less the time it was paused for replays (what the time cap counts);
        the pauses are bounded by their credit (RunLimits.max_pause_share and max_pause_bank)."""
        return self.elapsed - self.paused_total

    def _settle_credit(self) -> float:
        """The pause credit now (under _pause_lock): + share a second, - 1 a second paused, at most bank."""
        now = time.monotonic()
        rate = self.limits.max_pause_share - (1.0 if self._paused_at is not None else 0.0)
        credit = self._pause_credit + rate * (now - self._credit_at)
        self._pause_credit = min(credit, self.limits.max_pause_bank)
        self._credit_at = now
        return self._pause_credit

    def end_pause_without_credit(self) -> None:
        """The supervisor's check: a pause whose credit is spent ends, whatever replays are still playing."""
        with self._pause_lock:
            spent = self._paused_at is not None and self._settle_credit() <= 0
        if spent:
            self.resume()

    def pause(self) -> bool:
        """Stop the child and its workers (SIGSTOP to its process group) while a replay plays; whether it did.
        Only a group the child leads: never the app's own. Never a run asked to stop: it is saving. Never
        a run with under MIN_PAUSE_SECONDS of pause credit."""
        with self._pause_lock:
            if (
                self._paused_at is not None
                or self.state != RUNNING
                or self.stop_requested
                or self._settle_credit() < MIN_PAUSE_SECONDS
                or not self._signal_group(signal.SIGSTOP)
            ):
                return False
            self._paused_at = time.monotonic()
            return True

    def resume(self) -> None:
        with self._pause_lock:
            if self._paused_at is not None:
                self._settle_credit()
                self._signal_group(signal.SIGCONT)
                self.paused_seconds += time.monotonic() - self._paused_at
                self._paused_at = None

    def _signal_group(self, sig: int) -> bool:
        pid = self._process.pid if self._process is not None else None
        try:
            if pid is None or not hasattr(os, "killpg") or os.getpgid(pid) != pid:
                return False  # not started yet, or not yet in its own group
            os.killpg(pid, sig)
            return True
        except ProcessLookupError:  # it ended
            return False

    def request_stop(self, reason: str = "stopped on request") -> None:
        self.stop_reason = reason
        self.stop_requested = True

    def start(self, mp_context) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._stop_event = mp_context.Event()
        self._messages = mp_context.Queue()
        self._process = mp_context.Process(
            target=_train_in_child,
            name=f"rlcore-train-{self.id}",
            args=(self.system, self.config, str(self.out_dir), self.device, self._stop_event, self._messages),
            # Not a daemon: trainers may start their own worker processes (Mario's emulators). The child
            # stops itself when this process dies (see _train_in_child), and shutdown() stops it here.
            daemon=False,
        )
        self.started_at = self.last_seen = time.monotonic()
        self._process.start()
        log.info("training run %d (%s) started in process %s", self.id, self.system, self._process.pid)

    def supervise(self) -> None:
        """Until the child ends: collect its records, and stop it on request, at the cap or when unwatched."""
        while self._process.is_alive():
            self._drain()
            self.end_pause_without_credit()
            self._stop_if_due(time.monotonic())
            time.sleep(POLL_SECONDS)
        self._process.join(1)
        self._drain()
        self._record_the_end()

    def _drain(self) -> None:
        while True:
            try:
                kind, payload = self._messages.get_nowait()
            except (queue.Empty, EOFError, OSError):
                return
            if kind == "record":
                self.records.append(payload)
                self.doing = "" if self.doing in (STARTING, LOADING) else self.doing  # it trains
            elif kind == "progress":
                done, self.doing = payload
                self.progress = done if done is not None else self.progress
            elif kind == "done":
                self.state = STOPPED if (payload == STOPPED or self.stop_requested) else FINISHED
            elif kind == "error":
                self.state, self.message = FAILED, payload

    def _stop_if_due(self, now: float) -> None:
        reason = None
        if self.stop_requested:
            reason = self.stop_reason
        elif now - self.last_seen > self.limits.heartbeat_timeout:
            reason = PAGE_WENT_AWAY
        elif self.training_seconds > self.limits.max_seconds:
            reason = f"stopped at the {self.limits.max_seconds:.0f} s time limit"
        if reason and self.state == RUNNING:
            with self._pause_lock:  # from here on no replay pauses it (pause() checks the state)
                self.state, self.message = STOPPING, reason
            self.resume()  # a run stopped during a replay saves now, not when the replays end
            self._stop_sent_at = self.training_seconds
            self._stop_event.set()
        elif (
            self._stop_sent_at is not None
            and self.training_seconds - self._stop_sent_at > self.limits.stop_grace_seconds
        ):
            self.resume()  # a stopped process would not act on SIGTERM
            log.warning(
                "training run %d did not stop in %.0f s: terminating", self.id, self.limits.stop_grace_seconds
            )
            self._terminated = True
            self._process.terminate()
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()

    def _record_the_end(self) -> None:
        if self.state in (RUNNING, STOPPING):  # the child ended without reporting how
            code = self._process.exitcode
            if self._terminated:
                self.state = STOPPED
                self.message += (
                    f" (terminated: it did not save within {self.limits.stop_grace_seconds:.0f} s)"
                )
            elif code and code < 0:
                self.state = FAILED
                self.message = f"the training process was killed (signal {-code}; out of memory?)"
            else:
                self.state = FAILED
                self.message = f"the training process exited with code {code} without finishing"
        if self.state == STOPPED and not self.message:
            self.message = "stopped on request"
        self.ended_at = time.monotonic()
        self._messages.close()
        log.info("training run %d ended: %s %s", self.id, self.state, self.message)


class TrainingRuns:
    """The runs this app started: for Stop, the one-run-per-visitor rule and shutdown."""

    def __init__(self, limits: RunLimits):
        self.limits = limits
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._runs: dict[int, Run] = {}
        self._supervisors: list[threading.Thread] = []
        self._waiting: dict[str, float] = {}  # owner -> when its Start was queued (Gradio holds the place)
        self._mp = mp.get_context("spawn")  # a fresh interpreter: no inherited threads, locks or CUDA state
        self._replays = 0  # replays playing now (replays_first)
        self._pause_timer: threading.Timer | None = None
        self.closed = False  # shutdown() began: no run starts any more

    def start(
        self, owner: str, system: str, config: Mapping[str, Any], out_dir: Path, device: str = "auto"
    ) -> Run:
        """Start the run's child process now (Gradio's queue already gave it its turn); ValueError once
        the app is shutting down."""
        with self._lock:
            if self.closed:
                raise ValueError(SHUTTING_DOWN)
            run = Run(next(self._ids), owner, system, config, out_dir, device, self.limits)
            self._runs[run.id] = run
        run.start(self._mp)
        supervisor = threading.Thread(target=run.supervise, name=f"training-run-{run.id}", daemon=True)
        supervisor.start()
        with self._lock:
            self._supervisors = [t for t in self._supervisors if t.is_alive()] + [supervisor]
        return run

    def mark_waiting(self, owner: str) -> None:
        """The owner's Start passed its checks and waits in Gradio's queue (a page may close while waiting,
        so marks older than WAITING_FORGOTTEN_SECONDS are dropped)."""
        now = time.monotonic()
        with self._lock:
            self._waiting = {o: t for o, t in self._waiting.items() if now - t < WAITING_FORGOTTEN_SECONDS}
            self._waiting[owner] = now

    def is_waiting(self, owner: str) -> bool:
        with self._lock:
            return owner in self._waiting

    def stop_waiting(self, owner: str) -> bool:
        """The owner's turn came or it left the queue; whether it was waiting."""
        with self._lock:
            return self._waiting.pop(owner, None) is not None

    def unfinished_runs(self) -> list[Run]:
        with self._lock:
            return [r for r in self._runs.values() if not r.done]

    @contextlib.contextmanager
    def replays_first(self):
        """While inside (a replay being played), every running training run is paused; the last replay to
        finish resumes them. A pause never lasts longer than MAX_PAUSE_SECONDS (a timer resumes them)."""
        with self._lock:
            self._replays += 1
            if self._replays == 1:
                paused = [run for run in self._runs.values() if not run.done and run.pause()]
                if paused:
                    self._pause_timer = threading.Timer(MAX_PAUSE_SECONDS, self._resume_all)
                    self._pause_timer.daemon = True
                    self._pause_timer.start()
        try:
            yield
        finally:
            with self._lock:
                self._replays -= 1
                last = self._replays == 0
            if last:
                self._resume_all()

    def _resume_all(self) -> None:
        with self._lock:
            runs, timer, self._pause_timer = list(self._runs.values()), self._pause_timer, None
        if timer is not None:
            timer.cancel()
        for run in runs:
            run.resume()

    def stop_runs_of(self, owner: str) -> int:
        """Ask every unfinished run of this owner to stop; the number of runs asked."""
        runs = [r for r in self.unfinished_runs() if r.owner == owner]
        for run in runs:
            run.request_stop()
        return len(runs)

    def shutdown(self) -> None:
        """Refuse new runs, ask every unfinished run to save and stop, and wait until they ended: each run
        saves within its grace (RunLimits.stop_grace_seconds) or is terminated."""
        with self._lock:
            self.closed = True
        self._resume_all()
        for run in self.unfinished_runs():
            run.request_stop(SHUT_DOWN)
        with self._lock:
            supervisors = list(self._supervisors)
        for supervisor in supervisors:
            supervisor.join(timeout=self.limits.stop_grace_seconds + 10)
