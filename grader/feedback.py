"""Feedback for learners (`course.py feedback`): which hidden checks failed and the hint each gives, never their code.

nbgrader's feedback is the executed notebook as HTML, hidden tests and tracebacks included; a learner could read
every hidden test off it and pass next time without doing the work. This preprocessor (nbgrader_config.py adds it
to GenerateFeedback) removes the hidden test regions from test cells, replaces a failed test's traceback, which
quotes the failing line, with one line: the check's name and its message (the hint the assert carries), and
replaces any output line, in any cell, that quotes a line of a hidden test.
"""

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from release import nbgrader

from lora_course.nbgrader_course import ASSIGNMENTS

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.DOTALL)


class HideTestCode(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        # Learner code can print a test's source while it runs (its caller's frame, IPython's history): any output
        # line that quotes a hidden test's line is replaced, whichever cell printed it.
        self.hidden_lines = {line.strip() for cell in nb.cells if cell.cell_type == "code"
                             for region in HIDDEN.findall(cell.source) for line in region.splitlines()
                             if len(line.strip()) >= 10 and not line.strip().startswith("###")}
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            if HIDDEN.search(cell.source):
                cell.source = HIDDEN.sub("# (hidden tests: not shown)\n", cell.source)
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{meta.get('grade_id')} failed: {output.ename}: {output.evalue}".rstrip(": ")]
        for output in cell.get("outputs", []):
            for holder, key in [(output, "text"), (output, "evalue"), *[(output.get("data", {}), mime)
                                                                        for mime in output.get("data", {})]]:
                if isinstance(holder.get(key), str):
                    holder[key] = self.without_hidden_lines(holder[key])
            if "traceback" in output:
                output.traceback = [self.without_hidden_lines(line) for line in output.traceback]
        return cell, resources

    def without_hidden_lines(self, text: str) -> str:
        return "\n".join("[a line of a hidden test: not shown]" if any(hidden in line for hidden in self.hidden_lines)
                         else line for line in text.split("\n"))


def feedback(student: str, assignments=ASSIGNMENTS) -> None:
    """HTML feedback under feedback/<student>/ (nbgrader generate_feedback, with this file's preprocessor)."""
    for assignment in assignments:
        nbgrader("generate_feedback", assignment, "--student", student, "--force")
