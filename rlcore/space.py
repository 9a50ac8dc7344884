"""Deploy the app as a Hugging Face Space: one commit through huggingface_hub, no git needed.

    plan = space_plan(".")                        # what would go up: app.py, demo/, rlcore/, checkpoints/ ...
    deploy_space(".", "alice/rlcore")             # create_repo(repo_type="space") + upload_folder

The Space gets the app (app.py, demo/, rlcore/), requirements.txt (what a Space installs), README.md (its
YAML front matter is the Space's configuration), the bundled agents (checkpoints/), docs/ (the README's
links) and .gitattributes. Tests, benchmarks, training runs, caches, hidden files and training state are
left out. A re-deploy makes the Space match the folder: files that are no longer there are deleted in
the same commit. Token, endpoint and errors as in rlcore.hub.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlcore.hub import HubError, RepoRef

REQUIRED = ("app.py", "requirements.txt", "README.md", "demo/__init__.py", "rlcore/__init__.py")
ALLOW_PATTERNS = [
    "app.py",
    "requirements.txt",
    "README.md",
    ".gitattributes",
    "demo/*",
    "rlcore/*",
    "checkpoints/*",
    "docs/*",
]
# training_state.*: the resume state of a run (the app starts runs from weights); `*/.*`: hidden files and
# folders (a half-copied agent, editor files); the rest: caches that Python or training leave behind.
# checkpoints/in-training/*: runs under way, committed only so another machine can resume them (not agents)
IGNORE_PATTERNS = [
    "*/.*",
    "*/__pycache__/*",
    "*.pyc",
    "*training_state.*",
    "*.memmap",
    "*/replay/*",
    "*.egg-info/*",
    "checkpoints/in-training/*",
]
SPACE_SDK = "gradio"


@dataclass(frozen=True)
class SpacePlan:
    """What a deploy uploads: paths relative to `folder`, with their sizes in bytes."""

    folder: Path
    files: dict[str, int]

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def space_plan(folder: str | os.PathLike) -> SpacePlan:
    """The files `upload_folder` will send (the same patterns, through huggingface_hub's own filter),
    after checking that `folder` is the app (REQUIRED files, a Gradio front matter) and that no file is a
    link out of it (a link to ~/.cache/huggingface/token would publish the token)."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    root = Path(folder).expanduser().resolve()
    _check_app_folder(root)
    listed = [p.relative_to(root).as_posix() for p in sorted(root.glob("**/*")) if p.is_file()]
    chosen = filter_repo_objects(
        listed, allow_patterns=ALLOW_PATTERNS, ignore_patterns=IGNORE_PATTERNS + DEFAULT_IGNORE_PATTERNS
    )
    files = {}
    for name in chosen:
        if not (root / name).resolve().is_relative_to(root):
            raise HubError(
                f"{root / name}: a link to a file outside {root}; refusing to publish it", user_error=True
            )
        files[name] = (root / name).stat().st_size
    return SpacePlan(root, files)


def _check_app_folder(root: Path) -> None:
    """One-line errors for a folder that is not the app, or whose README.md would not make a Gradio Space."""
    from huggingface_hub import metadata_load

    if not root.is_dir():
        raise HubError(f"{root}: no such folder", user_error=True)
    missing = [name for name in REQUIRED if not (root / name).is_file()]
    if missing:
        raise HubError(
            f"{root}: not the rlcore app folder (no {missing[0]}); run this from the repository "
            "root or pass --folder",
            user_error=True,
        )
    front = metadata_load(root / "README.md") or {}
    if front.get("sdk") != SPACE_SDK or not (root / str(front.get("app_file", "app.py"))).is_file():
        raise HubError(
            f"{root / 'README.md'}: its front matter must say `sdk: {SPACE_SDK}` and name an "
            "existing app_file (it is the Space's configuration)",
            user_error=True,
        )


def deploy_space(
    folder: str | os.PathLike,
    repo: str | RepoRef,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    attempts: int = 3,
    wait_s: float = 1.0,
    log: Callable[[str], None] = lambda message: None,
) -> str:
    """Create the Space OWNER/NAME if needed (Gradio SDK) and upload space_plan(folder) as one commit;
    returns the commit URL. Nothing is uploaded before the repo id, the token and the folder are checked."""
    from huggingface_hub import HfApi

    from rlcore import hub

    ref = repo if isinstance(repo, RepoRef) else hub.parse_repo_ref(repo)
    if ref.revision != "main":
        raise HubError(
            f"{ref}: a Space deploys to its main branch; give OWNER/NAME without @revision", user_error=True
        )
    token = hub.ready_to_push(token)
    plan = space_plan(folder)
    endpoint = hub.endpoint_url(endpoint)
    hub.require_reachable(endpoint)
    api = HfApi(endpoint=endpoint, token=token)

    def attempt() -> str:
        api.create_repo(ref.repo_id, repo_type="space", space_sdk=SPACE_SDK, private=private, exist_ok=True)
        # delete_patterns="*": files the folder no longer has go in the same commit (never .gitattributes)
        return api.upload_folder(
            repo_id=ref.repo_id,
            repo_type="space",
            folder_path=plan.folder,
            allow_patterns=ALLOW_PATTERNS,
            ignore_patterns=list(IGNORE_PATTERNS),
            delete_patterns="*",
            commit_message=commit_message or "Deploy the rlcore app",
        ).commit_url

    log(
        f"uploading {len(plan.files)} files ({plan.total_bytes / 2**20:.1f} MB) to the Space {ref.repo_id} "
        "as one commit ..."
    )
    try:
        return hub.with_retries(attempt, attempts=attempts, wait_s=wait_s)
    except Exception as err:
        raise hub.hub_error(err, f"spaces/{ref.repo_id}", endpoint) from err
