"""SRPO companion: reflection-aware RL for multimodal LLMs, reproduced end to end.

Stages (each a notebook and an entry point): data curation → reflection generation → cold-start SFT →
GRPO → benchmarks → ablations. See README.md. Importing ``srpo`` is cheap: heavy libraries (torch,
transformers, TRL, vLLM) are imported inside the functions that need them.
"""

__version__ = "0.1.0"

# Before anything imports torch: OpenMP threads sleep instead of spinning while they wait, so a stage slows in
# proportion on a shared machine (srpo.threads; measured in README "Time and speed").
from srpo.threads import quiet_openmp  # noqa: E402

quiet_openmp()

# One logging style: "[srpo.<package>] message" lines on the current stdout (srpo.logs).
from srpo.logs import setup as _setup_logging  # noqa: E402

_setup_logging()
