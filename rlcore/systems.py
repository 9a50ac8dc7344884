"""The System contract: what the command line, the Hub code, the model card and the app know of a system.

A system (Mario, Pendulum, or one a user adds) is a `System` subclass whose instance its module
exposes as `SYSTEM`. The generic layers (rlcore/cli.py, hub.py, modelcard.py, checkpoint.py, demo/)
use only what is declared here and never ask which system they hold.

    class Bandit(System):
        name = "bandit"                       # config.json's "system", the CLI's `rlcore train bandit`
        algorithm = "REINFORCE"               # config.json, the model card
        env_id = "TwoArmedBandit-v0"          # the Hub's model-index dataset
        blurb = "a policy that ..."           # the model card's first sentence
        Config = BanditConfig                 # dataclass, every field made with rlcore.config.option
        PlayOptions = BanditPlayOptions       # dataclass of what a viewer may change when playing
        presets = {"tutorial": {}}            # named overrides of Config's defaults
        budget = Budget("episodes", "episode", "episode")  # the Config field bounding a run, the record key
                                                           # counting it, and that count's name on plot axes
        metrics = ("reward",)                 # the record keys worth plotting (`rlcore curves`, the app)
        task_fields = ()                      # Config fields that set the task (Mario: world, stage)
        figures = (Figure("best_arm_rate", "best arm rate", fmt=".0%"),)  # its own results.json figures

        evaluation_options = {}               # evaluate's protocol options with their help (Mario: sticky)
        export_file = None                    # a file name when the system has an outside format (agent.pt)

        def train(self, config, out_dir, *, resume=False, device="auto", stop=None, progress=None): ...
        def load(self, checkpoint, device="cpu"): ...
        def evaluate(self, checkpoint, episodes=10, seed=0, *, progress=None, **options): ...
        def play(self, checkpoint, options=None): ...
        def play_streamed(self, checkpoint, options, sink): ...  # optional: play's frames to sink as they are made
        def play_note(self, config, options): ...   # optional: "level 1-2, never seen (trained on 1-1)"
        def trained_budget(self, checkpoint): ...   # optional: the budget a checkpoint was trained for

        generalisation = GeneralisationMap(...)   # optional: the grid of play options `rlcore map` plays
        def trained_on(self, config, options): ...  # optional: whether options play what the agent trained on
        def task_text(self, config): ...           # optional: the task trained on in a few words ("1-1")
        def map_episode(self, agent, options): ...  # optional: one episode's summary without frames (fast)
        def practice(self, config, summary): ...    # optional: where a run from an agent practises (Practice)

A system whose Config has an `init_from` field (a checkpoint folder whose weights a run starts from)
can fine-tune: `rlcore.resolve.resolve_config(system, init=checkpoint, overrides={"stage": 2})` is that run's
config (`rlcore train --init`, the Train tab's "Start from").

How the app shows a system (its label, widgets, the Train tab's caps) is not part of this contract: it is
the system's presentation profile (rlcore/profile.py), the PROFILE of a `ui` module beside its module.

Systems are found by name: the built-in ones, the "rlcore.systems" entry points of installed packages
(`[project.entry-points."rlcore.systems"]` in their pyproject.toml: name = "module"), the
RLCORE_SYSTEMS environment variable ("name=module[,name=module]", for a module not installed as a
package) and `register_system(name, module)`, so a system can be added without editing rlcore. Modules
are imported only when their system is used (Mario's imports the emulator).
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
import functools
import importlib
import importlib.metadata
import math
import os
import statistics
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

# The same as rlcore's own entry points (pyproject.toml): kept for a source tree run uninstalled (a Space)
BUILTIN_SYSTEMS = {"pendulum": "rlcore.pendulum.api", "mario": "rlcore.mario.api"}
ENTRY_POINT_GROUP = "rlcore.systems"
SYSTEMS_VARIABLE = "RLCORE_SYSTEMS"
_registered: dict[str, str] = {}

# The figures every results.json has (the results schema's common core), besides the system's own.
RESULTS_CORE = ("mean_reward", "std_reward", "n_eval_episodes", "protocol", "date")


@dataclasses.dataclass
class Episode:
    """One played episode: frames (H, W, 3) uint8, summary figures, a per-step trace, and `series`: named
    per-step figures of what the agent computed, for plots beside the trace (label -> one number per step:
    Mario's "max Q", the Pendulum's "torque"); the app draws them without knowing the system."""

    frames: list[np.ndarray]
    summary: dict[str, Any]
    trace: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    fps: int = 30
    series: dict[str, list[float]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Figure:
    """One evaluated figure of a results.json, with its label for model cards and tables.

    `key` is the scalar in results.json; when absent, the figure is the mean of `per_episode` (a list
    of numbers in results.json, or a key of each entry of its "episodes" list). `metric` is its
    model-index metric type on the Hub ("": shown in the card's table and app tables only)."""

    key: str
    label: str
    metric: str = ""
    per_episode: str = ""
    fmt: str = ".4g"  # how tables show it (".0%": a rate)
    interval: str = ""  # results.json's [low, high] 95% interval of it, shown beside it in cards
    other_protocols: tuple[tuple[str, str], ...] = ()  # (protocol name prefix, table label): also shown for
    # that protocol's results (results.json "protocols")

    def value(self, results: Mapping[str, Any]) -> float | None:
        scalar = results.get(self.key)
        if _is_number(scalar):
            return _finite(float(scalar))
        values = results.get(self.per_episode) if self.per_episode else None
        if not isinstance(values, list):
            episodes = results.get("episodes")
            values = (
                [e.get(self.per_episode) for e in episodes if isinstance(e, dict)]
                if self.per_episode and isinstance(episodes, list)
                else None
            )
        numbers = [float(v) for v in values or [] if _is_number(v)]
        return _finite(statistics.fmean(numbers)) if numbers else None

    def text(self, value: float, results: Mapping[str, Any] | None = None) -> str:
        """The value as tables show it; with `results`, its 95% interval beside it when they hold one."""
        bounds = (results or {}).get(self.interval) if self.interval else None
        if isinstance(bounds, list) and len(bounds) == 2:
            low, high = (format(bound, self.fmt) for bound in bounds)
            return f"{format(value, self.fmt)} (95% CI {low}-{high})"
        return format(value, self.fmt)

    def hub_value(self, value: float) -> float:
        """The model-index value: a rate to 3 decimals, others as shown."""
        return round(value, 3) if self.fmt.endswith("%") else float(format(value, self.fmt))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _task_value(value: Any) -> str:
    """A task value as a person writes it: 10.0 -> "10", 1-based choices as they are."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def finite_number(value: Any) -> Any:
    """`value` when it is a finite number (not a bool), else None: what tables take from a results.json."""
    return value if _is_number(value) and math.isfinite(value) else None


FrameSink = Callable[[Iterable[np.ndarray], int], Any]
"""play_streamed's `sink(frames, fps)`: takes an episode's frames as an iterator that plays the episode as it
is read, one frame at a time (`lambda frames, fps: rlcore.video.write_mp4(path, frames, fps=fps)`)."""

TrainingProgress = Callable[[int | None, str], None]
"""train's `progress(done, doing)`: the budget units done so far (what `Budget.record_key` counts; None
while not known yet) and a few words on what the trainer is doing ("" once it is simply training). Called
between metric records, as often as is cheap (callers throttle it), so a slow-to-log run shows it moves."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """What bounds a training run: a Config field, the metric-record key that counts towards it, and what
    one count of it is called on plot axes ("iteration", "agent step")."""

    field: str
    record_key: str = "step"
    unit: str = "step"


@dataclasses.dataclass(frozen=True)
class Practice:
    """Where a run that starts from a trained agent practises (System.practice): the Config changes that
    start its training episodes there, the PlayOptions values of an episode that starts at the same spot
    (for the before/after), and a sentence saying where and why."""

    config: Mapping[str, Any]
    play: Mapping[str, Any]
    note: str


@dataclasses.dataclass(frozen=True)
class MapAxis:
    """One axis of a generalisation map: a PlayOptions field and the values it takes."""

    field: str
    label: str
    values: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class GeneralisationMap:
    """What a system's generalisation map spans (rows x columns of play options, one greedy episode per cell,
    all on one seed) and how the app colours a cell (rlcore/genmap.py plays it)."""

    rows: MapAxis
    columns: MapAxis
    colour: str  # the episode-summary figure that colours a cell
    colour_label: str
    colour_range: tuple[float, float]  # figure values at the two ends of the colour scale
    mark: str = ""  # a yes/no summary figure marked in the cell (flag reached, swung up)
    mark_label: str = ""
    step_field: str = ""  # the PlayOptions field that caps an episode's steps


class System(abc.ABC):
    """One reinforcement-learning system behind the generic layers (see the module docstring)."""

    name: ClassVar[str]
    algorithm: ClassVar[str]
    env_id: ClassVar[str]
    blurb: ClassVar[str]
    Config: ClassVar[type]
    PlayOptions: ClassVar[type]
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {"tutorial": {}}
    budget: ClassVar[Budget]
    metrics: ClassVar[tuple[str, ...]] = ()  # the record keys worth plotting (`rlcore curves`, live plots)
    # The Config fields that set the task (the level, the physics), each also a PlayOptions field: what a run
    # from an agent keeps or changes, and what its before/after plays
    task_fields: ClassVar[tuple[str, ...]] = ()
    figures: ClassVar[tuple[Figure, ...]] = ()
    evaluation_options: ClassVar[Mapping[str, str]] = {}  # evaluate's protocol options -> help (CLI flags)
    export_file: ClassVar[str | None] = None  # the file `export` writes (an outside format), None: no export
    generalisation: ClassVar[GeneralisationMap | None] = None  # the grid `rlcore map` plays; None: no map

    fine_tune: ClassVar[
        Mapping[str, Any]
    ] = {}  # Config changes of every run that starts from trained weights

    @abc.abstractmethod
    def train(
        self,
        config: Any,
        out_dir: str | os.PathLike,
        *,
        resume: bool = False,
        device: str = "auto",
        stop: threading.Event | None = None,
        progress: TrainingProgress | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Train, yielding one flat metric record per log interval, and keep `out_dir` a valid, resumable
        checkpoint; `stop` set: save and return. resume=True continues from out_dir's training state.
        `progress` (TrainingProgress): a system whose records come seconds apart calls it in between."""

    @abc.abstractmethod
    def load(self, checkpoint: str | os.PathLike, device: str = "cpu") -> Any:
        """The agent of a checkpoint folder (rlcore.checkpoint rules: safetensors only, checked shapes)."""

    @abc.abstractmethod
    def evaluate(
        self,
        checkpoint: str | os.PathLike,
        episodes: int = 10,
        seed: int = 0,
        *,
        progress: Callable[[int], None] | None = None,
        **options: float,
    ) -> dict[str, Any]:
        """The results.json document (rlcore/evaluation.py): RESULTS_CORE (see `results_document`), seeds,
        per-episode figures, then the system's figures. `options`: its `evaluation_options` (the protocol);
        `progress(n)` is called as episodes finish."""

    @abc.abstractmethod
    def play(self, checkpoint: Any, options: Any = None) -> Episode:
        """One episode: RGB frames for rlcore.video.write_mp4, its summary figures and per-step trace."""

    def play_streamed(self, checkpoint: Any, options: Any, sink: FrameSink) -> Episode:
        """play()'s episode with its frames streamed, not kept: `sink(frames, fps)` is called once with an
        iterator that plays the episode as the sink reads it, so a render holds the frame being made, not the
        episode's. Returns the Episode without frames (`frames` empty): its summary, trace and series. By
        default play()'s frames, all made first: a system overrides it to stream them."""
        episode = self.play(checkpoint, options)
        sink(iter(episode.frames), episode.fps)
        return dataclasses.replace(episode, frames=[])

    def play_note(self, config: Any, options: Any) -> str:
        """One sentence for the Watch status: what an episode with `options` (PlayOptions) plays against what
        the agent (its `config`) was trained on, saying plainly when it never saw it ("": nothing to say)."""
        return ""

    def trained_on(self, config: Any, options: Any) -> bool | None:
        """Whether an episode with `options` plays what the agent (its `config`) was trained on
        (None: unknown)."""
        return None

    def map_episode(self, agent: Any, options: Any) -> dict[str, Any]:
        """The summary figures of one episode of a loaded agent (`load`) for the generalisation map. By
        default play()'s summary; a system whose frames are costly plays the same episode without them."""
        return self.play(agent, options).summary

    def trained_budget(self, checkpoint: str | os.PathLike) -> int | None:
        """How much training (in `budget` units: agent steps, iterations)
        the checkpoint had; None: unknown."""
        return None

    def playthrough(
        self, checkpoints: Sequence[str | os.PathLike], sink: FrameSink, *, seed: int = 0, **options: float
    ) -> Episode:
        """Several agents' episodes in a row as one video (Mario: stage agents through a world, in level
        order), its frames streamed to `sink` as play_streamed's are; returns the Episode without frames.
        `options`: its `evaluation_options` (e.g. sticky actions)."""
        raise ValueError(f"{self.name} checkpoints have no playthrough")

    def world_in_a_row(
        self,
        checkpoints: Sequence[str | os.PathLike],
        *,
        episodes: int,
        seed: int,
        progress: Callable[[int], Any] | None = None,
        **options: float,
    ) -> dict[str, Any]:
        """How often several agents clear their levels one after another (Mario: a world's stage agents):
        {runs, cleared, rate, ci95, levels: [{level, played, cleared}], protocol}; `options`: its
        `evaluation_options`. Systems without levels in a row have none."""
        raise ValueError(f"{self.name} checkpoints have no levels to play in a row")

    # Go-Explore-style search for a way through a task without a network (Mario: a route to the flag).
    # ExploreOptions: a dataclass whose fields are `rlcore explore SYSTEM` flags; None: no explore command.
    ExploreOptions: ClassVar[type | None] = None

    def explore(
        self,
        options: Any,
        out: str | os.PathLike | None = None,
        progress: Callable[[dict[str, Any]], Any] | None = None,
    ) -> tuple[str, bool]:
        """Run the search and write what it found to `out` (None: the system's default folder) -> (one
        line saying what was written and what it cost, whether it reached its goal). `progress` gets
        {"done", "total", ...figures} as it goes."""
        raise ValueError(f"{self.name} has nothing to explore")

    @property
    def practises(self) -> bool:
        """Whether runs from an agent can practise where it fails (the system implements `practice`)."""
        return type(self).practice is not System.practice

    def practice(self, config: Any, summary: Mapping[str, Any]) -> Practice | None:
        """Where a run from an agent (`config`: the run's, task included) should practise, given the summary
        of that agent's episode on the task from its start
        (where it failed); None: the whole task as usual."""
        return None

    def export(self, checkpoint: str | os.PathLike, path: str | os.PathLike) -> Any:
        """Write the checkpoint in the system's outside format (`export_file`) to `path`; the path written."""
        raise ValueError(f"{self.name} checkpoints have no export format")

    # ------------------------------------------------------------------ shared by every system
    def config_of(self, checkpoint: str | os.PathLike) -> Any:
        """The Config saved in a checkpoint's config.json
        (a CheckpointError naming the file when it is bad)."""
        from rlcore.checkpoint import load_typed_config

        return load_typed_config(checkpoint, self.Config, self.name)[0]

    @property
    def can_start_from(self) -> bool:
        """Whether a run can start from a checkpoint's weights (its Config has an `init_from` field)."""
        return any(field.name == "init_from" for field in dataclasses.fields(self.Config))

    def task_of(self, config: Any) -> dict[str, Any]:
        """The task a Config trains on: its `task_fields` (Mario's level, the Pendulum's physics)."""
        return {field: getattr(config, field) for field in self.task_fields}

    def task_text(self, config: Any) -> str:
        """The task a Config trains on in a few words, for tables ("—": the system sets no task). By default
        its task fields and values ("g 10, m 1"); a system may say it as its users do (a level "1-1")."""
        task = self.task_of(config)
        return ", ".join(f"{field} {_task_value(value)}" for field, value in task.items()) or "—"

    def play_options(self, seed: int | None = None, **values: Any) -> Any:
        """PlayOptions from defaults and the given values (fields it lacks are left out)."""
        names = {f.name for f in dataclasses.fields(self.PlayOptions)}
        if seed is not None:
            values["seed"] = seed
        return self.PlayOptions(**{k: v for k, v in values.items() if k in names and v is not None})

    def __repr__(self) -> str:
        return f"<rlcore system {self.name!r}>"


def results_document(
    returns: Sequence[float], seeds: Sequence[int], protocol: Mapping[str, Any] | None = None, **figures: Any
) -> dict[str, Any]:
    """A results.json from per-episode returns (episode i on seeds[i]): the common core, the seeds and
    per-episode returns, the protocol (named "greedy" unless given a name), then the system's own figures."""
    from rlcore.evaluation import protocol_name

    return {
        "mean_reward": statistics.fmean(returns),
        "std_reward": statistics.pstdev(returns),
        "n_eval_episodes": len(returns),
        "protocol": {"name": protocol_name({}), **(protocol or {})},
        "seeds": list(seeds),
        "episodes": [{"seed": s, "return": r} for s, r in zip(seeds, returns)],
        **figures,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------------- registry


def register_system(name: str, module: str) -> None:
    """Make `module` (which defines SYSTEM, a System named `name`) known to every layer of this process."""
    _registered[name] = module


def _from_environment() -> dict[str, str]:
    found = {}
    for entry in filter(None, (part.strip() for part in os.environ.get(SYSTEMS_VARIABLE, "").split(","))):
        name, sep, module = entry.partition("=")
        if not sep or not name.strip() or not module.strip():
            raise ValueError(f"{SYSTEMS_VARIABLE}: expected name=module entries, got {entry!r}")
        found[name.strip()] = module.strip()
    return found


@functools.lru_cache(maxsize=8)
def _entry_points_on(path: tuple[str, ...]) -> dict[str, str]:
    """The "rlcore.systems" entry points of the packages installed on `path` (sys.path): name -> module.
    Cached per sys.path (a scan of every installed package takes ~0.1 s)."""
    found: dict[str, str] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry_point.name, entry_point.module)
    return found


def system_modules() -> dict[str, str]:
    """Every known system's name -> module: built-in (an entry point cannot replace one), then the installed
    packages' entry points, then RLCORE_SYSTEMS, then register_system."""
    plugins = {
        name: module
        for name, module in _entry_points_on(tuple(sys.path)).items()
        if name not in BUILTIN_SYSTEMS
    }
    return {**BUILTIN_SYSTEMS, **plugins, **_from_environment(), **_registered}


def system_names() -> tuple[str, ...]:
    return tuple(system_modules())


def get_system(name: str) -> System:
    """The System called `name` (its module is imported now)."""
    modules = system_modules()
    if name not in modules:
        raise ValueError(f"unknown system {name!r}: choose one of {', '.join(modules)}")
    system = getattr(importlib.import_module(modules[name]), "SYSTEM", None)
    if not isinstance(system, System) or system.name != name:
        raise TypeError(f"{modules[name]}.SYSTEM must be a rlcore.systems.System named {name!r}")
    return system


def all_systems() -> list[System]:
    return [get_system(name) for name in system_names()]


def system_of_checkpoint(path: Any) -> System:
    """The system that wrote a checkpoint folder, from its config.json."""
    from rlcore.checkpoint import CheckpointError, load_config

    name = load_config(path)["system"]
    try:
        return get_system(name)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from None
