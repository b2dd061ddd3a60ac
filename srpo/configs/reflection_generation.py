"""Config of stage 02, reflection generation (SRPO_SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReflectionArgs:
    """> Parameters that control first attempts, the teacher and the selection of the SFT set."""

    policy_model: str = field(default="tiny://instruct", metadata={"help": "Model that makes the first attempts."})
    seed: int = field(default=0, metadata={"help": "Seed for sampling and selection."})
