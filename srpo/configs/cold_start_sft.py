"""Config of stage 03, cold-start SFT (paper §4; the release's qwen2_5vl_full_sft.yaml).
Parsed together with TRL's SFTConfig and ModelConfig:
the recipe sets the learning rate, schedule, batch, max_length, precision, checkpointing and DeepSpeed there."""

from __future__ import annotations

from dataclasses import dataclass, field

from srpo.configs.base import ALL_OR_POSITIVE, NON_NEGATIVE, POSITIVE, check_ranges, stage_name


@dataclass
class SFTArgs:
    """> Parameters that control the SFT data, what is frozen and the held-out check (the rest is TRL's)."""

    dataset: str = field(
        default="stage:reflection_generation",
        metadata={
            "help": "stage:reflection_generation (the SFT set of stage 02), a dataset folder (save_to_disk), "
            "or cot:<folder of an SFT set> for its plain-CoT view (no reflection)."
        },
    )
    max_samples: int = field(default=-1, metadata={"help": "Use at most this many SFT samples; -1 = all."})
    freeze_vision: bool = field(
        default=True, metadata={"help": "Freeze the vision tower and the merger (projector), as the paper does (§4)."}
    )
    image_min_pixels: int = field(default=3136, metadata={"help": "Processor min pixels per image."})
    image_max_pixels: int = field(
        default=262_144, metadata={"help": "Processor max pixels per image (paper/released yaml: 262,144 = 512x512)."}
    )
    eval_samples: int = field(
        default=0,
        metadata={"help": "Held-out synthetic prompts scored before and after training (tiny profile); 0 = skip."},
    )
    eval_max_new_tokens: int = field(default=96, metadata={"help": "Generation budget of the held-out check."})
    eval_prompt: str = field(default="srpo_rl", metadata={"help": "Prompt of the held-out check (srpo.formats)."})
    eval_base_prompt: str = field(
        default="single_pass",
        metadata={
            "help": "Prompt of the 'before' check: the one the base model answers with (it never saw eval_prompt)."
        },
    )
    resume: bool = field(default=True, metadata={"help": "Resume from the last checkpoint in the stage folder."})

    def __post_init__(self):
        check_ranges(
            self,
            max_samples=ALL_OR_POSITIVE,
            image_min_pixels=POSITIVE,
            image_max_pixels=POSITIVE,
            eval_samples=NON_NEGATIVE,
            eval_max_new_tokens=POSITIVE,
        )
        if self.image_max_pixels < self.image_min_pixels:
            raise ValueError(f"image_max_pixels ({self.image_max_pixels}) is below image_min_pixels")

    def input_stages(self) -> list[str]:
        return [stage_name(self.dataset)] if stage_name(self.dataset) else []
