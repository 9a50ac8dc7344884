"""The codebase's own rules, checked on its source: short functions, no import cycles, generic layers
that never compare with a system's name (they use the rlcore.systems.System contract instead), and a core
that knows nothing of widgets (how the app shows a system is its profile: rlcore/profile.py, */ui.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rlcore", "demo")
MAX_FUNCTION_LINES = 50
# Everything outside a system's own package: it may know systems only through the contract.
GENERIC_LAYERS = (
    "rlcore/cli.py",
    "rlcore/hub.py",
    "rlcore/modelcard.py",
    "rlcore/checkpoint.py",
    "rlcore/config.py",
    "rlcore/metrics.py",
    "rlcore/video.py",
    "rlcore/runtime.py",
    "rlcore/profile.py",
    "rlcore/resolve.py",
    "demo",
    "app.py",
)  # systems.py: the registry
SYSTEM_NAMES = ("mario", "pendulum")
# The presentation profiles: the only modules of rlcore/ that may describe widgets
PROFILE_MODULES = ("rlcore/profile.py", "rlcore/*/ui.py")
# Words of the app's widgets: no name in the rest of rlcore/ (a module, class, function, argument, variable
# or attribute) contains one (case and underscores ignored)
WIDGET_WORDS = (
    "gradio",
    "playcontrol",
    "trainknobs",
    "knobs",
    "profile",
    "widget",
    "slider",
    "dropdown",
    "checkbox",
    "radio",
    "playcontrols",
    "tracefigure",
    "showcase",
    "slowtoplay",
)


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
                return path[path.index(nxt) :] + [nxt] if nxt in path else path + [nxt]
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
    graph = {
        name: {m for m in imports_of(path, set(paths)) if m != name and not name.startswith(m + ".")}
        for name, path in paths.items()
    }
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_generic_layers_never_name_a_system():
    found = []
    for path in sources(*GENERIC_LAYERS):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.lower() in SYSTEM_NAMES
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, found


def ruff(*args: str) -> subprocess.CompletedProcess:
    """`ruff ARGS` on the whole tree, with this environment's ruff (pinned in .ci/requirements-test.txt)."""
    command = [sys.executable, "-m", "ruff", *args, "--no-cache", "--output-format", "concise", str(ROOT)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


def test_ruff_passes_on_the_whole_tree():
    """The house style (pyproject.toml [tool.ruff]: pyflakes, pycodestyle's errors, import order)."""
    done = ruff("check")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_the_whole_tree_is_ruff_formatted():
    """The layout is `ruff format`'s (pyproject.toml [tool.ruff.format]); the failure names the files."""
    done = ruff("format", "--check")
    files = sorted({line.split(":")[0] for line in done.stdout.splitlines() if ": unformatted" in line})
    assert done.returncode == 0, (
        f"not laid out as `ruff format` does: {', '.join(files)} (run `.venv/bin/python -m ruff format .`)"
        + done.stderr[-1000:]
    )


def core_sources() -> list[Path]:
    """rlcore/ outside the presentation profiles."""
    profiles = {path for pattern in PROFILE_MODULES for path in ROOT.glob(pattern)}
    return [path for path in sources("rlcore") if path not in profiles]


def widget_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of every name in `tree` that contains a widget word (imports included)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [alias.name for alias in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        else:
            names = [
                getattr(node, attr)
                for attr in ("id", "attr", "arg")
                if isinstance(getattr(node, attr, None), str)
            ]
        found += [
            (node.lineno, name)
            for name in names
            if any(word in name.lower().replace("_", "") for word in WIDGET_WORDS)
        ]
    return found


def test_the_core_never_imports_gradio_nor_names_a_widget():
    """What a system is (rlcore/systems.py, each system's api) never depends on how the app shows it."""
    found = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in core_sources()
        for line, name in widget_names(ast.parse(path.read_text()))
    ]
    assert not found, found


def test_the_widget_check_sees_an_import_a_widget_and_a_ui_field():
    code = (
        "import gradio as gr\nfrom rlcore.profile import PlayControl\n"
        "def f(system):\n    return system.knobs.budget_label, gr.Slider(), system.play_controls"
    )
    assert {name for _, name in widget_names(ast.parse(code))} == {
        "gradio",
        "rlcore.profile",
        "PlayControl",
        "Slider",
        "knobs",
        "play_controls",
    }
    assert widget_names(ast.parse("def f(system):\n    return system.task_fields, system.budget.unit")) == []
