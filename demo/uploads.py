"""Checking an uploaded checkpoint (files or a zip) before it joins the app's agents.

Refused, each with a one-line reason: more than the size cap, any pickle (by name or by content),
a zip that escapes its folder, is corrupt or inflates past the cap (whatever sizes it declares), a
missing model.safetensors or config.json, a config outside its system's bounds, weights that do not
match the model the config describes (checked on the header, before anything is built), weights
that are not finite, an evaluation that fails. An upload is validated and evaluated in a hidden
staging folder and kept only when all of that succeeded; a results.json it brings is never taken
(the figures shown are ours).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rlcore.checkpoint import (
    CONFIG_FILE,
    METRICS_FILE,
    PICKLE_SUFFIXES,
    WEIGHTS_FILE,
    CheckpointError,
    load_config,
    load_tensors,
    one_line,
)
from rlcore.systems import get_system

log = logging.getLogger(__name__)
T = TypeVar("T")

ACCEPTED_FILES = (WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE)
STAGING_PREFIX = ".staging-"
STALE_STAGING_SECONDS = 3600  # a staging folder this old belongs to no upload in progress (a crash left it)
# what a corrupt or hostile zip raises while it is read
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError)


class UploadRefused(CheckpointError):
    """An upload that cannot become an agent; the message is one readable line."""


def _limit_mb(max_bytes: int) -> str:
    return f"the {max_bytes / 2**20:.0f} MB limit"


def _accept(name: str, origin: str, found: dict[str, str]) -> bool:
    """Whether a file of the upload is one of ours (pickles refused by name); records where it came from."""
    base = Path(name).name
    if Path(base).suffix.lower() in PICKLE_SUFFIXES:
        raise UploadRefused(
            f"{origin}: refusing a pickle file (only safetensors weights are loaded; "
            "pickles can run arbitrary code)"
        )
    if base not in ACCEPTED_FILES:
        return False
    if base in found:
        raise UploadRefused(
            f"{origin}: a second {base} (first in {found[base]}): upload one checkpoint at a time"
        )
    found[base] = origin
    return True


def _copy_limited(source, destination: Path, budget: int, max_bytes: int) -> int:
    """Copy at most `budget` bytes and return how many: a zip member may inflate past what it declares."""
    written = 0
    with open(destination, "wb") as out:
        while block := source.read(1 << 20):
            written += len(block)
            if written > budget:
                raise UploadRefused(f"the upload unpacks to more than {_limit_mb(max_bytes)}")
            out.write(block)
    return written


def _unpack(path: Path, staging: Path, found: dict[str, str], budget: int, max_bytes: int) -> int:
    """Copy our files out of a zip into `staging` (base names only: nothing can land outside it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > budget:
                raise UploadRefused(f"{path.name}: unpacks to more than {_limit_mb(max_bytes)}")
            for member in members:
                if _accept(member.filename, f"{path.name}:{member.filename}", found):
                    with archive.open(member) as source:
                        budget -= _copy_limited(
                            source, staging / Path(member.filename).name, budget, max_bytes
                        )
    except ZIP_ERRORS as err:
        raise UploadRefused(
            f"{path.name}: not a readable zip ({err.__class__.__name__}: {one_line(err, 120)})"
        ) from None
    return budget


def _collect(paths: list[Path], staging: Path, max_bytes: int) -> None:
    """Copy the accepted files of the upload (loose or inside zips) into `staging`, flat."""
    total = sum(p.stat().st_size for p in paths)
    if total > max_bytes:
        raise UploadRefused(f"the upload is {total / 2**20:.1f} MB, more than {_limit_mb(max_bytes)}")
    found: dict[str, str] = {}
    budget = max_bytes
    for path in paths:
        if path.suffix.lower() == ".zip":
            if not zipfile.is_zipfile(path):  # e.g. a text file renamed: say so, not "no model.safetensors"
                raise UploadRefused(
                    f"{path.name}: not a zip file (upload a zip of {WEIGHTS_FILE} + {CONFIG_FILE}, "
                    "or the two files)"
                )
            budget = _unpack(path, staging, found, budget, max_bytes)
        elif _accept(path.name, path.name, found):
            shutil.copyfile(path, staging / path.name)
    for required in (WEIGHTS_FILE, CONFIG_FILE):
        if required not in found:
            raise UploadRefused(
                f"no {required} in the upload (a checkpoint is {WEIGHTS_FILE} + {CONFIG_FILE}, "
                "as files or in one zip)"
            )
    load_tensors(staging / WEIGHTS_FILE)  # a pickle named model.safetensors is refused here, unread


def prune_stale_staging(uploads_dir: Path, max_age_s: float = STALE_STAGING_SECONDS) -> None:
    """Delete staging folders left by a crash mid-validation (none of a live upload is that old)."""
    for folder in uploads_dir.glob(f"{STAGING_PREFIX}*"):
        try:
            if time.time() - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            continue


def _validated_folder(paths: list[Path], staging: Path, max_bytes: int) -> str:
    """Fill `staging` with the upload and check it loads as its system's agent; its system's name."""
    _collect(paths, staging, max_bytes)
    system_name = load_config(staging)["system"]
    try:
        system = get_system(system_name)
    except ValueError as err:
        raise UploadRefused(f"{CONFIG_FILE}: {err}") from None
    system.load(staging)  # bounds, then the weights' header, then the weights themselves
    return system_name


def receive_upload(
    paths: list[str | Path], uploads_dir: Path, max_bytes: int, evaluate: Callable[[Path], T]
) -> tuple[Path, T]:
    """Validate an upload in a staging folder, run `evaluate(folder)` on it (our figures, our video),
    and only then store it as uploads_dir/<system>-<weights hash>: (the stored folder, what `evaluate`
    returned). Anything refused or failing leaves nothing behind."""
    paths = [Path(p) for p in paths or []]
    if not paths:
        raise UploadRefused("nothing uploaded: add model.safetensors and config.json, or a zip of them")
    uploads_dir.mkdir(parents=True, exist_ok=True)
    prune_stale_staging(uploads_dir)
    staging = Path(tempfile.mkdtemp(dir=uploads_dir, prefix=STAGING_PREFIX))
    try:
        system_name = _validated_folder(paths, staging, max_bytes)
        digest = hashlib.sha256((staging / WEIGHTS_FILE).read_bytes()).hexdigest()[:12]
        target = uploads_dir / f"{system_name}-{digest}"
        if target.exists():  # the same weights were added before: evaluate the stored copy again
            shutil.rmtree(staging)
            return target, evaluate(target)
        outcome = evaluate(staging)
        staging.rename(target)
        return target, outcome
    except Exception as err:
        shutil.rmtree(staging, ignore_errors=True)
        if not isinstance(err, CheckpointError):
            log.warning("upload refused after an unexpected error", exc_info=True)
        # Name the uploaded file, not the server's staging folder.
        message = str(err).replace(f"{staging}/", "").replace(str(staging), "the upload")
        raise UploadRefused(one_line(message) or err.__class__.__name__) from None
