"""The package's modules, and the grader's, form graphs without cycles; each package module imports on its own.

Every import counts, also one inside a function: a cycle hidden in a function body still loads modules half-made
when the function first runs, and makes it unclear which module depends on which (README "How the code is
organised" draws both graphs, next to the architecture, within its first 100 lines).

The grader's modules (grader/*.py) are not a package: its scripts run with grader/ on sys.path, so they import each
other as top-level modules (`import sandbox`, `from limits import limits`).
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "lora_course"
GRADER = REPO / "grader"
README = REPO / "README.md"
CODE_SECTION = "## How the code is organised"
PACKAGE_TABLE = "### The package: `src/lora_course/`"
GRADER_TABLE = "### The grader: `grader/`"


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


def script_imports(path: Path, modules: set[str]) -> set[str]:
    """Which of `modules` (the files beside it, imported as top-level modules) the file at `path` imports, anywhere
    in it (`import x`, `import x.y`, `from x import y`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return (found & modules) - {path.stem}


def script_graph(folder: Path) -> dict[str, set[str]]:
    """The import graph of a folder of scripts that import each other by name (grader/)."""
    paths = sorted(folder.glob("*.py"))
    return {path.stem: script_imports(path, {p.stem for p in paths}) for path in paths}


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
    assert len(graph) >= 15 and graph["training"] >= {"dataset", "models", "memory", "prompts"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def readme_table(heading: str) -> list[tuple[str, str]]:
    """The rows `| `module` | its job | imports |` under `heading`, down to the next heading, in README's order."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(CODE_SECTION):]
    section = section[:section.index("\n## ", 1)]
    table = section[section.index(heading) + len(heading):]
    table = table[:table.index("\n#")] if "\n#" in table else table
    return re.findall(r"^\| `(\w+)` \|.*\| (.+) \|$", table, re.M)


def check_drawn(rows: list[tuple[str, str]], actual: dict[str, set[str]]) -> None:
    """Every module once, its imports as the code has them, and only modules listed above it (so the table reads
    top-down with no forward reference)."""
    drawn = {module: set(re.findall(r"`(\w+)`", imports)) for module, imports in rows}
    assert [module for module, _ in rows] == list(dict.fromkeys(module for module, _ in rows))
    assert drawn == actual
    order = [module for module, _ in rows]
    for position, module in enumerate(order):
        assert drawn[module] <= set(order[:position]), f"{module} imports a module listed below it"


def test_readme_draws_the_graph_the_code_has():
    """README's "How the code is organised", the package's table: the import graph of src/lora_course/."""
    actual = {module: targets for module, targets in import_graph(PACKAGE).items() if module != "__init__"}
    check_drawn(readme_table(PACKAGE_TABLE), actual)


def test_the_grader_has_no_import_cycle():
    graph = script_graph(GRADER)
    assert len(graph) >= 10 and graph["pipeline"] >= {"sandbox", "verdict", "release"}
    assert graph["nbgrader_config"] == {"feedback"}  # it puts grader/ on sys.path itself
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_readme_draws_the_grader_graph_the_code_has():
    """README's "How the code is organised", the grader's table: the import graph of grader/*.py."""
    check_drawn(readme_table(GRADER_TABLE), script_graph(GRADER))


def test_the_architecture_and_the_code_tables_start_in_the_first_100_lines():
    """A newcomer meets the architecture (the two data flows) and the module tables before the guides."""
    lines = README.read_text(encoding="utf-8").splitlines()
    starts = {heading: next((number for number, line in enumerate(lines, 1) if line == heading), None)
              for heading in ("## Architecture", CODE_SECTION)}
    assert all(number is not None and number <= 100 for number in starts.values()), starts
    assert starts["## Architecture"] < starts[CODE_SECTION]


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


def test_a_cycle_among_scripts_hidden_inside_a_function_is_found(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from c import g\n")
    (tmp_path / "c.py").write_text("import json, os.path\ndef g():\n    import a.x\n")
    (tmp_path / "d.py").write_text("from a import y\nfrom . import c\n")  # a relative import is no script's
    graph = script_graph(tmp_path)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    (tmp_path / "c.py").write_text("import json\n")
    assert find_cycle(script_graph(tmp_path)) is None


@pytest.mark.parametrize("module", sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"))
def test_each_module_imports_alone_in_a_fresh_interpreter(module):
    done = subprocess.run([sys.executable, "-c", f"import lora_course.{module}"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
