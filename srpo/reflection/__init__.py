"""Stage 02, reflection generation (paper §3.1): first attempts, an optional judge, selection to the
target mix, teacher reflections and the SFT set in TRL's prompt/completion + images format.

    python -m srpo.reflection --config runs/<profile>/<run>/reflection_generation/config.yaml

Modules: ``attempts`` (policy and generator attempts, graded), ``client`` (OpenAI-compatible requests with
retries, backoff, timeouts and bounded concurrency), ``teacher`` (prompt, reply checks, template teacher),
``judge``, ``selection``, ``sft_set`` (layouts, ``load_sft_set``), ``store`` (resumable JSONL), ``pipeline``
(the stage from start to finish) and ``report`` (tables, plots and a browser for the notebook).
"""

from srpo.reflection.sft_set import load_sft_set

__all__ = ["load_sft_set"]
