"""importers/ sits beside adapters/: it may use adapters/ and the ground modules, nothing above."""

from __future__ import annotations

import ast
from pathlib import Path

import meshmark_tasks.importers as importers

FORBIDDEN = ("pipeline", "storage", "reporting", "backends", "cli", "validation", "scoring")


def test_importers_import_nothing_from_the_layers_above_or_beside_the_store() -> None:
    package = Path(importers.__file__).parent
    offending = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offending += [
                f"{path.name}: {name}"
                for name in names
                if any(
                    name == f"meshmark_tasks.{layer}" or name.startswith(f"meshmark_tasks.{layer}.")
                    for layer in FORBIDDEN
                )
            ]
    assert offending == []
