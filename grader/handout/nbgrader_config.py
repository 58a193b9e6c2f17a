"""nbgrader's settings for the learner: read by the notebook toolbar's Validate button (nbgrader reads this file
from the folder JupyterLab was started in, which `make lab` makes this one) and by `nbgrader validate` run here.

Validate runs every cell; nbgrader's default of 30 s per cell would stop notebook 2's training run, so the cell limits
are the ones your instructor's grading uses.
"""

from lora_course.nbgrader_course import CELL_TIMEOUT_SECONDS, IOPUB_TIMEOUT_SECONDS

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
c.Execute.timeout = CELL_TIMEOUT_SECONDS
c.Execute.iopub_timeout = IOPUB_TIMEOUT_SECONDS  # nbgrader's 4 s failed 02's training cell on a busy laptop
