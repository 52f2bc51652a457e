"""Inference stands apart from training, and no private name crosses a module boundary.

Read from the source (no import), so an import anywhere in a module - even inside a function -
counts: prediction, ensembles' loading and calibration, applicability, checkpoints and embeddings
never import ``semcgcnn.model.training``, and no module imports another module's ``_private``
name (nor reads one as ``module._name``). A package's private submodule (``_pymatgen_private.py``)
may be imported by the modules of that package only.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = {
    "semcgcnn": "semcgcnn",
    "datasets": "semcgcnn.datasets",
    "model": "semcgcnn.model",
    "pipeline": "semcgcnn.pipeline",
    "workflows": "semcgcnn.workflows",
}
SCANNED = (*NAMESPACE, "studies", "bench", "scripts")
TRAINING = "semcgcnn.model.training"


def module_of(path: Path) -> tuple[str, bool]:
    """(dotted module name, whether it is a package's ``__init__``) of a source file."""
    rel = path.relative_to(REPO).parts
    parts = NAMESPACE.get(rel[0], rel[0]).split(".") + list(rel[1:-1])
    is_init = rel[-1] == "__init__.py"
    return ".".join(parts if is_init else [*parts, rel[-1].removesuffix(".py")]), is_init


def sources(folders=SCANNED) -> list[Path]:
    return sorted(p for f in folders if (REPO / f).is_dir() for p in (REPO / f).rglob("*.py"))


def known_modules() -> set[str]:
    return {module_of(p)[0] for p in sources()}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def imports(tree: ast.AST, module: str, is_init: bool) -> list[tuple[int, str, list[str]]]:
    """Every import of ``tree`` as (line, absolute module, names taken from it; [] for ``import X``)."""
    package = module.split(".") if is_init else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (
                ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                if node.level
                else node.module
            )
            found.append((node.lineno, base, [a.name for a in node.names]))
    return found


def training_imports(source: str, module: str, is_init: bool = False) -> list[str]:
    """The imports of ``source`` that reach ``semcgcnn.model.training`` (a submodule, or the name
    ``training`` taken from ``semcgcnn.model``)."""
    bad = []
    for line, base, names in imports(ast.parse(source), module, is_init):
        targets = [base] + [f"{base}.{n}" for n in names]
        if any(t == TRAINING or t.startswith(TRAINING + ".") for t in targets):
            bad.append(f"{module}:{line} imports {base} {names or ''}".rstrip())
    return bad


def private_imports(source: str, module: str, is_init: bool, modules: set[str]) -> list[str]:
    """Private names ``source`` (module ``module``) takes from another module: ``from X import _y``
    and ``import X._y`` (a private submodule is allowed inside its own package), ``from X._m import y``
    outside ``X``, and ``m._y`` on a name bound by an import from this package (``semcgcnn``; other
    libraries' private attributes are theirs). ``modules``: every module of the scanned sources."""
    tree = ast.parse(source)
    package = module if is_init else module.rpartition(".")[0]

    def inside(owner: str) -> bool:  # module lives in package ``owner`` (or is it)
        return package == owner or package.startswith(owner + ".")

    def private_path(dotted: str) -> bool:  # a private module on the path, seen from outside its package
        parts = dotted.split(".")
        return any(_private(p) and not inside(".".join(parts[:i])) for i, p in enumerate(parts) if i)

    bad, ours = [], set()
    for line, base, names in imports(tree, module, is_init):
        if not names:  # import X.Y
            if private_path(base):
                bad.append(f"{module}:{line} imports {base}")
            continue
        if private_path(base):
            bad.append(f"{module}:{line} imports from {base}")
        for name in names:
            if _private(name) and base != module and not (f"{base}.{name}" in modules and inside(base)):
                bad.append(f"{module}:{line} imports {name} from {base}")
    for node in ast.walk(tree):  # the names bound by imports from the package
        if isinstance(node, ast.Import):
            ours |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("semcgcnn")}
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("semcgcnn")):
            ours |= {a.asname or a.name for a in node.names}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in ours
        ):
            bad.append(f"{module}:{node.lineno} reads {node.value.id}.{node.attr}")
    return bad


def test_inference_never_imports_training():
    bad, seen = [], 0
    for path in sources(("model",)):
        module, is_init = module_of(path)
        if module == TRAINING or module.startswith(TRAINING + "."):
            continue
        seen += 1
        bad += training_imports(path.read_text(), module, is_init)
    assert (
        seen >= 15
    )  # predict, predict_files, inference, ensemble, applicability, checkpoint, embeddings, ...
    assert bad == []


def test_the_training_checker_sees_relative_lazy_and_attribute_imports():
    lazy = "def f():\n    from .training.finetune import finetune\n"
    assert training_imports(lazy, "semcgcnn.model.ensemble") != []
    assert training_imports("from . import training\n", "semcgcnn.model.predict") != []
    assert training_imports("import semcgcnn.model.training.train as t\n", "semcgcnn.model.x") != []
    assert (
        training_imports("from .train import train\n", "semcgcnn.model.training.ensemble") != []
    )  # resolved
    assert training_imports("from .checkpoint import load_checkpoint\n", "semcgcnn.model.ensemble") == []


def test_no_private_name_crosses_a_module():
    modules = known_modules()
    bad = []
    for path in sources():
        module, is_init = module_of(path)
        bad += private_imports(path.read_text(), module, is_init, modules)
    assert len(modules) > 60
    assert bad == []


def test_the_private_name_checker_sees_every_form():
    modules = {
        "semcgcnn.model.graphs",
        "semcgcnn.pipeline.slabs._pymatgen_private",
        "semcgcnn.pipeline.slabs",
    }

    def check(src: str, module: str = "semcgcnn.model.data", is_init: bool = False) -> list:
        return private_imports(src, module, is_init, modules)

    assert check("from .graphs import _ranges\n") != []
    assert check("def f():\n    from semcgcnn.model.graphs import _ranges\n") != []  # lazy
    assert check("from semcgcnn.model import graphs\nx = graphs._ranges\n") != []  # attribute
    assert check("import semcgcnn.model.graphs as g\nx = g._ranges\n") != []
    assert check("from . import _helper\n", "semcgcnn.model.ensemble") != []  # a private name of __init__
    assert check("from . import _helper\n", "semcgcnn.model", is_init=True) == []  # its own name
    assert check("from . import _pymatgen_private as p\n", "semcgcnn.pipeline.slabs.compound") == []
    assert (
        check("from semcgcnn.pipeline.slabs import _pymatgen_private\n", "semcgcnn.pipeline.screen.run") != []
    )
    assert check("from semcgcnn.pipeline.slabs._pymatgen_private import f\n", "semcgcnn.model.data") != []
    assert check("import os\nos._exit(0)\n") == []  # another library's private names are its own business
    assert check("def _own():\n    pass\n\n_own()\n") == []
