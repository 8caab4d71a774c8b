"""Every notebook in notebooks/ runs headless, top to bottom, on this interpreter.

Each runs from a copy in a temporary directory, so outputs are never written back into the repo,
with the repository root on PYTHONPATH so that `from training.data import ...` works there too.
Notebooks read the data directory; without one they are skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 120
KERNEL_START_TIMEOUT_S = 60

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _data_dir_or_skip() -> Path:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from training.data.paths import DataError, resolve_data_dir

    try:
        return resolve_data_dir()
    except DataError as error:
        pytest.skip(f"notebooks need the data directory: {error}")


def _kernel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the kernel this interpreter, with the repository importable and a headless backend."""
    # The `python3` kernelspec runs `python -m ipykernel_launcher`; jupyter_client swaps a bare
    # `python` for sys.executable, but put this interpreter first on PATH in case the spec differs.
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _execute(notebook_path: Path, workdir: Path) -> "nbformat.NotebookNode":
    copy = workdir / notebook_path.name
    shutil.copy2(notebook_path, copy)
    notebook = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        startup_timeout=KERNEL_START_TIMEOUT_S,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def test_kernel_runs_this_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _kernel_environment(monkeypatch)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    nbformat.write(notebook, tmp_path / "probe.ipynb")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    executed = _execute(tmp_path / "probe.ipynb", run_dir)
    printed = executed.cells[0].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()


def _needs_model(notebook_path: Path) -> bool:
    """Notebooks that analyse the trained default model say so in their metadata."""
    metadata = nbformat.read(notebook_path, as_version=4).metadata
    return bool(metadata.get("tweet_triage", {}).get("needs_model"))


@pytest.mark.parametrize(
    "notebook_path",
    [pytest.param(path, marks=pytest.mark.slow) if _needs_model(path) else path for path in NOTEBOOKS],
    ids=[path.name for path in NOTEBOOKS],
)
def test_notebook_runs_headless(
    notebook_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    _data_dir_or_skip()
    _kernel_environment(monkeypatch)
    if _needs_model(notebook_path):
        monkeypatch.setenv("TRIAGE_MODEL_DIR", str(request.getfixturevalue("default_model_dir").resolve()))
    before = notebook_path.read_bytes()
    _execute(notebook_path, tmp_path)
    assert notebook_path.read_bytes() == before, "running the notebook must not write into the repository"


@pytest.mark.parametrize("notebook_path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_is_saved_without_outputs(notebook_path: Path) -> None:
    # Outputs would put tweet texts (and their licences) into the repository.
    notebook = nbformat.read(notebook_path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"cell {index} has outputs"
