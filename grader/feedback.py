"""Feedback for learners (`course.py feedback`): which hidden checks failed and the hint each gives, never their code.

nbgrader's feedback is the executed notebook as HTML, hidden tests and tracebacks included; a learner could read
every hidden test off it and pass next time without doing the work. This preprocessor (nbgrader_config.py adds it
to GenerateFeedback) removes the hidden test regions from test cells and replaces a failed test's traceback, which
quotes the failing line, with one line: the check's name and its message (the hint the assert carries).
"""

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from release import nbgrader

from lora_course.nbgrader_course import ASSIGNMENTS

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.DOTALL)


class HideTestCode(NbGraderPreprocessor):
    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            if HIDDEN.search(cell.source):
                cell.source = HIDDEN.sub("# (hidden tests: not shown)\n", cell.source)
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{meta.get('grade_id')} failed: {output.ename}: {output.evalue}".rstrip(": ")]
        return cell, resources


def feedback(student: str, assignments=ASSIGNMENTS) -> None:
    """HTML feedback under feedback/<student>/ (nbgrader generate_feedback, with this file's preprocessor)."""
    for assignment in assignments:
        nbgrader("generate_feedback", assignment, "--student", student, "--force")
