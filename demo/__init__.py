"""The Gradio app: one module per tab (watch, train, agents), assembled by `build_app`."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

TITLE = "rlcore: watch, train and compare RL agents"
log = logging.getLogger(__name__)


def build_app(
    checkpoints_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
    *,
    context=None,
    warm_up: bool = False,
    **limits,
):
    """The app's Blocks. Folders and limits come from `demo.context.AppSettings` (RLCORE_* variables),
    overridden by the arguments, or from a ready `context` (the tests keep a handle on it). With
    `warm_up`, a background thread imports the systems and renders each bundled agent's default episode,
    so the first visitor's Play is served from the cache."""
    import gradio as gr

    from demo import agents, train, watch
    from demo.context import AppContext, AppSettings

    if context is None:
        context = AppContext(
            AppSettings.from_env(checkpoints_dir=checkpoints_dir, work_dir=work_dir, **limits)
        )
    # delete_cache: Gradio copies every served video, zip and upload into its cache;
    # without it they stay forever
    with gr.Blocks(
        title=TITLE, analytics_enabled=False, delete_cache=context.settings.gradio_cache_seconds
    ) as app:
        gr.Markdown(
            f"# {TITLE}\nSuper Mario Bros played by a Double DQN, and TorchRL's differentiable "
            "Pendulum. Watch the bundled agents, train a new one live, or bring your own checkpoint."
        )
        with gr.Tabs():
            watch.build(context)
            train.build(context)
            agents.build(context)
    app.unload(train.stop_when_the_page_closes(context))  # a closed tab's run stops now
    app.queue(default_concurrency_limit=context.settings.render_concurrency)
    if warm_up:
        context.warm_up = threading.Thread(target=_warm_up, args=(context,), name="warm-up", daemon=True)
        context.warm_up.start()
    return app


def serve(warm_up: bool = True) -> None:
    """`python app.py`: the app (settings from RLCORE_* and GRADIO_* variables) until SIGINT or SIGTERM, then
    a clean stop: no new run starts, running training runs save and end (AppContext.close), the server
    closes, and the process exits. A second signal meanwhile ends the process at once (the training
    processes then save and stop by themselves: they watch for their parent's end)."""
    import signal

    from demo.context import AppContext, AppSettings

    context = AppContext(AppSettings.from_env())
    app = build_app(context=context, warm_up=warm_up)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    app.launch(prevent_thread_lock=True, **context.settings.launch_options())
    while not stop.wait(0.5):  # a timed wait: the handlers run on this (the main) thread
        pass
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    began = time.monotonic()
    log.warning("shutting down: training runs save and stop, then the server closes")
    context.close()
    saved = time.monotonic() - began
    app.close(verbose=False)
    log.warning("shut down in %.1f s (training runs ended in %.1f s)", time.monotonic() - began, saved)


def _warm_up(context) -> None:
    """Import the systems, then render the default episode (the Watch tab's first) of each bundled agent into
    the cache."""
    from demo.rendering import RenderClosed
    from demo.ui import EXPECTED_ERRORS
    from rlcore.profile import profile_of
    from rlcore.systems import get_system

    bundled = [agent for agent in context.catalog.local_agents() if agent.source == "bundled"]
    # Quick episodes first: a slow system's (an emulator's) would otherwise keep them from being ready
    # when the first visitors arrive.
    for agent in sorted(bundled, key=lambda agent: profile_of(get_system(agent.system)).slow_to_play):
        try:
            context.renderer.episode(agent.system, agent.path, {})  # its PlayOptions' defaults (the seed too)
        except RenderClosed:  # the app is shutting down
            return
        except EXPECTED_ERRORS as err:  # reported again, readably, if a visitor asks for it
            log.warning("warm-up of %s: %s", agent.ref, err)
