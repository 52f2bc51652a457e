"""The package's layers import only downward: utilities < datasets < model < pipeline < workflows < CLI.

Read from the source (no import), so a wrong-way import anywhere in a module - even inside a
function - fails here. Studies (``studies/``), benchmarks and scripts are outside the library.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RANK = {"util": 0, "datasets": 1, "model": 2, "pipeline": 3, "workflows": 4, "cli": 5}
FOLDERS = ("semcgcnn", "datasets", "model", "pipeline", "workflows")


def layer_of_file(path: Path) -> str:
    rel = path.relative_to(REPO).parts
    if rel[0] != "semcgcnn":
        return rel[0]
    return "cli" if rel[1] == "cli" or rel[-1] == "__main__.py" else "util"


def layer_of_module(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "semcgcnn":
        return None
    if len(parts) == 1:
        return "util"
    return parts[1] if parts[1] in RANK else "cli" if parts[1] == "cli" else "util"


def imported_modules(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    layer = layer_of_file(path)
    package = (
        ["semcgcnn"]
        + ([] if layer in ("util", "cli") else [layer])
        + list(path.relative_to(REPO).parts[1:-1])
    )
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module)
    return names


def package_sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (REPO / folder).rglob("*.py"))


def test_every_import_runs_downward():
    wrong = []
    for path in package_sources():
        here = layer_of_file(path)
        for name in imported_modules(path):
            there = layer_of_module(name)
            if there and RANK[there] > RANK[here]:
                wrong.append(f"{path.relative_to(REPO)} ({here}) imports {name} ({there})")
    assert len(package_sources()) > 40
    assert wrong == []


def test_the_checker_sees_relative_and_lazy_imports():
    # the checker itself: a relative import inside pipeline/ and a lazy CLI import are both resolved
    pipeline_run = REPO / "pipeline" / "screen" / "run.py"
    assert "semcgcnn.pipeline.screen.store" in imported_modules(pipeline_run)
    assert layer_of_module("semcgcnn.cli.screen") == "cli" and layer_of_module("semcgcnn.schema") == "util"
    assert layer_of_file(REPO / "semcgcnn" / "cli" / "screen.py") == "cli"


def test_library_code_writes_nowhere_in_the_repository():
    # output paths are arguments: no installed module names the repository's reports/ folder
    offenders = [
        str(p.relative_to(REPO))
        for p in package_sources()
        if '"reports/' in p.read_text() or "'reports/" in p.read_text()
    ]
    assert offenders == []


def test_only_the_studies_tests_import_study_scripts():
    # a study script is no library: the tests of other folders import the package, never studies/*.py
    studies = {p.stem for p in (REPO / "studies").glob("*.py")}
    tests = REPO / "tests"
    offenders = []
    for path in sorted(tests.rglob("*.py")):
        if path.is_relative_to(tests / "studies"):
            continue
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [
            n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level and n.module
        ]
        offenders += [
            f"{path.relative_to(REPO)} imports {name}" for name in names if name.split(".")[0] in studies
        ]
    assert len(studies) > 10 and offenders == []


def test_pipeline_never_imports_atomate2():
    # atomate2 (its Makers, input sets, settings) is workflow-layer work: the pipeline stays pure
    sources = sorted((REPO / "pipeline").rglob("*.py"))
    offenders = [
        f"{p.relative_to(REPO)} imports {name}"
        for p in sources
        for name in imported_modules(p)
        if name.split(".")[0] == "atomate2"
    ]
    assert len(sources) > 20 and offenders == []
    # the checker sees atomate2 where it is imported, lazily or not
    assert "atomate2.vasp.sets.base" in imported_modules(REPO / "workflows" / "labelling" / "vasp.py")
    assert "atomate2.forcefields.jobs" in imported_modules(REPO / "workflows" / "labelling" / "forcefield.py")
