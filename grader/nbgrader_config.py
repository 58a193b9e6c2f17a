"""nbgrader configuration for the course. Run nbgrader from this folder (`make release`, `make autograde`).

solutions/ holds the nbgrader source and notebooks/ the release (both at the repository root, committed);
everything an instructor produces (submitted/, autograded/, feedback/, gradebook.db) lives under one
gitignored folder: grader/work, or $LORA_COURSE_GRADER_DIR.
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "grader"))
from feedback import HideTestCode  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "lora-course"
c.CourseDirectory.root = os.environ.get("LORA_COURSE_GRADER_DIR", str(REPO / "grader" / "work"))
# The formgrader's Release/Collect buttons use an exchange folder; keep it in the instructor folder (course.py
# formgrader creates it), not /srv/nbgrader/exchange, absent on a laptop: a warning banner on every page.
c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
# Feedback names each failed check and its hint, never the hidden tests' code (feedback.py).
c.GenerateFeedback.preprocessors = [GetGrades, HideTestCode, CSSHTMLHeaderPreprocessor]
c.CourseDirectory.source_directory = str(REPO / "solutions")
c.CourseDirectory.release_directory = os.environ.get("LORA_COURSE_RELEASE_DIR", str(REPO / "notebooks"))
# What running a notebook leaves next to it never belongs in a release or a submission copy.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "outputs",
                            "training_data.jsonl", "evaluation_results.md", "mini_project*.jsonl",
                            "mini_project_report.md"]

# The longest single cell (a LoRA training run) takes well under a minute on 2 CPU cores.
c.Execute.timeout = 300
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
