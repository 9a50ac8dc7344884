"""The codebase's own rules, checked on its source: short functions, no import cycles, and generic layers
that never compare with a system's name (they use the rlcore.systems.System contract instead)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rlcore", "demo")
MAX_FUNCTION_LINES = 50
# Everything outside a system's own package: it may know systems only through the contract.
GENERIC_LAYERS = ("rlcore/cli.py", "rlcore/hub.py", "rlcore/modelcard.py", "rlcore/checkpoint.py",
                  "rlcore/config.py", "rlcore/metrics.py", "rlcore/video.py", "rlcore/runtime.py", "demo", "app.py")
SYSTEM_NAMES = ("mario", "pendulum")


def sources(*roots: str) -> list[Path]:
    files = []
    for root in roots:
        path = ROOT / root
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_function_is_longer_than_50_lines():
    long = []
    for path in sources(*PACKAGES):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Project modules `path` imports anywhere (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else path + [nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_no_import_cycles_between_modules():
    paths = {module_name(p): p for p in sources(*PACKAGES)}
    # a package's __init__ is imported with any of its modules: that edge is not a cycle of ours
    graph = {name: {m for m in imports_of(path, set(paths)) if m != name and not name.startswith(m + ".")}
             for name, path in paths.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_generic_layers_never_name_a_system():
    found = []
    for path in sources(*GENERIC_LAYERS):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in SYSTEM_NAMES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, found


def test_ruff_passes_on_the_whole_tree():
    """The house style (pyproject.toml [tool.ruff]: pyflakes, pycodestyle's errors, import order)."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
