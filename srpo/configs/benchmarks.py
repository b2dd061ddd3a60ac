"""Config of stage 05, benchmarks (SRPO_SPEC §6, §7)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BenchArgs:
    """> Parameters that control which models are evaluated on which benchmarks, and how."""

    benchmarks: list[str] = field(default_factory=lambda: ["synthetic"], metadata={"help": "Benchmark names."})
    seed: int = field(default=0, metadata={"help": "Seed for sampled decoding."})
