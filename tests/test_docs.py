"""The README and docs/ as a reader uses them: every `rlcore ...` command in their code blocks parses with
the command line's own parser (nothing is run), and every relative link leads to a file, and to a
heading of it when it names one."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from rlcore import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
LINKED = [*DOCS, ROOT / "bench" / "README.md", *sorted((ROOT / "checkpoints").glob("*/README.md"))]
README_MAX_BYTES = 15 * 1024  # a front door; the rest lives in docs/
PREFIXES = (["rlcore"], ["python", "-m", "rlcore"], [".venv/bin/python", "-m", "rlcore"])
COMMAND = re.compile(r"\s*([A-Z_]+=\S*\s+)*(rlcore|python -m rlcore|\.venv/bin/python -m rlcore)\s")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def code_blocks(text: str) -> list[str]:
    return [block.split("\n", 1)[1].rsplit("```", 1)[0] for block in FENCE.findall(text)]


def command_lines(path: Path) -> list[tuple[str, dict[str, str], list[str]]]:
    """(where, environment assignments, the CLI's argv) for each rlcore command in `path`'s code blocks."""
    found = []
    for block in code_blocks(path.read_text()):
        for number, line in enumerate(block.replace("\\\n", " ").splitlines(), 1):
            if not COMMAND.match(line):
                continue
            words = shlex.split(line, comments=True)
            env = {}
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                key, _, value = words.pop(0).partition("=")
                env[key] = value
            for prefix in PREFIXES:
                if words[: len(prefix)] == prefix:
                    found.append((f"{path.relative_to(ROOT)}: {line.strip()}", env, words[len(prefix) :]))
    return found


COMMANDS = [command for path in DOCS for command in command_lines(path)]


def test_the_readme_is_a_front_door_with_the_ci_test_command():
    text = README.read_text()
    assert len(text.encode()) <= README_MAX_BYTES
    assert text.startswith("---\n") and "\nsdk: gradio\n" in text  # the Space's front matter
    test_command = "bash .ci/setup.sh --test && .venv/bin/python -m pytest"
    assert test_command in text and test_command in (ROOT / ".ci" / "run").read_text()
    assert len([c for c in COMMANDS if c[0].startswith("README.md")]) >= 10  # the cheat sheet was found


@pytest.mark.parametrize("where, env, argv", COMMANDS, ids=[c[0][:100] for c in COMMANDS])
def test_every_documented_command_parses(where, env, argv, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
        if key == "PYTHONPATH":
            monkeypatch.syspath_prepend(str(ROOT / value))
    try:
        args = cli.build_parser(argv).parse_args(argv)
    except SystemExit as exit_:  # --help exits 0; a bad flag exits 2 with argparse's message
        assert exit_.code == 0, f"{where}\n{capsys.readouterr().err}"
        return
    assert callable(args.run), where


def heading_slugs(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (duplicates get -1, -2, ...)."""
    slugs: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6} (.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            count = slugs.get(slug, 0)
            slugs[slug] = count + 1
            out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", path.read_text()))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("path", LINKED, ids=[str(p.relative_to(ROOT)) for p in LINKED])
def test_every_relative_link_resolves(path):
    broken = []
    for target in relative_links(path):
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists() or not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_slugs(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_checker_sees_a_broken_link_and_a_broken_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n[ok](#title) [gone](missing.md) [bad anchor](#nowhere) `[code](x.md)`\n"
        "```\n[in a block](y.md)\n```\n"
    )
    assert relative_links(page) == ["#title", "missing.md", "#nowhere"]
    assert heading_slugs(page) == {"title"}
