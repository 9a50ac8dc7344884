"""Checking an uploaded checkpoint (files or a zip) before it joins the app's agents.

Refused, each with a one-line reason: more than the size cap, any pickle (by name or by content),
a zip that escapes its folder or inflates past the cap, a missing model.safetensors or config.json,
weights that do not match the model the config describes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from pathlib import Path

from rlcore.checkpoint import (CONFIG_FILE, METRICS_FILE, PICKLE_SUFFIXES, RESULTS_FILE, WEIGHTS_FILE,
                               CheckpointError, load_config, load_tensors)
from rlcore.systems import get_system

ACCEPTED_FILES = (WEIGHTS_FILE, CONFIG_FILE, RESULTS_FILE, METRICS_FILE)


class UploadRefused(CheckpointError):
    """An upload that cannot become an agent; the message is one readable line."""


def _collect(paths: list[Path], staging: Path, max_bytes: int) -> None:
    """Copy the accepted files of the upload (loose or inside zips) into `staging`, flat."""
    total = sum(p.stat().st_size for p in paths)
    if total > max_bytes:
        raise UploadRefused(f"the upload is {total / 2**20:.1f} MB, more than the {max_bytes / 2**20:.0f} MB limit")
    found: dict[str, str] = {}

    def accept(name: str, origin: str) -> bool:
        base = Path(name).name
        if Path(base).suffix.lower() in PICKLE_SUFFIXES:
            raise UploadRefused(f"{origin}: refusing a pickle file (only safetensors weights are loaded; "
                                "pickles can run arbitrary code)")
        if base not in ACCEPTED_FILES:
            return False
        if base in found:
            raise UploadRefused(f"{origin}: a second {base} (first in {found[base]}): upload one checkpoint at a time")
        found[base] = origin
        return True

    for path in paths:
        if zipfile.is_zipfile(path) and path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if sum(m.file_size for m in members) > max_bytes:
                    raise UploadRefused(f"{path.name}: unpacks to more than the {max_bytes / 2**20:.0f} MB limit")
                for member in members:
                    if accept(member.filename, f"{path.name}:{member.filename}"):
                        # Only the base name is used: nothing in a zip can write outside `staging`.
                        with archive.open(member) as src, open(staging / Path(member.filename).name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
        elif accept(path.name, path.name):
            shutil.copyfile(path, staging / path.name)
    for required in (WEIGHTS_FILE, CONFIG_FILE):
        if required not in found:
            raise UploadRefused(f"no {required} in the upload (a checkpoint is {WEIGHTS_FILE} + {CONFIG_FILE}, "
                                "as files or in one zip)")
    load_tensors(staging / WEIGHTS_FILE)  # a pickle named model.safetensors is refused here, unread


def receive_upload(paths: list[str | Path], uploads_dir: Path, max_bytes: int) -> Path:
    """Validate an upload and store it as uploads_dir/<system>-<weights hash>; the stored folder."""
    paths = [Path(p) for p in paths or []]
    if not paths:
        raise UploadRefused("nothing uploaded: add model.safetensors and config.json, or a zip of them")
    uploads_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=uploads_dir, prefix=".staging-"))
    try:
        _collect(paths, staging, max_bytes)
        system_name = load_config(staging)["system"]
        try:
            system = get_system(system_name)
        except ValueError as err:
            raise UploadRefused(f"{CONFIG_FILE}: {err}") from None
        system.load(staging)  # checks the weights against the model the config describes
        digest = hashlib.sha256((staging / WEIGHTS_FILE).read_bytes()).hexdigest()[:12]
        target = uploads_dir / f"{system_name}-{digest}"
        if target.exists():
            shutil.rmtree(staging)
        else:
            staging.rename(target)
        return target
    except CheckpointError as err:
        shutil.rmtree(staging, ignore_errors=True)
        # Name the uploaded file, not the server's staging folder.
        raise UploadRefused(str(err).replace(f"{staging}/", "").replace(str(staging), "the upload")) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
