"""Config of stage 03, cold-start SFT (SRPO_SPEC §4). Parsed with TRL's SFTConfig and ModelConfig."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SFTArgs:
    """> Parameters that control the SFT data and what is frozen (the rest is TRL's SFTConfig)."""

    freeze_vision: bool = field(default=True, metadata={"help": "Freeze the vision tower and merger (paper)."})
