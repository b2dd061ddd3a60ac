"""Config of stage 01, data curation (paper §3.1 and §4.1). Recipes: recipes/<profile>/data_curation.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field

from srpo.configs.base import FRACTION, NON_NEGATIVE, POSITIVE, check_ranges, one_of

# The synthetic task's question types (srpo.tiny.sevenseg.QUESTION_TYPES; tests/test_data_stage.py keeps the two
# equal). Written out so that the config stays plain data; names are checked where the stage starts.
SYNTHETIC_QUESTION_TYPES = ("sum", "average", "larger", "difference")
SYNTHETIC_FIRST_PASSES = ("full", "glance")  # srpo.tiny.sevenseg.FIRST_PASSES (a test keeps them equal)


@dataclass
class CurationArgs:
    """> Parameters that control which sources are read, how they are filtered and how the splits are mixed.

    ``use_released_data`` is the one-key switch to the authors' release: sft_pool becomes every row of
    ``SRPOMLLMs/srpo-sft-data`` (already reflection SFT data; stage 02 can use its targets directly) and
    rl_train every row of ``bruce360568/SRPO_RL_datasets``; the sizes and mixes are then ignored.
    """

    use_released_data: bool = field(
        default=False, metadata={"help": "Use the authors' released SFT and RL data instead of building the mix."}
    )
    sft_pool_size: int = field(default=3000, metadata={"help": "Questions in the sft_pool split."})
    rl_train_size: int = field(default=4000, metadata={"help": "Prompts in the rl_train split."})
    sft_mix: list[str] = field(
        default_factory=lambda: ["synthetic:1"],
        metadata={"help": "name:weight per source of sft_pool (srpo.data.SOURCES); weights are ratios."},
    )
    rl_mix: list[str] = field(
        default_factory=lambda: ["synthetic:1"], metadata={"help": "name:weight per source of rl_train."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the per-source shuffles and of the split order."})
    streaming: bool = field(default=True, metadata={"help": "Stream Hub datasets instead of downloading them."})
    shuffle_buffer: int = field(default=10_000, metadata={"help": "Shuffle buffer of streamed sources."})
    image_root: str = field(
        default="", metadata={"help": "Folder with unpacked image archives, one sub-folder per source name."}
    )
    local_sources: list[str] = field(
        default_factory=list, metadata={"help": "name=path: read a source from a local copy instead of the Hub."}
    )
    min_pixels: int = field(default=784, metadata={"help": "Reject images with fewer pixels."})
    max_pixels: int = field(default=262_144, metadata={"help": "Shrink (or reject) images with more pixels."})
    resize_large_images: bool = field(
        default=True, metadata={"help": "Shrink images above max_pixels; false rejects them."}
    )
    max_images: int = field(default=4, metadata={"help": "Reject records with more images."})
    max_question_chars: int = field(default=3000, metadata={"help": "Reject longer questions."})
    max_answer_chars: int = field(default=200, metadata={"help": "Reject longer gold answers."})
    require_verifiable: bool = field(
        default=True, metadata={"help": "Reject gold answers the grader cannot check (srpo.grading)."}
    )
    synthetic_question_types: list[str] = field(
        default_factory=lambda: list(SYNTHETIC_QUESTION_TYPES),
        metadata={"help": "Question types of the synthetic source."},
    )
    synthetic_max_difficulty: float = field(default=1.0, metadata={"help": "Upper bound of ghost/noise difficulty."})
    synthetic_width: int = field(default=56, metadata={"help": "Synthetic image width in pixels."})
    synthetic_height: int = field(default=28, metadata={"help": "Synthetic image height in pixels."})
    synthetic_first_pass: str = field(
        default="full",
        metadata={
            "help": "full: first attempts read the digits; glance: the first attempt answers without reading "
            "and the reflection re-reads the image (README 'A task where reflection has room to help')."
        },
    )
    max_shard_size: str = field(default="500MB", metadata={"help": "Shard size of the saved splits."})

    def __post_init__(self):
        check_ranges(
            self,
            sft_pool_size=NON_NEGATIVE,
            rl_train_size=NON_NEGATIVE,
            shuffle_buffer=POSITIVE,
            min_pixels=POSITIVE,
            max_pixels=POSITIVE,
            max_images=POSITIVE,
            max_question_chars=POSITIVE,
            max_answer_chars=POSITIVE,
            synthetic_max_difficulty=FRACTION,
            synthetic_width=POSITIVE,
            synthetic_height=POSITIVE,
            synthetic_first_pass=one_of(SYNTHETIC_FIRST_PASSES),
        )
        if self.max_pixels < self.min_pixels:
            raise ValueError(f"max_pixels ({self.max_pixels}) is below min_pixels ({self.min_pixels})")

    def synthetic_settings(self) -> dict:
        return {
            "question_types": tuple(self.synthetic_question_types),
            "max_difficulty": self.synthetic_max_difficulty,
            "width": self.synthetic_width,
            "height": self.synthetic_height,
            "first_pass": self.synthetic_first_pass,
        }
