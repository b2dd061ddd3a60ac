"""Config of stage 06, ablations and the paper-vs-ours report (SRPO_SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AblationArgs:
    """> Parameters that control which arms run and how the report is built."""

    mode: str = field(default="run", metadata={"help": "run: train and evaluate the arms here; aggregate: collect."})
    seed: int = field(default=0, metadata={"help": "First seed of the arms."})
