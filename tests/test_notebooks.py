"""Every notebook runs top to bottom, so none of them rots.

The notebooks are committed with their outputs, so they read on GitHub without running;
``python tests/test_notebooks.py`` runs them again and saves them. The slow tests never look at
those saved outputs: they clear them and run each notebook fresh, in its own folder as Jupyter
does, with a temporary folder of their own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]

Run = tuple[nbformat.NotebookNode, set[str]]


def run_notebook(path: Path) -> nbformat.NotebookNode:
    """Run a notebook fresh in its own folder; what it printed last time plays no part."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no timestamps in the saved notebooks
    )
    client.execute()
    return notebook


def _checkout_files() -> set[str]:
    """The checkout's files and folders, less hidden ones, caches and virtual environments."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and d != "__pycache__"
            and not Path(folder, d, "pyvenv.cfg").exists()
        ]
        here = Path(folder).relative_to(ROOT)
        found.update(str(here / name) for name in dirs + files)
    return found


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]


def _stream(notebook: nbformat.NotebookNode, name: str) -> str:
    return "".join(
        o.text for o in _outputs(notebook) if o.output_type == "stream" and o.name == name
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Run]:
    """Run a notebook once per session: the notebook as run, and what it added to the checkout."""
    runs: dict[Path, Run] = {}

    def run(path: Path) -> Run:
        if path not in runs:
            with pytest.MonkeyPatch.context() as env:
                # The kernel's tempfile folder: the notebooks' scratch lands here, then goes.
                env.setenv("TMPDIR", str(tmp_path_factory.mktemp(path.stem)))
                before = _checkout_files()
                notebook = run_notebook(path)
                runs[path] = (notebook, _checkout_files() - before)
        return runs[path]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs(path: Path, run: Callable[[Path], Run]) -> None:
    notebook, _ = run(path)
    errors = [o for o in _outputs(notebook) if o.output_type == "error"]
    assert not errors
    # A warning (TqdmWarning: IProgress not found, a FutureWarning, ...) is printed to stderr.
    assert _stream(notebook, "stderr") == "", "a cell printed to stderr"
    images = [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]
    assert images, "every notebook shows at least one plot"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_leaves_nothing_in_the_checkout(path: Path, run: Callable[[Path], Run]) -> None:
    _, added = run(path)
    tops = sorted(p for p in added if str(Path(p).parent) not in added)
    assert not tops, f"running {path.name} left these in the checkout: {tops}"


@pytest.mark.slow
def test_quickstart_plots_every_audience_by_its_number_of_variants(
    run: Callable[[Path], Run],
) -> None:
    """Audiences with no variants count too: they are bars at 0, not left out."""
    notebook, _ = run(ROOT / "notebooks" / "quickstart.ipynb")
    sample = sum(len(json.loads(p.read_bytes())) for p in (ROOT / "data" / "unless").glob("*.json"))
    plotted = re.search(r"(\d+) of (\d+) audiences plotted", _stream(notebook, "stdout"))
    assert plotted, "the quickstart says how many audiences its variants chart shows"
    assert (int(plotted[1]), int(plotted[2])) == (sample, sample)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_saved_with_its_outputs(path: Path) -> None:
    """GitHub shows a notebook as saved: every code cell run in order, plots included."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    hint = "run `python tests/test_notebooks.py` to run the notebooks and save them"
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), hint
    assert any("image/png" in o.get("data", {}) for o in _outputs(notebook)), hint
    assert not [o for o in _outputs(notebook) if o.output_type == "error"]
    assert _stream(notebook, "stderr") == ""
    # Nothing of the machine that ran them: its checkout's path, or when each cell ran.
    text = path.read_text(encoding="utf-8")
    assert str(ROOT) not in text
    assert "site-packages" not in text
    assert "iopub.execute_input" not in text


def test_there_are_notebooks() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "audit"}


if __name__ == "__main__":
    for path in NOTEBOOKS:
        nbformat.write(run_notebook(path), path)
        print(f"saved {path.relative_to(ROOT)} with its outputs")
