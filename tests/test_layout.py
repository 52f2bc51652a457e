"""The installed distribution lives in one namespace and never shadows other packages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str, cwd: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if extra_path:
        env["PYTHONPATH"] = str(extra_path)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_folders_are_mapped_into_semcgcnn_namespace():
    import semcgcnn.cli
    import semcgcnn.datasets
    import semcgcnn.model
    import semcgcnn.pipeline
    import semcgcnn.workflows

    repo = Path(__file__).resolve().parents[1]  # the test command installs this checkout in editable mode
    for module, folder in (
        (semcgcnn.model, "model"),
        (semcgcnn.datasets, "datasets"),
        (semcgcnn.pipeline, "pipeline"),
        (semcgcnn.workflows, "workflows"),
        (semcgcnn.cli, "semcgcnn/cli"),
        (semcgcnn, "semcgcnn"),
    ):
        assert Path(module.__file__).parent == repo / folder, module.__name__


def test_bare_names_are_not_ours(tmp_path):
    # from a neutral directory, nothing of ours answers to the bare top-level names
    out = _run(
        """
        import importlib.util
        for name in ("model", "datasets", "pipeline", "workflows"):
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec else None
            print(name, origin)
        """,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        name, origin = line.split(" ", 1)
        assert origin == "None", f"bare {name!r} resolves to {origin}"


def test_standin_datasets_package_coexists(tmp_path):
    # a stand-in for Hugging Face `datasets` installed on the path keeps its name
    pkg = tmp_path / "site" / "datasets"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("HF_STANDIN = True\ndef load_dataset(name):\n    return name\n")
    out = _run(
        """
        import datasets
        import semcgcnn.datasets as ours
        assert datasets.HF_STANDIN and datasets.load_dataset("x") == "x"
        assert ours.load is not None and ours is not datasets
        print(datasets.__file__); print(ours.__file__)
        """,
        cwd=tmp_path,
        extra_path=tmp_path / "site",
    )
    assert out.returncode == 0, out.stderr
    hf_file, ours_file = out.stdout.split()
    assert hf_file.startswith(str(tmp_path / "site"))
    assert "site" not in Path(ours_file).parts[-3:-1]


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("semcgcnn")
    assert exe.exists()
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "featurize" in out.stdout
