"""The paper's numbers (paper Table 1, Table 3, Table 10), for tables beside ours.

Also used by the ablations report (stage 06). Accuracies in percent, as printed in the paper.
"""

from __future__ import annotations

BENCHMARK_COLUMNS = ("MathVista", "MathVerse", "MathVision", "MMMU-Pro")

# Table 1: MathVista testmini, MathVerse testmini, MathVision, MMMU-Pro (paper Table 1).
TABLE1 = {
    "Qwen2.5-VL-7B": (68.2, 46.3, 25.1, 36.9),
    "+ GRPO (37K)": (72.3, 52.9, 30.3, 39.9),
    "Reflection-SFT only": (70.3, 48.2, 27.2, 38.7),
    "SRPO-7B": (75.8, 55.8, 32.9, 42.3),
    "SRPO-7B without f_len": (75.3, 56.2, 32.4, 41.7),
    "SRPO-7B without I_eff": (73.9, 54.7, 31.6, 40.9),
    "Qwen2.5-VL-32B": (74.7, 48.5, 38.4, 49.5),
    "SRPO-32B": (78.5, 58.9, 39.6, 51.3),
}

# Table 3: averages over five benchmarks, 7B ablations (paper Table 3).
TABLE3_AVERAGE = {
    "base": 44.4,
    "GRPO": 49.8,
    "SRPO": 53.5,
    "without reflection SFT": 51.2,
    "SFT only": 46.6,
    "without f_len": 53.1,
    "without I_eff": 52.0,
}

# Table 10: MathVista testmini inference on one H100 with vLLM (paper Table 10).
TABLE10_INFERENCE = {
    "GRPO-7B": {"minutes": 45.6, "tokens_per_answer": 355},
    "SRPO-7B": {"minutes": 60.5, "tokens_per_answer": 502},
}

# Which of our benchmark labels a paper column corresponds to. MMMU-Pro: the paper gives one number; the
# official MMMU-Pro overall is the mean of the standard (10 options) and vision settings, used here.
COLUMN_OF_LABEL = {
    "mathvista:testmini": "MathVista",
    "mathverse:testmini": "MathVerse",
    "mathvision:test": "MathVision",
    "mmmu_pro:overall": "MMMU-Pro",
}


def table1_rows() -> list[dict]:
    """Table 1 as rows ``{"model": ..., "MathVista": ..., ...}``."""
    return [{"model": name, **dict(zip(BENCHMARK_COLUMNS, values, strict=True))} for name, values in TABLE1.items()]


def table1_value(model: str, column: str) -> float | None:
    values = TABLE1.get(model)
    return None if values is None else values[BENCHMARK_COLUMNS.index(column)]
