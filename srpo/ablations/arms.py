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
    # the stage-02 layout the arm's own SFT set needs (None: it trains on no SFT set of its own). When the
    # run's stage 02 used another layout, the arm re-runs stage 02 in its own run directory with this one,
    # reusing the run's pool and first attempts (``shared_stage02_files``): only the teacher runs again.
    sft_layout: str | None = None

    @property
    def trains(self) -> bool:
        return self.grpo is not None


SINGLE_PASS = "--reward grpo_baseline --prompt single_pass"

ARMS: dict[str, Arm] = {
    a.name: a
    for a in [
        Arm("base", "the base model, untrained", "base", prompt="single_pass", paper_row="base"),
        Arm(
            "sft_only", "reflection SFT only (notebook 03's model)", "sft", prompt="trained", paper_row="SFT only"
        ),  # evaluated with the system prompt of its SFT data, not the RL one
        Arm(
            "grpo_no_sft",
            "plain GRPO from the base: single pass, format + accuracy reward",
            "base",
            grpo=SINGLE_PASS,
            prompt="single_pass",
            paper_row="GRPO",
        ),
        Arm(
            "srpo_no_sft",
            "the SRPO reward from the base, without the reflection cold start",
            "base",
            grpo="",
            paper_row="without reflection SFT",
        ),
        Arm(
            "srpo",
            "SRPO: reflection SFT, then GRPO with the paper's reward (Eq. 4-8)",
            "sft",
            grpo="",
            paper_row="SRPO",
        ),
        Arm(
            "srpo_released",
            "SRPO with the released code's reward (TT 0.75, FT 1.0, TF 0.25, FF 0)",
            "sft",
            grpo="--reward released",
            paper_row=None,
            tags=("released",),
        ),
        Arm(
            "no_effectiveness",
            "SRPO without I_eff",
            "sft",
            grpo="--reward_effectiveness false",
            paper_row="without I_eff",
        ),
        Arm(
            "no_length", "SRPO without the length term", "sft", grpo="--reward_length false", paper_row="without f_len"
        ),
        Arm("alpha_0.05", "SRPO with alpha = 0.05 (Table 6)", "sft", grpo="--reward_alpha 0.05"),
        Arm("alpha_0.3", "SRPO with alpha = 0.3 (Table 6)", "sft", grpo="--reward_alpha 0.3"),
        Arm(
            "cot_sft_grpo",
            "plain-CoT SFT (no reflection) then plain GRPO",
            "cot_sft",
            grpo=SINGLE_PASS,
            prompt="single_pass",
            sft_layout="two_pass",
        ),  # the CoT view keeps the second round's reasoning
    ]
}


def run_layout(run_dir, profile: str) -> str:
    """The SFT layout of a run's stage 02: its resolved config once it ran, else the profile's recipe."""
    from srpo import config, paths

    resolved = paths.stage_dir(run_dir, "reflection_generation") / "config.yaml"
    if resolved.exists():
        return config.read_yaml_mapping(resolved)["layout"]
    return config.recipe_value(profile, "reflection_generation", "layout")


# the SFT system prompt that describes each layout's blocks (stage 02 refuses a layout with the other prompt)
LAYOUT_SFT_PROMPT = {"paper": "srpo_sft", "two_pass": "srpo_rl"}


def sft_set_overrides(arm: Arm) -> dict[str, str]:
    """Stage-02 overrides for the arm's own SFT set: its layout and the SFT prompt that describes it."""
    return {"layout": arm.sft_layout, "sft_prompt": LAYOUT_SFT_PROMPT[arm.sft_layout]}


def needs_own_sft_set(arm: Arm, run_dir, profile: str) -> bool:
    """True when the arm needs an SFT set in a layout the run's stage 02 did not make."""
    return arm.sft_layout is not None and arm.sft_layout != run_layout(run_dir, profile)


# stage-02 files an arm's own stage 02 reads from the main run: the pool (stage 01) and the first attempts and
# judge verdicts (resumable stores, same settings), so the arm's SFT set has the same problems and attempts
SHARED_STAGE02 = (
    "data_curation",
    "reflection_generation/attempts.jsonl",
    "reflection_generation/attempts.meta.json",
    "reflection_generation/judge.jsonl",
    "reflection_generation/judge.meta.json",
)


def link_shared_stage02(main_run, arm_run) -> None:
    """Symlink ``SHARED_STAGE02`` of ``main_run`` into ``arm_run`` (made before the main run's stage 02 may
    have finished: the links resolve when the arm's job starts)."""
    from pathlib import Path

    for rel in SHARED_STAGE02:
        link, target = Path(arm_run) / rel, Path(main_run).resolve() / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink() and not link.exists():
            link.symlink_to(target, target_is_directory=rel == "data_curation")


def check_config(cfg) -> None:
    """The stage's start (``srpo.stages``): unknown arm names in ``arms`` or ``one_seed_arms`` and negative seeds
    fail when the config is parsed, before any arm runs."""
    select_arms(cfg.args.arms)
    select_arms(cfg.args.one_seed_arms or ["base"])
    if any(seed < 0 for seed in cfg.args.seeds):
        raise ValueError(f"seeds must be >= 0, got {cfg.args.seeds}")


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

    return pd.DataFrame(
        [
            {
                "arm": a.name,
                "what it is": a.description,
                "starts from": a.start,
                "GRPO overrides": "evaluation only" if a.grpo is None else (a.grpo or "(the SRPO recipe)"),
                "paper row": a.paper_row or "–",
            }
            for a in ARMS.values()
        ]
    ).set_index("arm")
