"""The committed release notebooks are saved as JupyterLab saves them, so opening one (or Validate, which saves
first) changes nothing: full kernel metadata, no outputs, nbformat's layout. `grader/course.py release` writes
them so (`save_as_jupyterlab`); if these fail after a source change, run `make release` and commit."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grader"))
import release  # noqa: E402

from lora_course.nbgrader_course import ASSIGNMENTS  # noqa: E402

# What ipykernel's python3 kernel reports, except `version` (the Python the release was made with).
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3"}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_notebook_is_saved_as_jupyterlab_would_save_it(name):
    path = REPO / "notebooks" / name / f"{name}.ipynb"
    text = path.read_text(encoding="utf-8")
    notebook = nbformat.reads(text, as_version=4)
    assert notebook.metadata.kernelspec == release.KERNELSPEC
    info = dict(notebook.metadata.language_info)
    version = info.pop("version", "")
    assert info == LANGUAGE_INFO, f"{name}: partial language_info, JupyterLab rewrites it: run `make release`"
    # a full X.Y.Z as the kernel sends it; which one is the release machine's choice, not this machine's
    assert re.fullmatch(r"3\.\d+\.\d+", version), version
    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)
    for cell in notebook.cells:
        assert cell.get("id"), f"{name}: a cell without an id"
        if cell.cell_type == "code":
            assert cell.execution_count is None and cell.outputs == [], f"{name}: cell {cell.id} has outputs"
    assert text == nbformat.writes(notebook) + "\n", f"{name}: not in nbformat's layout (indent 1, sorted keys)"


def test_kernel_language_info_is_what_the_kernel_sends():
    """release() writes ipykernel's dict without starting a kernel; a real kernel's kernel_info_reply agrees."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.kernel_info(reply=True, timeout=60)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["language_info"] == release.kernel_language_info()
    assert {k: v for k, v in release.kernel_language_info().items() if k != "version"} == LANGUAGE_INFO


def test_save_as_jupyterlab_fills_the_metadata_and_drops_outputs(tmp_path):
    notebook = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python", "version": "3.11"}})
    cell = nbformat.v4.new_code_cell("print('é')", execution_count=3)
    cell.outputs = [nbformat.v4.new_output("stream", text="é\n")]
    notebook.cells = [nbformat.v4.new_markdown_cell("# é"), cell]
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, path)
    release.save_as_jupyterlab(path)
    saved = nbformat.read(path, as_version=4)
    assert saved.metadata.language_info == release.kernel_language_info()
    assert saved.metadata.kernelspec == release.KERNELSPEC
    assert saved.cells[1].outputs == [] and saved.cells[1].execution_count is None
    assert '"# é"' in path.read_text(encoding="utf-8") and path.read_text(encoding="utf-8").endswith("}\n")
