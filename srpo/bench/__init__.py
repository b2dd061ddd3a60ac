"""Stage 05, benchmarks: MathVista, MathVerse, MathVision, MMMU-Pro and the synthetic test set, with the
reflection metrics (first vs final answer, fix and break rates; docs/paper_vs_release.md, row "Eval answer").

* ``BENCHMARKS``: the registry (one module per benchmark, common interface in ``srpo.bench.base``);
* ``score_response(benchmark, row, response)``: grade one response against one row (a Hub row in the
  benchmark's own schema, or a record in the project's schema), deterministic and rule-based;
* ``evaluate(model, benchmark, settings=...)``: generate with the shared backends (cached, resumable),
  score and measure;
* ``python -m srpo.bench --config <run_dir>/benchmarks/config.yaml``: the stage's entry point.
"""

from __future__ import annotations

from srpo.bench.base import Benchmark, BenchmarkError, is_record
from srpo.bench.evaluation import evaluate
from srpo.bench.registry import BENCHMARKS, expand, get_benchmark, resolve

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkError",
    "evaluate",
    "expand",
    "get_benchmark",
    "resolve",
    "score_response",
    "to_record",
]


def to_record(benchmark, row: dict) -> dict:
    """A Hub row of ``benchmark`` (``"mmmu_pro:vision"``, ...) as a record; records pass through unchanged."""
    if is_record(row):
        return row
    bench, split = resolve(benchmark)
    return bench.to_record(row, split)


def score_response(benchmark, row: dict, response: str, mode: str = "default") -> dict:
    """Grade ``response`` against ``row`` of ``benchmark`` (``mode``: ``srpo.bench.scoring.MODES``).

    Returns at least ``final_correct``, ``first_correct`` (None when there is no first answer), ``parsed``
    (a final answer was found), ``prediction`` (the final answer), ``first_answer`` and ``five_block``.
    """
    from srpo.bench.scoring import score_record

    return score_record(to_record(benchmark, row), response, mode)
