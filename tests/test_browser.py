"""The learner's handout in a real browser: headless Chromium driven by Selenium, against JupyterLab started in the
unpacked handout as its `make lab` starts it (this repository's .venv stands in for the learner's).

A. Notebook 01 with the reference answers in its solution cells: one written answer is typed in the browser,
   Run → Run All Cells, every code cell gets an execution count and none shows an error, a last cell quotes the typed
   answer through `written_answers` without anyone saving (notebooks 3 and 5 do this), then nbgrader's Validate
   button in the notebook toolbar reports success (its dialog's own text is read).
B. Notebook 03's playground (ipywidgets): an adapter is put where notebook 02 leaves it, the cells the playground
   needs are run one by one, a question is typed into the widget and Compare pressed; an answer appears, with no
   "Error displaying widget" and no traceback on the page.

The adapter of B is trained on the `tiny` model (a random 2-layer Llama; its run.json makes notebook 03 load the same
base), so the cells before the playground, which answer 18 questions with both models, take seconds instead of
minutes: the answers are noise, what is checked is the way from the text box to the kernel and back.

LORA_COURSE_BROWSER_ALL=1 adds the manual full check: all five notebooks of a fresh handout filled with the reference
answers, each validated with the toolbar button, 01 to 05 in order, on the bundled model (5 minutes on 2 idle cores;
much longer, and past the cell time limit in notebook 02, when other processes share the cores).

Skipped without chromium and chromedriver, unless CI is set (CI runs `make setup`, which installs them as root).
Screenshots and the browser's console log go to outputs/browser/.
"""

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

from lora_course.nbgrader_course import ASSIGNMENTS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "grader"))
from release import filled_release  # noqa: E402

BIN = REPO / ".venv" / "bin" if (REPO / ".venv" / "bin" / "jupyter").is_file() else Path(sys.executable).parent
SHOTS = REPO / "outputs" / "browser"
TOKEN = "browser-test"
TOP = "lora-course"  # the handout's top folder (grader/handout.py)
INSTALL = "install chromium and chromium-driver: sudo apt install chromium chromium-driver"
# Set by the caller's make or shell, or by conftest.py (LORA_COURSE_MODEL=tiny): a learner's machine has none.
NOT_A_LEARNERS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VIRTUAL_ENV", "PYTHONPATH",
                  "LORA_COURSE_MODEL", "LORA_COURSE_DATA", "JUPYTER_PATH")
EVERY_NOTEBOOK = os.environ.get("LORA_COURSE_BROWSER_ALL") == "1"
SUCCESS = "Success! Your notebook passes all the tests."  # nbgrader's labextension, validate dialog
ERROR_OUTPUT = '[data-mime-type="application/vnd.jupyter.error"]'
WIDGET_ERROR = "Error displaying widget"
# Notebook 03: the cells the playground needs, found by their source (each must match exactly one code cell), in
# notebook order; the solution cells (the learner's criteria) are run as well.
PLAYGROUND_NEEDS = ("lora_course.print_versions()",  # imports
                    "adapter_dir = next(",  # loads the adapter
                    "test_prompts = [", "def answer_all(",  # the answers the CRITERIA cell scores
                    "GREETINGS = (",  # the given phrase lists
                    "CRITERIA = {",
                    "playground = comparison_playground(")
QUESTION = "Can I pay for my TechCo tablet in monthly instalments?"

pytestmark = pytest.mark.browser


# --- the browser, the handout and its JupyterLab ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser_binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path)
        if os.environ.get("CI"):
            pytest.fail(f"{missing} not found, and CI is set (`make setup` installs them as root): {INSTALL}")
        pytest.skip(f"{missing} not found: {INSTALL}")
    return chromium, driver


@pytest.fixture(scope="module")
def driver(browser_binaries):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # given, with the driver's path: Selenium Manager never downloads anything
    for argument in ("--headless=new", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-gpu",
                     "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to start its sandbox as root
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    shutil.rmtree(SHOTS, ignore_errors=True)  # this run's screenshots only
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    browser.console = []  # every console entry of the session, read after each step
    try:
        yield browser
    finally:
        browser.quit()


def build_handout(into: Path) -> Path:
    """dist/handout.zip as `grader/handout.py` builds it, unpacked as a learner unpacks it; returns lora-course/."""
    archive = into / "handout.zip"
    done = subprocess.run([str(BIN / "python"), str(REPO / "grader" / "handout.py"), "--out", str(archive)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(into / "unpacked")
    assert [p.name for p in (into / "unpacked").iterdir()] == [TOP]
    return into / "unpacked" / TOP


def recipe(folder: Path, target: str) -> list[str]:
    """The commands of a target in the handout's Makefile (continued lines joined), with this repository's
    .venv/bin for `$(BIN)`."""
    lines = (folder / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(":")[0].strip() == target)
    commands = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        commands.append(re.sub(r"\s+", " ", line.strip()).replace("$(BIN)", str(BIN)).replace("$(CURDIR)", str(folder)))
    return commands


def lab_command(folder: Path) -> tuple[list[str], dict[str, str]]:
    """`make lab`'s command and any `NAME=value` in front of it."""
    commands = recipe(folder, "lab")
    assert len(commands) == 1, f"the handout's `make lab` is one command, not {commands}"
    assert "$(" not in commands[0], f"a make variable this test does not know in `make lab`: {commands[0]}"
    words, env = shlex.split(commands[0]), {}
    while re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[:2] == [str(BIN / "jupyter"), "lab"], commands[0]
    return words, env


def learner_extensions(folder: Path, config: Path) -> list[str]:
    """`make setup`'s `jupyter ... extension disable` lines (nbgrader's instructor tools off, Validate kept), run
    into `config` (a JUPYTER_CONFIG_DIR) instead of the learner's .venv: this repository's .venv stays as it is.
    Returns the lab extensions they disable."""
    disabled = []
    for command in recipe(folder, "$(VENV)/.ready"):
        if re.match(rf"{re.escape(str(BIN))}/jupyter (lab|server )extension disable ", command):
            words = [{"--level=sys_prefix": "--level=user", "--sys-prefix": "--user"}.get(w, w)
                     for w in shlex.split(command)]
            subprocess.run(words, env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)}, check=True,
                           capture_output=True, timeout=120)
            disabled += [w for w in words if w.startswith("@")]
    return disabled


def api(base: str, path: str, method: str = "GET"):
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode()
    return json.loads(body) if body else None


@contextlib.contextmanager
def jupyter_lab(folder: Path, settings: Path):
    """JupyterLab started in `folder` as its `make lab` does, plus test-only flags; yields its base URL. Stopped
    afterwards with every kernel it started (kernels live in their own sessions: shut down through the API first)."""
    import psutil

    command, make_env = lab_command(folder)
    disabled = learner_extensions(folder, settings / "config")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key not in NOT_A_LEARNERS}
    env.update(make_env, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",  # exported by the handout's Makefile
               JUPYTERLAB_SETTINGS_DIR=str(settings / "user-settings"),  # no news, no update check, nothing saved
               JUPYTERLAB_WORKSPACES_DIR=str(settings / "workspaces"),  # in the user's ~/.jupyter
               JUPYTER_CONFIG_DIR=str(settings / "config"))  # a fresh one, with `make setup`'s extension lines
    news = settings / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log = (settings / "jupyterlab.log").open("w")
    process = subprocess.Popen([*command, "--no-browser", "--ServerApp.open_browser=False", f"--port={port}",
                                "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
                                f"--IdentityProvider.token={TOKEN}", *(["--allow-root"] if os.geteuid() == 0 else [])],
                               cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                api(base, f"/api/status?token={TOKEN}")
                break
            except OSError:
                assert process.poll() is None, f"JupyterLab exited: {(settings / 'jupyterlab.log').read_text()[-3000:]}"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
                time.sleep(0.5)
        yield base, disabled
    finally:
        children = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(process.pid).children(recursive=True)
        with contextlib.suppress(OSError, ValueError):
            for kernel in api(base, "/api/kernels"):
                api(base, f"/api/kernels/{kernel['id']}", method="DELETE")
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        for child in children:  # a kernel the server could not shut down, by its own id
            with contextlib.suppress(psutil.Error):
                child.kill()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    folder = build_handout(root)
    with jupyter_lab(folder, root / "jupyter") as (base, disabled):
        yield base, folder, disabled


# --- driving JupyterLab ------------------------------------------------------------------------------------------

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def wait(driver, condition, timeout: float, message: str):
    """Poll condition(driver) until it is truthy; fail with `message` and a screenshot after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition(driver)
        if value:
            return value
        if time.monotonic() > deadline:
            shot(driver, "timeout")
            pytest.fail(f"{message} (after {timeout:.0f} s; screenshot outputs/browser/timeout.png)")
        time.sleep(0.5)


def shot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    return SHOTS / f"{name}.png"


def read_console(driver) -> list[dict]:
    """The console entries since the last read, kept on the driver; the whole session in outputs/browser/."""
    with contextlib.suppress(Exception):  # not every driver keeps a browser log
        driver.console += driver.get_log("browser")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "console.log").write_text("".join(f"{e['level']} {e['message']}\n" for e in driver.console))
    return [entry for entry in driver.console if entry["level"] == "SEVERE"]


def kernels_idle(base: str) -> bool:
    kernels = api(base, "/api/kernels")
    return bool(kernels) and all(kernel["execution_state"] == "idle" for kernel in kernels)


def open_notebook(driver, base: str, path: str, cells: int):
    """Open a notebook with a fresh workspace and wait for its cells and an idle kernel."""
    driver.get(f"{base}/lab/tree/{path}?reset&token={TOKEN}")
    wait(driver, lambda d: d.execute_script(f"return document.querySelectorAll('{PANEL} .jp-Cell').length")
         == cells, 120, f"{path}: the notebook's {cells} cells did not appear")
    wait(driver, lambda d: d.execute_script(
        f"const s = document.querySelector('{PANEL} .jp-Notebook-ExecutionIndicator');"
        " return s && s.dataset.status === 'idle'") and kernels_idle(base), 180, f"{path}: the kernel is not idle")


def cell(driver, index: int):
    element = driver.execute_script(f"return document.querySelectorAll('{PANEL} .jp-Cell')[{index}]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    return element


def prompts(driver) -> list[str]:
    """The input prompt of every code cell as shown ('[3]:', '[ ]:', '[*]:')."""
    return driver.execute_script(
        f"return [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputArea-prompt')]"
        ".map(p => p.textContent.trim())")


def page_problems(driver) -> list[str]:
    """Error outputs (tracebacks) and widget errors anywhere in the open notebook."""
    return driver.execute_script(f"""
        const panel = document.querySelector('{PANEL}');
        const found = [...panel.querySelectorAll('{ERROR_OUTPUT}')].map(e => 'error output: ' + e.textContent);
        if (panel.textContent.includes('{WIDGET_ERROR}')) found.push('{WIDGET_ERROR}');
        if (panel.textContent.includes('Traceback (most recent call last)')) found.push('a traceback');
        return found.map(text => text.slice(0, 2000));""")


def menu(driver, top: str, item: str):
    """Click a menu bar entry, then one of its items, by their labels."""
    driver.find_element("xpath", f"//li[contains(@class,'lm-MenuBar-item')][.//*[text()='{top}']]").click()
    entry = wait(driver, lambda d: [e for e in d.find_elements(
        "xpath", f"//li[contains(@class,'lm-Menu-item')][.//*[text()='{item}']]") if e.is_displayed()],
        10, f"no menu item {top} → {item}")
    entry[0].click()


def validate(driver, name: str, timeout: float) -> str:
    """Press nbgrader's Validate in the notebook toolbar; return the dialog's text (title and message) after a
    screenshot, and close the dialog."""
    driver.find_element("css selector", f"{PANEL} jp-button.validate-button").click()
    dialog = wait(driver, lambda d: d.find_elements("css selector", ".jp-Dialog .jp-Dialog-content"), timeout,
                  f"{name}: no dialog after pressing Validate")[0]
    title = dialog.find_element("css selector", ".jp-Dialog-header").text
    body = dialog.find_element("css selector", ".jp-Dialog-body").get_attribute("textContent")
    shot(driver, f"{name}_validate")
    dialog.find_element("css selector", ".jp-mod-accept").click()
    wait(driver, lambda d: not d.find_elements("css selector", ".jp-Dialog"), 10, "the dialog did not close")
    return f"{title}: {body.strip()}"


def fill(folder: Path, name: str) -> nbformat.NotebookNode:
    """The handout's release notebook with the reference answer in every solution cell (nothing else copied)."""
    path = folder / "notebooks" / name / f"{name}.ipynb"
    filled = filled_release(nbformat.read(path, as_version=4),
                            nbformat.read(REPO / "solutions" / name / f"{name}.ipynb", as_version=4))
    text = nbformat.writes(filled)
    assert not any(marker in text for marker in ("HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION"))
    nbformat.write(filled, path)
    return filled


# --- the scenarios -----------------------------------------------------------------------------------------------

def test_notebook_01_runs_all_cells_and_validates_in_chromium(driver, lab, summary):
    base, folder, disabled = lab
    start = time.perf_counter()
    name = "01_dataset_preparation"
    notebook = fill(folder, name)
    # What notebooks 3 and 5 do before quoting written answers: ask the page to save, then read the file.
    notebook.cells.append(nbformat.v4.new_code_cell(
        "from lora_course.nbgrader_course import written_answers\n"
        f"print('QUOTED:', written_answers('{name}.ipynb', ('q_quality',))['q_quality'][-200:])"))
    nbformat.write(notebook, folder / "notebooks" / name / f"{name}.ipynb")
    open_notebook(driver, base, f"{name}/{name}.ipynb", len(notebook.cells))
    # The instructor's tools `make setup` switches off are not there (the Validate button is, below).
    labels = driver.execute_script("return [...document.querySelectorAll('.lm-MenuBar-itemLabel, .lm-TabBar-tabLabel')]"
                                   ".map(e => e.textContent)")
    for extension, label in (("@jupyter/nbgrader:menu", "Nbgrader"),
                             ("@jupyter/nbgrader:create-assignment", "Create Assignment")):
        assert extension not in disabled or label not in labels, (label, labels)

    # A written answer, typed: double-click the rendered markdown to edit it, add a line at its end.
    (answer,) = [i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"
                 and c.metadata.get("nbgrader", {}).get("solution")]
    typed = "Typed in the browser: this answer was edited in JupyterLab."
    markdown = cell(driver, answer)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).double_click(markdown.find_element("css selector", ".jp-MarkdownOutput")).perform()
    editor = wait(driver, lambda d: markdown.find_elements("css selector", ".cm-content"), 10,
                  "the markdown cell did not open for editing")[0]
    editor.click()
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.END).key_up(Keys.CONTROL) \
        .send_keys(Keys.ENTER, Keys.ENTER, typed).send_keys(Keys.ESCAPE).perform()
    assert typed in editor.get_attribute("textContent")

    menu(driver, "Run", "Run All Cells")
    code_cells = sum(c.cell_type == "code" for c in notebook.cells)
    wait(driver, lambda d: (lambda shown: len(shown) == code_cells and all(re.fullmatch(r"\[\d+\]:", p)
                                                                            for p in shown))(prompts(d))
         and kernels_idle(base), 300, f"{name}: not every code cell ran: {prompts(driver)}")
    assert page_problems(driver) == []
    ran = time.perf_counter() - start
    shot(driver, f"{name}_run_all")
    quoted = cell(driver, len(notebook.cells) - 1).find_element("css selector", ".jp-OutputArea").text
    assert "QUOTED:" in quoted and typed in quoted, quoted  # typed, never saved by hand, and still quoted

    said = validate(driver, name, timeout=300)
    assert "Validation Results" in said and SUCCESS in said, said
    saved = nbformat.read(folder / "notebooks" / name / f"{name}.ipynb", as_version=4)
    assert typed in saved.cells[answer].source  # Validate saved the notebook as edited in the browser
    severe = read_console(driver)
    summary.append(f"browser, notebook 01: Run All {ran:.0f} s, Validate → {said!r}, total "
                   f"{time.perf_counter() - start:.0f} s; {len(severe)} SEVERE console entries")
    for entry in severe:
        print("SEVERE", entry["message"][:500])


def test_notebook_03_playground_answers_a_typed_question(driver, lab, summary):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    from lora_course.paths import data_file
    from lora_course.training import LoRASettings, fine_tune

    base, folder, _ = lab
    start = time.perf_counter()
    driver.get("about:blank")  # notebook 01 closed, then its kernel stopped
    for kernel in api(base, "/api/kernels"):
        api(base, f"/api/kernels/{kernel['id']}", method="DELETE")
    # Where notebook 02 saves its adapter (notebook 03 looks there first); small learning rate: on the random
    # tiny model a larger one makes the fine-tuned side answer only tokens that decode to nothing.
    adapter = folder / "notebooks" / "02_lora_fine_tuning" / "outputs" / "techco-adapter"
    fine_tune(data_file("techco_support.jsonl"), LoRASettings(epochs=1, max_steps=2, learning_rate=1e-4), adapter,
              base_model="tiny", progress=False)

    name = "03_compare_models"
    notebook = fill(folder, name)
    needed = set()
    for marker in PLAYGROUND_NEEDS:
        found = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and marker in c.source]
        assert len(found) == 1, f"{name}: {marker!r} is in {len(found)} code cells, expected one"
        needed |= set(found)
    needed |= {i for i, c in enumerate(notebook.cells)
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    open_notebook(driver, base, f"{name}/{name}.ipynb", len(notebook.cells))

    for index in sorted(needed):  # select the cell (its prompt), Ctrl+Enter, wait for its execution count
        target = cell(driver, index)
        target.find_element("css selector", ".jp-InputPrompt").click()
        ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
        wait(driver, lambda d, t=target: re.fullmatch(r"\[\d+\]:", t.find_element(
            "css selector", ".jp-InputArea-prompt").get_attribute("textContent").strip()) and kernels_idle(base),
             300, f"{name}: cell {index} did not run")
        assert page_problems(driver) == [], f"after cell {index}:\n{notebook.cells[index].source}"

    playground = wait(driver, lambda d: d.find_elements("css selector", f"{PANEL} .lora-playground"), 60,
                      "the playground widget did not appear")[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", playground)
    box = playground.find_element("css selector", "input[type='text']")
    box.click()
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys(QUESTION).perform()
    playground.find_element("xpath", ".//button[contains(., 'Compare')]").click()
    def status(_driver):  # the playground's status line (the text box's "Question:" is a label as well)
        return next((label.text for label in playground.find_elements("css selector", ".widget-label")
                     if label.text.startswith(("Base:", "Error"))), None)

    said = wait(driver, status, 300, "no answer after Compare")
    assert said.startswith("Base:"), said
    result = playground.find_element("css selector", ".widget-html-content")
    assert f"Q: {QUESTION}" in result.text  # the typed question reached the kernel
    answers = [pre.get_attribute("textContent") for pre in result.find_elements("css selector", "pre")]
    assert len(answers) == 2 and all(answer.strip() for answer in answers), answers
    assert page_problems(driver) == []
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", playground)
    shot(driver, f"{name}_playground")
    severe = read_console(driver)
    summary.append(f"browser, notebook 03 playground: {time.perf_counter() - start:.0f} s (adapter, "
                   f"{len(needed)} cells, one question); {len(severe)} SEVERE console entries")
    for entry in severe:
        print("SEVERE", entry["message"][:500])


@pytest.mark.skipif(not EVERY_NOTEBOOK, reason="the full check: LORA_COURSE_BROWSER_ALL=1 (minutes)")
def test_every_notebook_validates_from_the_toolbar(driver, tmp_path, summary):
    """A fresh handout, all five notebooks with the reference answers, Validate on each in order (01 writes the
    training data 02 trains on, 02 the adapter 03 compares, ...); nbgrader runs each notebook in the server."""
    folder = build_handout(tmp_path)
    with jupyter_lab(folder, tmp_path / "jupyter") as (base, _):
        for name in ASSIGNMENTS:
            start = time.perf_counter()
            notebook = fill(folder, name)
            open_notebook(driver, base, f"{name}/{name}.ipynb", len(notebook.cells))
            said = validate(driver, name, timeout=3600)
            severe = read_console(driver)
            summary.append(f"browser, Validate {name}: {time.perf_counter() - start:.0f} s → {said[:300]!r}; "
                           f"{len(severe)} SEVERE console entries so far")
            assert "Validation Results" in said and SUCCESS in said, f"{name}: {said[:5000]}"
            driver.get("about:blank")  # the notebook closed, then its kernel stopped
            for kernel in api(base, "/api/kernels"):
                api(base, f"/api/kernels/{kernel['id']}", method="DELETE")
