"""docs/ARCHITECTURE.md stays true: every module file of the project is named in its layout.

(The import floors it draws are checked by ``lint-imports`` against the contracts in pyproject.toml.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "bench_cli", "engine", "ipc", "perf", "testbed", "transports")


def layout_paths(text: str) -> set[str]:
    """The files the layout names, as paths from the root: folders nest by indentation, files sit under them."""
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    folders: list[tuple[int, str]] = []  # (indent, path) of the folders the current line sits in
    named = set()
    for line in block.splitlines():
        m = re.match(r"^( *)(\S+)", line)
        if not m:
            continue
        indent, word = len(m.group(1)), m.group(2)
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ""
        if word.endswith("/"):
            folders.append((indent, parent + word))
        elif word.endswith(".py"):
            named.add(parent + word)
    return named


def module_files() -> set[str]:
    """Every module of the project's packages, less ``__init__.py`` files that hold a docstring only."""
    out = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            body = ast.parse(path.read_text()).body
            if path.name == "__init__.py" and all(isinstance(node, ast.Expr) for node in body):
                continue
            out.add(path.relative_to(ROOT).as_posix())
    return out


def test_every_module_file_is_named_in_the_architecture_layout():
    named = layout_paths((ROOT / "docs" / "ARCHITECTURE.md").read_text())
    assert sorted(module_files() - named) == []
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_the_layout_parser_nests_folders_by_indentation():
    text = "## Layout\n```\na/     x\n  b.py   y\n  c/     z\n    d.py  w\n  e.py  v\nf/\n  g.py\n```\n"
    assert layout_paths(text) == {"a/b.py", "a/c/d.py", "a/e.py", "f/g.py"}
