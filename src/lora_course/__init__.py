"""Helper package for the course "Fine-Tuning LLMs with LoRA".

All reusable ML machinery lives here so that the five notebooks stay short.
"""

__version__ = "0.1.0"

import warnings

# peft 0.21 calls a transformers 5 API that is deprecated; the notice means nothing to a learner, and any
# stderr output makes an nbgrader test cell score zero.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
