"""The formgrader as an instructor opens it (`grader/course.py formgrader`, a real JupyterLab server): its Edit and
Preview links lead to notebooks, no exchange warning, and a submission's grading page opens."""

import json
import os
import posixpath
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))

NOTEBOOK = "01_dataset_preparation"
TOKEN = "formgrader-test"
pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("formgrader") / "work"
    env = {**os.environ, "LORA_COURSE_GRADER_DIR": str(work)}
    run = [sys.executable, str(REPO / "grader" / "course.py")]
    subprocess.run([*run, "demo", "--only", NOTEBOOK], env=env, check=True, capture_output=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([*run, "formgrader", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
                                f"--IdentityProvider.token={TOKEN}"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            get(base, "/api/status")
            break
        except OSError:
            time.sleep(0.5)
    yield base
    process.terminate()
    process.wait(timeout=30)
    with pytest.raises(OSError):  # the server itself stopped, not only the script that started it
        get(base, "/api/status")


def get(base: str, path: str) -> str:
    request = urllib.request.Request(base + path, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode()


def test_edit_and_preview_links_open_the_notebooks(server):
    page = get(server, "/formgrader/manage_assignments")
    assert "warning-exchange" not in page and "does not exist" not in page
    url_prefix = re.search(r'var url_prefix = "(.*?)";', page).group(1)
    assignments = {a["name"]: a for a in json.loads(get(server, "/formgrader/api/assignments"))}
    for key in ("source_path", "release_path"):  # the Edit and Preview links (manage_assignments.js)
        folder = posixpath.normpath(f"{url_prefix}/{assignments[NOTEBOOK][key]}")
        listing = json.loads(get(server, f"/api/contents/{folder}"))
        assert f"{NOTEBOOK}.ipynb" in {item["name"] for item in listing["content"]}, (key, folder)


def test_the_grading_page_opens_a_submission(server):
    (submission,) = json.loads(get(server, f"/formgrader/api/submitted_notebooks/{NOTEBOOK}/{NOTEBOOK}"))
    page = get(server, f"/formgrader/submissions/{submission['id']}/")
    assert "test_validate_dataset_visible" in page
