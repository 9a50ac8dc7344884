"""Finding agents: bundled checkpoints, runs trained in this app, uploads, local folders and Hub repos.

An agent is named in the UI by a short reference: a bundled folder's name ("pendulum-swingup"),
"trained/<run>" or "uploaded/<name>", an existing local folder, or a Hub repo id ("owner/name" or
"hf://owner/name[@revision]"), which rlcore.hub pulls into the standard cache.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any

from rlcore.checkpoint import RESULTS_FILE, CheckpointError, atomic_write_json, load_config, read_json

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Agent:
    ref: str  # what the UI shows and passes back
    path: Path  # the checkpoint folder
    system: str  # the name of its rlcore.systems.System
    source: str  # "bundled" | "trained here" | "uploaded" | "local" | "hub"
    algorithm: str = ""

    def results(self) -> dict[str, Any] | None:
        """The agent's results.json (evaluated figures), or None when it has none or it is unreadable."""
        file = self.path / RESULTS_FILE
        if not file.is_file():
            return None
        try:
            return read_json(file)
        except CheckpointError as err:
            log.warning("%s", err)
            return None


class Catalog:
    """Lists and resolves agents; reads the disk each time (runs and uploads appear while the app runs)."""

    def __init__(self, settings):
        self.settings = settings
        # (folder, source, prefix of the reference)
        self._roots = [
            (settings.checkpoints_dir, "bundled", ""),
            (settings.runs_dir, "trained here", "trained/"),
            (settings.uploads_dir, "uploaded", "uploaded/"),
        ]

    def local_agents(self, system: str | None = None) -> list[Agent]:
        agents = []
        for root, source, prefix in self._roots:
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                agent = self._agent_at(folder, f"{prefix}{folder.name}", source)
                if agent and (system is None or agent.system == system):
                    agents.append(agent)
        return agents

    def refs(self, system: str | None = None) -> list[str]:
        return [agent.ref for agent in self.local_agents(system)]

    def hub_agents(self) -> list[dict[str, Any]]:
        """Agents published with our tag (rlcore.hub.list_agents); a HubError when the Hub is unreachable."""
        from rlcore import hub

        return [
            dataclasses.asdict(summary) for summary in hub.list_agents(endpoint=self.settings.hub_endpoint)
        ]

    def resolve(self, ref: str, system: str | None = None) -> Agent:
        """The agent a reference names; CheckpointError (one readable line) when there is none."""
        ref = (ref or "").strip()
        if not ref:
            raise CheckpointError("choose a checkpoint first")
        for agent in self.local_agents():
            if agent.ref == ref:
                return self._check_system(agent, system)
        from rlcore import hub

        if not self.settings.allow_local_paths and not hub.is_hub_ref(ref):
            raise CheckpointError(
                f"{ref}: not a listed agent or a Hub repo id (owner/name); this server does "
                "not open arbitrary folders"
            )
        path = Path(ref).expanduser()
        if path.is_dir() or path.is_file():
            agent = self._agent_at(path if path.is_dir() else path.parent, ref, "local", strict=True)
            return self._check_system(agent, system)
        if hub.is_hub_ref(ref):
            # A HubError (one line) when unknown or unreachable; only our format's files are fetched.
            folder = self._pull(ref)
            return self._check_system(self._agent_at(folder, ref, "hub", strict=True), system)
        raise CheckpointError(
            f"{ref}: not a known agent, a local checkpoint folder, or a Hub repo id (owner/name)"
        )

    def _pull(self, ref: str) -> Path:
        """A Hub agent into the app's own cache (size-capped before download), then the cache pruned to
        its most recently used repos."""
        from demo.housekeeping import prune_oldest
        from rlcore import hub

        settings = self.settings
        folder = hub.pull_checkpoint(
            ref,
            endpoint=settings.hub_endpoint,
            cache_dir=settings.hub_dir,
            max_bytes=int(settings.max_hub_mb * 2**20),
        )
        repo_folder = folder.parent.parent  # <cache>/models--owner--name/snapshots/<sha>
        os.utime(repo_folder)  # used now: pruned last
        prune_oldest(list(settings.hub_dir.glob("models--*")), settings.max_kept_hub_repos)
        return folder

    @staticmethod
    def _check_system(agent: Agent, system: str | None) -> Agent:
        if system and agent.system != system:
            raise CheckpointError(f"{agent.ref}: a {agent.system} checkpoint, but {system} is selected")
        return agent

    @staticmethod
    def _agent_at(folder: Path, ref: str, source: str, strict: bool = False) -> Agent | None:
        try:
            document = load_config(folder)
        except CheckpointError as err:
            if strict:
                raise
            log.debug("skipping %s: %s", folder, err)
            return None
        return Agent(
            ref=ref,
            path=folder.resolve(),
            system=document["system"],
            source=source,
            algorithm=str(document.get("algorithm", "")),
        )


def record_evaluation(folder: Path) -> dict[str, Any]:
    """Evaluate a checkpoint on its profile's `eval_episodes` fixed seeds and write its results.json
    (what the agents table shows). Figures that came with an upload are never trusted: this replaces them."""
    from rlcore.profile import profile_of
    from rlcore.systems import system_of_checkpoint

    system = system_of_checkpoint(folder)
    results = system.evaluate(folder, episodes=profile_of(system).eval_episodes, seed=0)
    if not math.isfinite(results.get("mean_reward", math.nan)):
        raise CheckpointError(f"{Path(folder).name}: its evaluation gave a non-finite return")
    results = {"system": system.name, **results}
    atomic_write_json(Path(folder) / RESULTS_FILE, results)
    return results
