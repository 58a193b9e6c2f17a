"""The package's modules form a graph without cycles, and each one imports on its own.

Every import counts, also one inside a function: a cycle hidden in a function body still loads modules half-made
when the function first runs, and makes it unclear which module depends on which (README "How the code is
organised" draws the graph).
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "lora_course"


def imported_modules(path: Path, package: str) -> set[str]:
    """Modules of `package` that the file at `path` imports, anywhere in it (`from .x import y`, `from . import x`,
    `import package.x`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1 or node.module == package:
                found |= {alias.name for alias in node.names if (path.parent / f"{alias.name}.py").exists()}
            elif node.module and node.module.startswith(package + "."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith(package + ".")}
    return found - {path.stem}


def import_graph(folder: Path) -> dict[str, set[str]]:
    return {path.stem: imported_modules(path, folder.name) for path in sorted(folder.glob("*.py"))}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None (depth-first search)."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert len(graph) >= 15 and graph["training"] >= {"data", "models", "memory"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_readme_draws_the_graph_the_code_has():
    """README's "How the code is organised" table: every module once, its imports as the code has them, and only
    modules listed above it (so the table reads top-down with no forward reference)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## How the code is organised"):]
    section = section[:section.index("\n## ", 1)]
    rows = re.findall(r"^\| `(\w+)` \|.*\| (.+) \|$", section, re.M)
    drawn = {module: set(re.findall(r"`(\w+)`", imports)) for module, imports in rows}
    actual = {module: targets for module, targets in import_graph(PACKAGE).items() if module != "__init__"}
    assert [module for module, _ in rows] == list(dict.fromkeys(module for module, _ in rows))
    assert drawn == actual
    order = [module for module, _ in rows]
    for position, module in enumerate(order):
        assert drawn[module] <= set(order[:position]), f"{module} imports a module listed below it"


def test_a_cycle_hidden_inside_a_function_is_found(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from pkg import c\n")
    (package / "c.py").write_text("def g():\n    import pkg.a\n")
    (package / "d.py").write_text("from . import a, c\n")
    graph = import_graph(package)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "c"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    (package / "c.py").write_text("import json\n")
    assert find_cycle(import_graph(package)) is None


@pytest.mark.parametrize("module", sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"))
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    done = subprocess.run([sys.executable, "-c", f"import lora_course.{module}"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
