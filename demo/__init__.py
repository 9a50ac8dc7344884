"""The Gradio app: one module per tab (watch, train, agents), assembled by `build_app`."""

from __future__ import annotations

from pathlib import Path

TITLE = "rlcore: watch, train and compare RL agents"


def build_app(checkpoints_dir: str | Path | None = None, work_dir: str | Path | None = None, *,
              context=None, **limits):
    """The app's Blocks. Folders and limits come from `demo.context.AppSettings` (RLCORE_* variables),
    overridden by the arguments, or from a ready `context` (the tests keep a handle on it)."""
    import gradio as gr

    from demo import agents, train, watch
    from demo.context import AppContext, AppSettings

    if context is None:
        context = AppContext(AppSettings.from_env(checkpoints_dir=checkpoints_dir, work_dir=work_dir, **limits))
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\nSuper Mario Bros played by a Double DQN, and TorchRL's differentiable "
                    "Pendulum. Watch the bundled agents, train a new one live, or bring your own checkpoint.")
        with gr.Tabs():
            watch.build(context)
            train.build(context)
            agents.build(context)
    app.queue(default_concurrency_limit=context.settings.render_concurrency)
    return app
