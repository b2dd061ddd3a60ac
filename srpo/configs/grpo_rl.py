"""Config of stage 04, GRPO with the reflection-aware reward (paper §3.2, §4.1). Parsed together with TRL's
GRPOConfig (generations, temperature, learning rate, clipping, KL, vLLM) and ModelConfig."""

from __future__ import annotations

from dataclasses import dataclass, field

from srpo.configs.base import ALL_OR_POSITIVE, NON_NEGATIVE, POSITIVE, check_ranges, one_of, stage_name

REWARD_VARIANTS = ("paper", "released", "grpo_baseline", "outcome")
FILTER_MODES = ("refill", "mask")  # srpo.grpo_trainer: the release refills, mask is the older option
FILTER_METRICS = ("reward", "mean", "first", "final")


@dataclass
class GRPOArgs:
    """> Parameters that control the data, the reward (the ablation arms) and the online accuracy filter."""

    dataset: str = field(default="stage:data_curation", metadata={"help": "stage:data_curation or a dataset folder."})
    dataset_split: str = field(default="rl_train", metadata={"help": "Split of the data-curation stage."})
    max_prompts: int = field(default=-1, metadata={"help": "Use at most this many prompts; -1 = all."})
    prompt: str = field(
        default="srpo_rl", metadata={"help": "srpo_rl (five blocks) or single_pass (the plain-GRPO baseline)."}
    )
    prompt_placement: str = field(
        default="system", metadata={"help": "system (released OpenRLHF code) or user (released verl variant)."}
    )
    reward: str = field(
        default="paper",
        metadata={
            "help": "paper (Eq. 4-8) | released (OpenRLHF table) | grpo_baseline | "
            "outcome (five blocks, final answer only)"
        },
    )
    reward_alpha: float = field(default=0.1, metadata={"help": "Weight of the length term f_len (paper §4.1: 0.1)."})
    reward_effectiveness: bool = field(default=True, metadata={"help": "Include I_eff (ablation: without I_eff)."})
    reward_length: bool = field(default=True, metadata={"help": "Include alpha*f_len (ablation: without f_len)."})
    accuracy_filter: bool = field(
        default=True, metadata={"help": "Online filter: update only on groups with mean accuracy in [min, max]."}
    )
    accuracy_filter_min: float = field(default=0.1, metadata={"help": "Lower bound (released scripts: 0.1)."})
    accuracy_filter_max: float = field(default=0.9, metadata={"help": "Upper bound (released scripts: 0.9)."})
    accuracy_filter_metric: str = field(
        default="reward",
        metadata={
            "help": "Per-completion accuracy: reward (the release: the reward's accuracy + effectiveness "
            "terms), mean (of first and final correctness), first or final."
        },
    )
    accuracy_filter_mode: str = field(
        default="refill",
        metadata={
            "help": "What happens to filtered groups: refill (the release: dropped, and the rollout refilled "
            "with new prompts' groups until the batch is full) or mask (masked out of the loss, "
            "no extra generation). docs/paper_vs_release.md, 'Accuracy filter'."
        },
    )
    accuracy_filter_max_refills: int = field(
        default=4, metadata={"help": "refill: extra generation rounds per rollout at most; then the rest is masked."}
    )
    freeze_vision: bool = field(default=True, metadata={"help": "Freeze the vision tower and merger (paper §5)."})
    image_min_pixels: int = field(default=3136, metadata={"help": "Processor min pixels per image."})
    image_max_pixels: int = field(default=262_144, metadata={"help": "Processor max pixels per image."})
    vllm_enforce_eager: bool = field(
        default=False, metadata={"help": "vLLM (colocate engine and trl vllm-serve): no CUDA graphs / compile."}
    )
    eval_samples: int = field(
        default=0, metadata={"help": "Held-out synthetic prompts scored before/after; 0 = skip."}
    )
    eval_max_new_tokens: int = field(default=96, metadata={"help": "Generation budget of the held-out check."})
    completions_every: int = field(default=25, metadata={"help": "Save sample completions every N steps (0 = never)."})
    resume: bool = field(default=True, metadata={"help": "Resume from the last checkpoint in the stage folder."})

    def __post_init__(self):
        check_ranges(
            self,
            max_prompts=ALL_OR_POSITIVE,
            reward_alpha=NON_NEGATIVE,
            image_min_pixels=POSITIVE,
            image_max_pixels=POSITIVE,
            eval_samples=NON_NEGATIVE,
            eval_max_new_tokens=POSITIVE,
            completions_every=NON_NEGATIVE,
            reward=one_of(REWARD_VARIANTS),
            accuracy_filter_metric=one_of(FILTER_METRICS),
            accuracy_filter_mode=one_of(FILTER_MODES),
            accuracy_filter_max_refills=NON_NEGATIVE,
        )
        if self.image_max_pixels < self.image_min_pixels:
            raise ValueError(f"image_max_pixels ({self.image_max_pixels}) is below image_min_pixels")
        if not 0 <= self.accuracy_filter_min <= self.accuracy_filter_max <= 1:
            raise ValueError("need 0 <= accuracy_filter_min <= accuracy_filter_max <= 1")

    def input_stages(self) -> list[str]:
        return [stage_name(self.dataset)] if stage_name(self.dataset) else []
