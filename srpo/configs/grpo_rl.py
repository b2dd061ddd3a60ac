"""Config of stage 04, GRPO with the reflection-aware reward (SRPO_SPEC §2, §5). Parsed with TRL's GRPOConfig."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GRPOArgs:
    """> Parameters that control the reward and the online filter (the rest is TRL's GRPOConfig)."""

    reward: str = field(default="paper", metadata={"help": "paper | released | grpo_baseline"})
