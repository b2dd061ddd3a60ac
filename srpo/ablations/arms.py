"""The ablation arms as data (paper Table 1, Table 3, Table 6): what each starts from, which
overrides its GRPO run gets, and which row of the paper it stands beside."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arm:
    name: str
    description: str
    start: str  # "base" | "sft" | "cot_sft": the model GRPO starts from (or that is evaluated)
    grpo: str | None = None  # GRPO overrides; None = evaluation only
    prompt: str = "srpo_rl"  # prompt at evaluation time
    paper_row: str | None = None  # TABLE3_AVERAGE key, or a Table 1 / Table 6 label
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def trains(self) -> bool:
        return self.grpo is not None


SINGLE_PASS = "--reward grpo_baseline --prompt single_pass"

ARMS: dict[str, Arm] = {
    a.name: a
    for a in [
        Arm("base", "the base model, untrained", "base", prompt="single_pass", paper_row="base"),
        Arm("sft_only", "reflection SFT only (notebook 03's model)", "sft", paper_row="SFT only"),
        Arm("grpo_no_sft", "plain GRPO from the base: single pass, format + accuracy reward", "base",
            grpo=SINGLE_PASS, prompt="single_pass", paper_row="GRPO"),
        Arm("srpo_no_sft", "the SRPO reward from the base, without the reflection cold start", "base",
            grpo="", paper_row="without reflection SFT"),
        Arm("srpo", "SRPO: reflection SFT, then GRPO with the paper's reward (Eq. 4-8)", "sft", grpo="",
            paper_row="SRPO"),
        Arm("srpo_released", "SRPO with the released code's reward (TT 0.75, FT 1.0, TF 0.25, FF 0)", "sft",
            grpo="--reward released", paper_row=None, tags=("released",)),
        Arm("no_effectiveness", "SRPO without I_eff", "sft", grpo="--reward_effectiveness false",
            paper_row="without I_eff"),
        Arm("no_length", "SRPO without the length term", "sft", grpo="--reward_length false",
            paper_row="without f_len"),
        Arm("alpha_0.05", "SRPO with alpha = 0.05 (Table 6)", "sft", grpo="--reward_alpha 0.05"),
        Arm("alpha_0.3", "SRPO with alpha = 0.3 (Table 6)", "sft", grpo="--reward_alpha 0.3"),
        Arm("cot_sft_grpo", "plain-CoT SFT (no reflection) then plain GRPO", "cot_sft", grpo=SINGLE_PASS,
            prompt="single_pass"),
    ]
}  # fmt: skip


def select_arms(names: list[str]) -> list[Arm]:
    if not names or names == ["all"]:
        return list(ARMS.values())
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        raise ValueError(f"unknown ablation arms {unknown}; arms are {', '.join(ARMS)}")
    return [ARMS[n] for n in names]


def arms_table():
    """The arms as a table: what each changes, where it starts, and the paper row it stands beside."""
    import pandas as pd

    return pd.DataFrame([{"arm": a.name, "what it is": a.description, "starts from": a.start,
                          "GRPO overrides": "evaluation only" if a.grpo is None else (a.grpo or "(the SRPO recipe)"),
                          "paper row": a.paper_row or "–"} for a in ARMS.values()]).set_index("arm")  # fmt: skip
