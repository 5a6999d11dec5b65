"""The package's rooms and who may import whom (the README's "Layout").

Production code — everything in skills_pipeline outside local/, and the DAG files — never imports the local tools
(demo runner, local stack, generator, embedded server): a deployed worker does not install their dependencies, and
a production path that can reach them is how a worker once started a private database. The command line (cli/) is
the one composition root: it may reach the local verbs, inside the functions that run them.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

from skills_pipeline import settings

ROOT = settings.project_root()
PACKAGE_DIR = ROOT / "plugins" / "skills_pipeline"
LOCAL = "skills_pipeline.local"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(imported skills_pipeline module, imported at module level) for each import that runs; TYPE_CHECKING-only
    imports are left out (they never execute)."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, top_level) for alias in node.names if alias.name.startswith("skills_pipeline"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("skills_pipeline"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.append((candidate if candidate in MODULES else node.module, top_level))
        inner = top_level and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


def room(module: str) -> str:
    """skills_pipeline.ingest.loader -> ingest; a top-level module is a room of its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_import_cycles_between_rooms_or_between_modules():
    rooms: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for imported, _ in imports_of(path):
            modules.setdefault(name, set()).add(imported)
            if room(imported) != room(name):
                rooms.setdefault(room(name), set()).add(room(imported))
    for graph in (rooms, modules):
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as cycle:
            pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_production_code_never_imports_the_local_tools():
    offenders = []
    dag_files = {f"dags/{p.name}": p for p in sorted((ROOT / "dags").glob("*.py"))}
    for name, path in {**MODULES, **dag_files}.items():
        if name.startswith(LOCAL):
            continue
        for imported, top_level in imports_of(path):
            if not imported.startswith(LOCAL):
                continue
            if name.startswith("skills_pipeline.cli") and not top_level:
                continue  # a local verb (run, stack, generate) imports its tool when it runs
            offenders.append(f"{name} imports {imported}" + (" at module level" if top_level else ""))
    assert offenders == []


def test_the_rooms_are_the_documented_ones():
    """A new top-level module or package is a decision: the README's layout table names each room."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rooms = {room(name) for name in MODULES if name != "skills_pipeline"}
    undocumented = sorted(r for r in rooms if f"| `{r}` |" not in readme)
    assert undocumented == []


def test_a_deployed_worker_imports_every_production_module_without_the_local_dependencies():
    """A worker installs requirements/worker.txt only: pgserver and the test tools are absent there."""
    production = sorted(n for n in MODULES if not n.startswith(LOCAL))
    script = (
        "import sys\n"
        "for blocked in ('pgserver', 'hypothesis', 'pytest', 'sqlfluff'):\n"
        "    sys.modules[blocked] = None  # any import of it raises ImportError\n"
        "import importlib\n"
        f"for name in {production!r}:\n"
        "    importlib.import_module(name)\n"
        "from skills_pipeline import cli\n"
        "cli.build_parser().parse_args(['ledger'])\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_the_local_dependencies_are_not_in_the_worker_requirements():
    worker = (ROOT / "requirements" / "worker.txt").read_text(encoding="utf-8").lower()
    pinned = {line.split("==")[0].strip() for line in worker.splitlines() if "==" in line}
    assert {"pgserver", "pytest", "hypothesis", "ruff", "sqlfluff"}.isdisjoint(pinned)
    assert {"apache-airflow", "great-expectations", "dbt-core", "psycopg"} <= pinned


def test_the_packages_declared_dependencies_are_what_a_worker_installs():
    """pyproject.toml's dependencies and requirements/worker.in (compiled to the pins a worker installs) name the
    same packages: a library added to one and not the other is missing from a wheel install or from the image."""
    import re
    import tomllib

    def names(lines) -> set[str]:
        return {re.split(r"[\[=<>~! ;]", line.strip())[0].lower() for line in lines}

    declared = names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    worker_in = (ROOT / "requirements" / "worker.in").read_text().splitlines()
    installed = names(line for line in worker_in if line.strip() and not line.lstrip().startswith(("#", "-")))
    assert declared == installed, {
        "only in pyproject.toml": declared - installed,
        "only in worker.in": installed - declared,
    }
