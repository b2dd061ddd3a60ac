"""Config of stage 01, data curation (SRPO_SPEC §3, §5)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CurationArgs:
    """> Parameters that control which sources are read and how the mix is built."""

    sources: list[str] = field(
        default_factory=lambda: ["synthetic"], metadata={"help": "Source names (srpo.data.SOURCES)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed for sampling, mixing and the synthetic generator."})
