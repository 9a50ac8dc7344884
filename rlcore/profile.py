"""How the app shows a system: its presentation profile, apart from what the system is (rlcore/systems.py).

A profile is plain data: the system's label, the Watch tab's widgets (PlayControl, one per PlayOptions field),
the Train tab's knobs and caps (TrainKnobs), the per-step figure plotted, the order and the quick evaluation
of the app. It describes widgets without building them (demo/ turns it into Gradio components), so it
imports nothing of gradio: it lives in rlcore, beside the systems whose modules define their profiles, and a
bench or another front end reads it without a UI toolkit. Nothing else in rlcore imports this module.

Each system's profile is the `PROFILE` of the `ui` module beside the module that defines its SYSTEM
(rlcore.mario.api -> rlcore.mario.ui; a package `toy` -> toy.ui; a top-level module `toy_system` ->
toy_system_ui). A system without one is shown with `default_profile`: its name as label, its Config's budget
as the Train tab's default and cap, no Watch widgets beyond the seed.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any

from rlcore.systems import System, system_modules

PROFILE_MODULE = "ui"  # the module beside a system's module that holds its profile (PROFILE)


@dataclasses.dataclass(frozen=True)
class PlayControl:
    """A PlayOptions (or task) field's widget: a dropdown of `choices`, a checkbox (bool), else a slider."""

    field: str
    label: str
    choices: tuple[Any, ...] = ()
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 0.1


@dataclasses.dataclass(frozen=True)
class TrainKnobs:
    """What the app's Train tab lets a visitor change for one system (the budget, lr, seed), and its caps."""

    budget_label: str
    budget_info: str
    default_budget: int
    max_budget: int
    metric_titles: Mapping[str, str] = dataclasses.field(default_factory=dict)  # live plot titles (else key)
    lr_field: str = "lr"
    seed_field: str = "seed"
    short_run: Callable[[Any, int], dict[str, Any]] | None = None  # config changes a bounded run needs
    # Starting from a trained agent (rlcore.resolve: init=): the widgets of the system's task fields
    # (System.task_fields); the task and the budget the tab proposes for such a run; the budget a second of
    # training buys on a 2-core CPU, and the budget such a run needs before its agent changes visibly
    # (docs/experiments/), to say before Start what the time cap allows against what learning needs
    task: tuple[PlayControl, ...] = ()
    start_task: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    start_agent: str = ""  # the bundled agent the tab proposes to start from (else the first one)
    start_budget: int = 0
    cpu_rate: float = 0.0
    start_needs: int = 0
    practice_needs: int = 0  # the same when the run practises where the agent fails (System.practice)


@dataclasses.dataclass(frozen=True)
class Profile:
    """Everything the app needs to show one system."""

    label: str  # the app's radio buttons
    knobs: TrainKnobs  # the Train tab
    play_controls: tuple[PlayControl, ...] = ()  # the Watch tab's widgets (PlayOptions fields)
    trace_figure: str = "reward"  # the per-step trace figure the Watch tab plots
    eval_episodes: int = 10  # the app's quick evaluation of a trained or uploaded agent
    showcase: bool = False  # shown first in the Watch tab when it has an agent
    slow_to_play: bool = False  # its episodes take seconds (an emulator): warmed up last


def default_profile(system: System) -> Profile:
    """How a system without a profile is shown: its name and algorithm, its Config's budget as the Train tab's
    default and cap (the app's time cap still bounds a run), the Watch tab's seed only."""
    budget = getattr(system.Config(), system.budget.field)
    knobs = TrainKnobs(f"{system.budget.unit.capitalize()}s", f"at most {budget:,}", budget, budget)
    return Profile(label=f"{system.name} ({system.algorithm})", knobs=knobs)


def profile_module(module: str) -> str:
    """The module holding the profile of the system defined in `module` (see the module docstring)."""
    spec = importlib.import_module(module).__spec__
    parent = spec.parent if spec is not None else ""
    return f"{parent}.{PROFILE_MODULE}" if parent else f"{module}_{PROFILE_MODULE}"


@functools.lru_cache(maxsize=32)
def profile_of(system: System) -> Profile:
    """The system's profile (its `ui` module's PROFILE), else `default_profile`; a TypeError naming the module
    when it has no Profile or widgets for fields that are not the system's task fields."""
    name = profile_module(system_modules().get(system.name, type(system).__module__))
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:  # the profile module exists but imports something missing: say so
            raise
        return default_profile(system)
    profile = getattr(module, "PROFILE", None)
    if not isinstance(profile, Profile):
        raise TypeError(f"{name}.PROFILE must be an rlcore.profile.Profile")
    stray = [c.field for c in profile.knobs.task if c.field not in system.task_fields]
    if stray:
        raise TypeError(f"{name}.PROFILE: task widgets {stray} are not {system.name}'s task_fields")
    return profile
