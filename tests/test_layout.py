"""The shape of the package: the tree shows the architecture and its arrows hold.

Each folder of ``owt/`` has a role (docs/architecture.md); these tests fail when a
forbidden import appears, when a module or function outgrows what a reader can hold, or
when a module's ``__all__`` stops matching what it defines.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "owt"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Folder → the owt folders it must never import (and whether third-party packages are out).
FORBIDDEN: dict[str, tuple[set[str], bool]] = {
    "core": ({"server", "executors", "cli", "client", "lib"}, True),
    "summat": ({"server", "executors", "cli", "client"}, True),
    "lib": ({"server", "executors", "cli", "client"}, True),
    "executors": ({"server", "cli", "client"}, False),
    "client": ({"server", "core", "executors", "cli", "summat", "lib"}, False),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST) -> list[tuple[str, int]]:
    """Every absolute module an import statement names, at any depth, with its line."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.module, node.lineno))
    return names


def test_the_top_of_the_package_is_four_public_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "config.py", "exceptions.py"]


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_arrows_between_folders(path: Path) -> None:
    folder = path.relative_to(PACKAGE).parts[0]
    if folder not in FORBIDDEN:
        return
    never, stdlib_only = FORBIDDEN[folder]
    for name, line in imported(ast.parse(path.read_text())):
        top, _, rest = name.partition(".")
        if top == "owt":
            role = rest.partition(".")[0]
            assert role not in never, f"{path.relative_to(ROOT)}:{line}: {folder}/ imports {name}"
        elif stdlib_only:
            assert top in sys.stdlib_module_names or top == "__future__", (
                f"{path.relative_to(ROOT)}:{line}: {folder}/ is stdlib only, imports {name}"
            )


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_modules_and_functions_stay_readable(path: Path) -> None:
    source = path.read_text()
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} is too long"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, (
                f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() has {length} lines"
            )


def defined_names(tree: ast.Module) -> set[str]:
    """The public functions and classes a module's own top level defines."""
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
    }


def declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value: list[str] = ast.literal_eval(node.value)  # type: ignore[attr-defined]
            return value
    return None


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_all_matches_what_the_module_defines(path: Path) -> None:
    """``__all__`` names every public function and class defined there, and only real names."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    declared = declared_all(tree)
    defined = defined_names(tree)
    if declared is None:
        assert not defined, f"{name} defines {sorted(defined)} but has no __all__"
        return
    assert len(declared) == len(set(declared)), f"{name}.__all__ repeats a name"
    unlisted = defined - set(declared)
    assert not unlisted, f"{name} defines {sorted(unlisted)} without listing it in __all__"
    if "ray" in path.parts and "executors" in path.parts:
        pytest.importorskip("ray")
    module = importlib.import_module(name)
    missing = [n for n in declared if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
