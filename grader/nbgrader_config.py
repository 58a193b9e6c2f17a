"""nbgrader configuration for the course. Run nbgrader from this folder (`make release`, `make autograde`).

solutions/ holds the nbgrader source and notebooks/ the release (both at the repository root, committed);
everything an instructor produces (submitted/, autograded/, feedback/, gradebook.db) lives under one
gitignored folder: grader/work, or $LORA_COURSE_GRADER_DIR.

Every value comes from lora_course.nbgrader_course, which grader/course.py and the tests read too; only the
nbgrader wiring lives here (tests/test_nbgrader_course.py loads this file as nbgrader does and compares).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedback import HideTestCode  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from lora_course import nbgrader_course  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = nbgrader_course.COURSE_ID
c.CourseDirectory.root = str(nbgrader_course.work_dir())
# The formgrader's Release/Collect buttons use an exchange folder, kept in the instructor folder (course.py
# formgrader creates it).
c.Exchange.root = str(nbgrader_course.exchange_dir())
# Feedback names each failed check and its hint, never the hidden tests' code (feedback.py).
c.GenerateFeedback.preprocessors = [GetGrades, HideTestCode, CSSHTMLHeaderPreprocessor]
# Learner output is shown, never run: HTML outputs are cleaned and scripts left out, in the formgrader and in
# feedback (pipeline.tame_outputs already turned them into text in each executed notebook).
c.HTMLExporter.sanitize_html = True
c.CourseDirectory.source_directory = str(nbgrader_course.SOURCE_DIR)
c.CourseDirectory.release_directory = str(nbgrader_course.release_dir())
# What running a notebook leaves next to it never belongs in a release or a submission copy.
c.CourseDirectory.ignore = list(nbgrader_course.RUN_ARTEFACTS)

c.Execute.timeout = nbgrader_course.CELL_TIMEOUT_SECONDS
c.Execute.iopub_timeout = nbgrader_course.IOPUB_TIMEOUT_SECONDS
c.ClearSolutions.code_stub = {"python": nbgrader_course.CODE_STUB}
c.ClearSolutions.text_stub = nbgrader_course.ANSWER_STUB
