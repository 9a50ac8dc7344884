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


def prune_served_copies(folder: Path, max_files: int, max_bytes: float, min_age: float = 60.0) -> int:
    """Bound Gradio's copies of the files it served (GRADIO_TEMP_DIR: one folder per file's hash): keep the
    `max_files` most recently served, at most `max_bytes` in all; older ones go, except those served in the
    last `min_age` seconds (a visitor's page may be fetching them). Returns how many copies were deleted.
    Gradio touches a copy each time it serves it again: the modification time is when it was last served."""
    import shutil
    import time

    copies = []
    for entry in Path(folder).glob("*"):
        try:
            files = [f.stat() for f in entry.rglob("*") if f.is_file()] if entry.is_dir() else [entry.stat()]
        except OSError:  # deleted meanwhile (Gradio's own deletion by age)
            continue
        copies.append((max((s.st_mtime for s in files), default=0.0), sum(s.st_size for s in files), entry))
    copies.sort(key=lambda copy: copy[0], reverse=True)
    now, kept_bytes, deleted = time.time(), 0, 0
    for rank, (served_at, size, entry) in enumerate(copies):
        kept_bytes += size
        if (rank < max_files and kept_bytes <= max_bytes) or now - served_at < min_age:
            continue
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        kept_bytes -= size
        deleted += 1
    return deleted
