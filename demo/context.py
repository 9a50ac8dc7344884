"""What one running app owns: its settings (folders, limits) and the services built from them.

Everything mutable lives in an `AppContext` made by `build_app`, never at module level, so two apps
in one process (the tests) do not share caches, queues or counters.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEMO_DIR.parent
ENV_PREFIX = "RLCORE_"


def _check_namespace(namespace: str | None) -> str | None:
    """A push namespace is one Hub user or organisation name (the app adds the repo's name to it)."""
    from rlcore.hub import repo_id_problem

    if namespace is not None and ("/" in namespace or repo_id_problem(f"{namespace}/x") is not None):
        raise ValueError("expected one Hub user or organisation name (letters, digits, '-', '_', '.')")
    return namespace


def _settings_error(err: ValidationError) -> ValueError:
    """A pydantic refusal as one line naming the variable: RLCORE_MAX_UPLOAD_MB='abc': ..."""
    first = err.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "?"
    variable = name if name.startswith(ENV_PREFIX) else ENV_PREFIX + name.upper()
    detail = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    return ValueError(f"{variable}={repr(first['input'])[:100]}: {detail}")


class AppSettings(BaseSettings):
    """Folders and the limits that keep a public Space up, each overridable by an RLCORE_* variable
    (RLCORE_MAX_UPLOAD_MB for max_upload_mb; the two folders: RLCORE_CHECKPOINTS and RLCORE_APP_DIR);
    an empty variable counts as unset. Build it with `from_env` (its errors are one line)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, validate_by_name=True, extra="forbid"
    )

    checkpoints_dir: Path = Field(REPO_ROOT / "checkpoints", validation_alias="RLCORE_CHECKPOINTS")
    """The bundled agents (one folder per checkpoint)."""
    work_dir: Path = Field(Path(tempfile.gettempdir()) / "rlcore-app", validation_alias="RLCORE_APP_DIR")
    """Rendered videos, training runs, uploads and downloads (under the temp dir, so Gradio serves them)."""
    max_upload_mb: float = 64.0
    """Uploads larger than this in total are refused (the Mario network is about 7 MB)."""
    max_train_seconds: float = 600.0
    """Hard wall-clock cap of one training run; the run is asked to stop, then killed."""
    max_concurrent_runs: int = 1
    """Training runs at once (Gradio's queue holds the rest, first come first served);
    1 suits a 2-core CPU."""
    heartbeat_timeout: float = 30.0
    """A run whose page stopped polling for this long is stopped: the backstop for a client without Gradio's
    heartbeat connection (a closed tab's run is stopped at once through Blocks.unload, demo/train.py)."""
    stop_grace_seconds: float = 30.0
    """After a stop request, how long a run may take to save before it is terminated."""
    render_concurrency: int = 2
    """Episodes rendered at once (the renderer's slots; at most 8 more wait); 2 suits a 2-core CPU."""
    max_cached_videos: int = 500
    """Rendered episodes kept in the video cache (least recently served ones go first)."""
    max_kept_runs: int = 20
    """Training runs (and their download zips) kept; older ones are deleted when a new run starts."""
    max_kept_uploads: int = 50
    """Uploaded agents kept; older ones are deleted when a new one is added."""
    hub_endpoint: str | None = None
    """The Hub to list and pull agents from (None: huggingface_hub's, i.e. HF_ENDPOINT or huggingface.co)."""
    hub_cache_dir: Path | None = None
    """Where pulled agents are cached (None: work_dir/hub, the app's own, pruned to max_kept_hub_repos)."""
    max_hub_mb: float = 64.0
    """A Hub agent whose files (weights, config, card, plots, video) add up to more
    is refused before download."""
    max_kept_hub_repos: int = 20
    """Hub repos kept in the app's cache (least recently used ones go first): at most 20 x max_hub_mb."""
    gradio_cache_seconds: tuple[int, int] = (3600, 3600)
    """Gradio's copies of served videos, zips and uploads: every first seconds, delete those older
    than the second (gr.Blocks(delete_cache=...))."""
    max_served_copies: int = 200
    """Gradio's copies of served files (GRADIO_TEMP_DIR) kept after each render, the most recently served
    first (besides the deletion by age above); copies served in the last served_copies_min_age s stay."""
    max_served_mb: float = 2048.0
    """The most Gradio's copies of served files may take in all after each render (the same pruning)."""
    served_copies_min_age: float = 60.0
    """Copies served this recently are never pruned (a visitor's page may be fetching them)."""
    hub_push_namespace: str | None = None
    """The Hub user or organisation the Train tab pushes runs to (RLCORE_HUB_PUSH_NAMESPACE), each into a
    new repo made for that run; None: the tab never pushes. The Space's token must be able to write there."""
    pause_training_for_replays: bool = True
    """Pause training runs while an episode is played for a visitor (demo/jobs.py: replays first); set
    RLCORE_PAUSE_TRAINING_FOR_REPLAYS=0 to let them train through replays."""
    allow_local_paths: bool = Field(default_factory=lambda: not os.environ.get("SPACE_ID"))
    """Whether a visitor may name any folder of the server as a checkpoint. Off on a Hugging Face Space
    (SPACE_ID is set there): a public visitor should not probe the server's files."""

    @field_validator("hub_push_namespace", mode="before")
    @classmethod
    def _one_namespace(cls, value: str | None) -> str | None:
        return _check_namespace(value.strip() or None if isinstance(value, str) else value)

    @field_validator("checkpoints_dir", "work_dir")
    @classmethod
    def _resolved(cls, value: Path) -> Path:
        return value.resolve()

    @classmethod
    def from_env(cls, **overrides) -> "AppSettings":
        """Defaults, then the RLCORE_* variables, then `overrides` (None ones ignored); a bad value is a
        one-line ValueError naming its variable."""
        try:
            return cls(**{key: value for key, value in overrides.items() if value is not None})
        except ValidationError as err:
            raise _settings_error(err) from None

    def launch_options(self) -> dict:
        """What `Blocks.launch` needs for this app: files under work_dir served wherever it is
        (RLCORE_APP_DIR may lie outside the temp dir and the working directory), and Gradio refusing
        larger uploads before they reach the handler (which states the exact limit); the app's styles
        and favicon."""
        return {
            "allowed_paths": [str(self.work_dir)],
            "max_file_size": f"{int(self.max_upload_mb) + 1}mb",
            "css_paths": [str(DEMO_DIR / "app.css")],
            "favicon_path": str(DEMO_DIR / "favicon.png"),
        }

    @property
    def cache_dir(self) -> Path:
        return self.work_dir / "videos"

    @property
    def runs_dir(self) -> Path:
        return self.work_dir / "runs"

    @property
    def uploads_dir(self) -> Path:
        return self.work_dir / "uploads"

    @property
    def downloads_dir(self) -> Path:
        return self.work_dir / "downloads"

    @property
    def hub_dir(self) -> Path:
        return self.hub_cache_dir or self.work_dir / "hub"


class AppContext:
    """The settings plus the app's services: the agent catalog, the episode renderer, the training runs."""

    def __init__(self, settings: AppSettings):
        from demo.catalog import Catalog
        from demo.jobs import RunLimits, TrainingRuns
        from demo.rendering import Renderer
        from demo.uploads import prune_stale_staging

        self.settings = settings
        for folder in (
            settings.cache_dir,
            settings.runs_dir,
            settings.uploads_dir,
            settings.downloads_dir,
            settings.hub_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        prune_stale_staging(settings.uploads_dir)
        self.catalog = Catalog(settings)
        self.training = TrainingRuns(
            RunLimits(
                max_seconds=settings.max_train_seconds,
                heartbeat_timeout=settings.heartbeat_timeout,
                stop_grace_seconds=settings.stop_grace_seconds,
            )
        )
        self.warm_up: threading.Thread | None = None  # build_app(warm_up=True)'s thread
        self.renderer = Renderer(
            settings.cache_dir,
            max_entries=settings.max_cached_videos,
            slots=settings.render_concurrency,
            while_playing=self.training.replays_first if settings.pause_training_for_replays else None,
            after_store=self.prune_served_copies,
        )

    def prune_served_copies(self) -> int:
        """Bound Gradio's copies of served files (after each render: videos, and the zips and uploads that
        come with renders) to max_served_copies and max_served_mb; how many were deleted."""
        from gradio.utils import get_upload_folder

        from demo.housekeeping import prune_served_copies

        settings = self.settings
        return prune_served_copies(
            Path(get_upload_folder()),
            settings.max_served_copies,
            settings.max_served_mb * 1e6,
            settings.served_copies_min_age,
        )

    def close(self, render_timeout: float = 10.0) -> None:
        """Stop: no new run starts, running runs save and end, episodes being played stop at their next frame and
        the warm-up ends (`python app.py` calls it on SIGINT/SIGTERM)."""
        self.training.shutdown()
        self.renderer.close(render_timeout)
        if self.warm_up is not None:
            self.warm_up.join(render_timeout)
