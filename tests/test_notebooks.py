"""The planners' notebooks run end to end (nbclient), without errors, each within a timeout."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: Seconds a single cell may take.
CELL_TIMEOUT_S = 120


def test_notebooks_are_committed_without_outputs() -> None:
    books = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert len(books) == 4
    for path in books:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert not cell.outputs, f"{path.name} holds outputs"
                assert cell.execution_count is None, f"{path.name} holds execution counts"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_runs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [
        out
        for cell in book.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors


def test_what_planners_read_is_simplified_chinese() -> None:
    """Notebook text and the CLI's help quote Chinese terms in Simplified characters (网格, not
    網格); Traditional is accepted as input, never written."""
    import opencc  # noqa: PLC0415 - only this test needs it

    from gis.cli import app  # noqa: PLC0415

    to_simplified = opencc.OpenCC("t2s").convert
    texts = [str(app.info.help)]
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        texts += [cell.source for cell in nbformat.read(path, as_version=4).cells]
    traditional = [t for t in texts if to_simplified(t) != t]
    assert not traditional, traditional[:3]
