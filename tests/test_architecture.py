"""The architecture, checked from the imports: packages run one way, with no cycles.

docs/architecture.md draws the layers; this test is what keeps them true. It reads every
module's imports with ``ast`` (``if TYPE_CHECKING:`` imports and imports inside functions
included: a type-only import is still an edge) and fails on:

* an import cycle between modules;
* an import from a package to one on its own layer or above it (``LAYERS``);
* click outside ``cli/``, httpx outside ``api/`` and the emulator;
* a call that writes to Digdir outside ``apply/`` (every write lives there);
* more than 8 modules directly in ``selvsync/``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import selvsync

PACKAGE = Path(selvsync.__file__).parent

# Lower layers never import higher ones, nor their siblings on the same layer.
LAYERS: dict[str, int] = {
    "selvsync": 0,  # __init__: the version only
    "errors": 0,
    "gcpause": 0,
    "text": 0,  # showing untrusted text safely
    "emulator": 0,  # self-contained: imports nothing else from selvsync
    "files": 1,  # safe reads and atomic writes
    "marker": 2,
    "sensitive": 2,
    "yaml": 2,
    "model": 3,
    "rules": 3,
    "config": 4,
    "plan": 4,  # pure: desired + live in, plan out; no I/O, nothing from api/
    "api": 4,  # Digdir over HTTP; knows nothing of plans or configuration files
    "render": 5,  # presentation; nothing from api/, live/ or apply/
    "live": 5,  # one run's reads
    "apply": 6,  # every write to Digdir
    "scaffold": 6,  # import and keygen
    "cli": 7,
    "__main__": 8,
}

# DigdirClient's methods that change something at Digdir.
WRITE_METHODS = frozenset(
    {
        "create_client",
        "update_client",
        "deactivate_client",
        "rotate_secret",
        "put_jwks",
        "delete_jwks",
        "put_merchant",
        # selvsync.api.scopes.ScopesApi
        "create_scope",
        "update_scope",
        "deactivate_scope",
        "grant",
        "revoke",
    }
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """Every module of ours (and every third-party top name) ``path`` imports, with the line."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import submodule` is an edge to the submodule only (import-linter's
            # reading); `from pkg import name` is an edge to pkg.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if name in modules]
            if len(submodules) < len(names):
                yield node.module, node.lineno
            for name in submodules:
                yield name, node.lineno


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target, _ in _imports(path, modules):
            if target in modules and target != module:
                graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def layer_violations(modules: dict[str, Path]) -> list[str]:
    problems = []
    for module, path in modules.items():
        source = _package(module)
        for target, line in _imports(path, modules):
            if not target.startswith("selvsync"):
                continue
            dest = _package(target)
            if dest == source:
                continue
            if source not in LAYERS or dest not in LAYERS:
                problems.append(f"{module}:{line}: {source} or {dest} has no layer in LAYERS")
            elif LAYERS[dest] >= LAYERS[source]:
                problems.append(
                    f"{module}:{line} imports {target}: {source} (layer {LAYERS[source]}) "
                    f"may not import {dest} (layer {LAYERS[dest]})"
                )
    return problems


def test_no_import_cycles_type_only_imports_included() -> None:
    assert find_cycle(_edges(_modules())) is None


def test_packages_import_only_lower_layers() -> None:
    assert layer_violations(_modules()) == []


@pytest.mark.parametrize(
    ("library", "allowed"),
    [("click", ("cli",)), ("httpx", ("api", "emulator"))],
)
def test_third_party_libraries_stay_in_their_package(
    library: str, allowed: tuple[str, ...]
) -> None:
    modules = _modules()
    offenders = [
        f"{module}:{line}"
        for module, path in modules.items()
        for target, line in _imports(path, modules)
        if target.split(".")[0] == library and _package(module) not in allowed
    ]
    assert offenders == []


def test_every_write_to_digdir_lives_in_apply() -> None:
    offenders = []
    for module, path in _modules().items():
        if _package(module) in ("apply", "api", "emulator"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WRITE_METHODS
            ):
                offenders.append(f"{module}:{node.lineno}: {node.func.attr}")
    assert offenders == []


def test_at_most_eight_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert (packages | modules) - {"schemas"} <= set(LAYERS)


# The checks themselves must be able to fail: scratch graphs with a known fault.
def test_the_cycle_check_finds_a_type_only_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_the_layer_check_finds_an_upward_edge(tmp_path: Path) -> None:
    bad = tmp_path / "selvsync" / "plan" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import selvsync.api\n")
    problems = layer_violations({"selvsync.plan.bad": bad})
    assert problems == [
        "selvsync.plan.bad:3 imports selvsync.api: plan (layer 4) may not import api (layer 4)"
    ]


def test_plan_does_no_io() -> None:
    """plan/ is pure: desired state and a live snapshot in, a plan out (files: live/, cli/)."""
    io_modules = {"selvsync.files", "httpx", "subprocess", "socket", "sqlite3", "urllib.request"}
    io_calls = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "unlink"}
    modules = _modules()
    offenders = []
    for module, path in modules.items():
        if _package(module) != "plan":
            continue
        offenders += [
            f"{module}:{line} imports {target}"
            for target, line in _imports(path, modules)
            if target in io_modules
        ]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in io_calls:
                    offenders.append(f"{module}:{node.lineno} calls {name}()")
    assert offenders == []
