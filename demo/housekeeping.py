"""Keeping a public app's disk bounded: the oldest runs, uploads, videos and pulled repos go first."""

from __future__ import annotations

from pathlib import Path


def prune_oldest(entries: list[Path], keep: int) -> None:
    """Delete all but the `keep` most recently modified files or folders of `entries`: a public app's
    disk must not fill up with every visitor's runs and videos."""
    import shutil

    entries = sorted(entries, key=lambda p: p.stat().st_mtime if p.exists() else 0.0, reverse=True)
    for old in entries[keep:]:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
