"""Config of stage 06, ablations and the paper-vs-ours report (paper §4.3: Tables 1, 3, 5, 6)."""

from __future__ import annotations

from dataclasses import dataclass, field

from srpo.configs.base import NON_NEGATIVE, POSITIVE, check_ranges, one_of

MODES = ("run", "aggregate")


@dataclass
class AblationArgs:
    """> Parameters that control which arms run, with what budget, and how the report is built."""

    mode: str = field(
        default="run",
        metadata={
            "help": "run: train and evaluate the arms here (tiny-cpu); "
            "aggregate: collect arm runs made by slurm/ablations.sh."
        },
    )
    arms: list[str] = field(
        default_factory=lambda: ["all"], metadata={"help": "Arm names (srpo.ablations.ARMS) or all."}
    )
    seeds: list[int] = field(
        default_factory=lambda: [0], metadata={"help": "Training seeds of every trained arm (a seed = one run)."}
    )
    one_seed_arms: list[str] = field(
        default_factory=list, metadata={"help": "Arms run with the first seed only (cheaper; no interval)."}
    )
    sft_per_seed: bool = field(
        default=True,
        metadata={
            "help": "Arms that start from the reflection SFT model start, at seed s, from an SFT run "
            "with seed s (the spread over seeds then covers SFT too)."
        },
    )
    grpo_max_steps: int = field(default=150, metadata={"help": "GRPO steps of every trained arm (the same budget)."})
    cot_sft_epochs: float = field(default=3.0, metadata={"help": "Epochs of the plain-CoT SFT arm's SFT."})
    reuse_main_srpo: bool = field(
        default=True, metadata={"help": "Use stage 04's model as the SRPO arm for its seed when budgets match."}
    )
    workers: int = field(default=2, metadata={"help": "Arms trained at once (run mode), each its own process."})
    arm_torch_threads: int = field(default=1, metadata={"help": "torch threads of each arm's processes."})
    eval_n: int = field(default=500, metadata={"help": "Synthetic test problems, greedy (benchmarks stage)."})
    eval_sampled_limit: int = field(default=200, metadata={"help": "Problems of the sampled (T=1) evaluation."})
    eval_sampled_n: int = field(
        default=2, metadata={"help": "Samples per problem in the sampled evaluation (0: greedy only)."}
    )
    arm_run_dirs: list[str] = field(
        default_factory=list,
        metadata={"help": "aggregate mode: 'arm=run_dir' entries; empty = runs/<profile>/<run>-ablation-<arm>*."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the evaluations."})

    def __post_init__(self):
        check_ranges(
            self,
            grpo_max_steps=POSITIVE,
            cot_sft_epochs=POSITIVE,
            workers=POSITIVE,
            arm_torch_threads=NON_NEGATIVE,
            eval_n=NON_NEGATIVE,
            eval_sampled_limit=NON_NEGATIVE,
            eval_sampled_n=NON_NEGATIVE,
            mode=one_of(MODES),
        )  # eval_sampled_n 0: greedy only
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and not empty, got {self.seeds}")

    def input_stages(self) -> list[str]:
        # run mode trains from this run's data, SFT set and SFT model; aggregate mode reads other run dirs
        return ["data_curation", "reflection_generation", "cold_start_sft"] if self.mode == "run" else []
