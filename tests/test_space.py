"""The repository as a Hugging Face Space: binaries tracked the Hub's way (.gitattributes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(8000)


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_every_binary_file_in_the_repository_is_an_lfs_file_by_gitattributes():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    binaries = [name for name in tracked.decode().split("\0") if name and is_binary(ROOT / name)]
    assert len(binaries) >= 20  # the bundled agents' weights, videos and plots
    attributes = subprocess.run(["git", "check-attr", "filter", "diff", "merge", "text", "-z", "--", *binaries],
                                cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    found = {(attributes[i], attributes[i + 1]): attributes[i + 2] for i in range(0, len(attributes) - 2, 3)}
    wrong = [name for name in binaries
             if [found[(name, key)] for key in ("filter", "diff", "merge", "text")] != ["lfs", "lfs", "lfs", "unset"]]
    assert not wrong, f"binary files not tracked by LFS in .gitattributes: {wrong}"
