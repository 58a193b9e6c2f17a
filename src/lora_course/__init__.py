"""Helper package for the course "Fine-Tuning LLMs with LoRA".

All reusable ML machinery lives here so that the five notebooks stay short.
"""

__version__ = "0.1.0"

import warnings

# peft 0.21 calls a transformers 5 API that is deprecated; the notice means nothing to a learner, and any
# stderr output makes an nbgrader test cell score zero.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def print_versions() -> None:
    """The first cell of every notebook: the versions a bug report needs (courses die when libraries move)."""
    import platform
    from importlib.metadata import version

    import torch

    from .models import model_name

    packages = ("torch", "transformers", "peft", "accelerate", "lora-course")
    print(f"python {platform.python_version()} | " + " | ".join(f"{p} {version(p)}" for p in packages))
    if torch.cuda.is_available():
        device = f"CUDA ({torch.cuda.get_device_name()})"
    else:
        device = f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device} | base model: {model_name()}")
