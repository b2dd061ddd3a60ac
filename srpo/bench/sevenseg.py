"""The synthetic test set of the tiny-cpu profile: seven-segment arithmetic (``srpo.tiny.sevenseg``).

Problems come from ``make_problems(n, SPLIT_SEEDS["test"])``: deterministic, and disjoint from every
training split and from the warm-up of ``tiny://instruct``. Problem ``i`` depends only on the seed and
``i``, so the first ``n`` problems of a longer set are the set of size ``n``.

Breakdowns: ``qtype`` (sum, average, larger, difference) and ``difficulty_band`` (how strong the ghost
segments and the noise are: low < 1/3 <= mid < 2/3 <= high).
"""

from __future__ import annotations

from srpo.bench.base import Benchmark, make_record
from srpo.tiny import sevenseg

DEFAULT_N = 500
BANDS = ((1 / 3, "low"), (2 / 3, "mid"), (float("inf"), "high"))


def difficulty_band(difficulty: float) -> str:
    """The band of a difficulty in [0, 1].

    >>> [difficulty_band(d) for d in (0.1, 0.5, 0.9)]
    ['low', 'mid', 'high']
    """
    return next(name for upper, name in BANDS if difficulty < upper)


def load_rows(split: str = "test", limit: int | None = None):
    n = DEFAULT_N if limit is None else limit
    return [p.record() for p in sevenseg.make_problems(n, sevenseg.SPLIT_SEEDS[split], id_prefix="test")]


def to_record(row: dict, split: str = "test") -> dict:
    meta = dict(row["metadata"])
    meta["difficulty_band"] = difficulty_band(float(meta["difficulty"]))
    return make_record(
        id=row["id"],
        source=f"synthetic:{split}",
        images=row["images"],
        question=row["question"],
        options=row["options"],
        answer=row["answer"],
        answer_type=row["answer_type"],
        precision=row["precision"],
        metadata=meta,
    )


BENCHMARK = Benchmark(
    name="synthetic",
    title="Synthetic (tiny)",
    hub_id=None,
    splits={"test": (None, "test")},
    default_splits=("test",),
    breakdowns=("qtype", "difficulty_band"),
    to_record=to_record,
    load_rows=load_rows,
)
