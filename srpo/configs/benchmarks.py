"""Config of stage 05, benchmarks (paper §4, Table 1)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from srpo.configs.base import NON_NEGATIVE, PLACEMENTS, POSITIVE, check_ranges, one_of, parse_pairs, stage_name

BACKENDS = ("hf", "vllm")
JUDGE_MODES = ("extract_compare", "verdict")  # srpo.bench.judge


@dataclass
class BenchArgs:
    """> Parameters that control which models are evaluated on which benchmarks, and how."""

    models: list[str] = field(
        default_factory=lambda: ["base=tiny://instruct", "sft=stage:cold_start_sft", "srpo=stage:grpo_rl"],
        metadata={"help": "NAME=SOURCE: a folder, a Hub id, tiny://..., or stage:X for <run_dir>/X/final."},
    )
    model_prompts: list[str] = field(
        default_factory=list, metadata={"help": "NAME=PROMPT: a prompt other than `prompt` for one model."}
    )
    paper_models: list[str] = field(
        default_factory=list, metadata={"help": "NAME=ROW: the paper's Table 1 row shown beside a model."}
    )
    benchmarks: list[str] = field(
        default_factory=lambda: ["synthetic"],
        metadata={"help": "name or name:split (mathvista, mathverse, mathvision, mmmu_pro, synthetic)."},
    )
    limit: int = field(default=0, metadata={"help": "First N items of each benchmark (0 = all); for smoke tests."})
    synthetic_n: int = field(default=500, metadata={"help": "Size of the synthetic test set."})
    prompt: str = field(default="srpo_rl", metadata={"help": "srpo_rl (paper) | released_single | single_pass ..."})
    placement: str = field(default="system", metadata={"help": "system | user | none: where the prompt goes."})
    backend: str = field(default="hf", metadata={"help": "hf (transformers) | vllm"})
    max_new_tokens: int = field(default=4096, metadata={"help": "Generation budget per response."})
    batch_size: int = field(default=64, metadata={"help": "HF backend: prompts per generate() call."})
    chunk_size: int = field(default=0, metadata={"help": "Prompts between cache writes (0 = backend default)."})
    sampled_n: int = field(
        default=0, metadata={"help": "Samples per prompt at sampled_temperature (0 = greedy only)."}
    )
    sampled_temperature: float = field(default=1.0, metadata={"help": "Temperature of the sampled run."})
    sampled_limit: int = field(default=0, metadata={"help": "Prompts in the sampled run (0 = all)."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs per engine."})
    data_parallel_size: int = field(default=1, metadata={"help": "vLLM: engines, each on its own GPUs."})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vLLM: share of GPU memory."})
    max_model_len: int = field(default=16384, metadata={"help": "vLLM: prompt + response tokens."})
    min_pixels: int = field(
        default=3136, metadata={"help": "Image pixel budget, lower end, applied by both backends to every model."}
    )
    max_pixels: int = field(
        default=1_003_520, metadata={"help": "Image pixel budget, upper end (Qwen2.5-VL default 1280*28*28)."}
    )
    enforce_eager: bool = field(default=False, metadata={"help": "vLLM: no CUDA graphs / Inductor compile."})
    judge_model: str = field(default="", metadata={"help": "LLM judge model (OpenAI-compatible); empty = rules only."})
    judge_base_url: str = field(default="", metadata={"help": "Judge endpoint; empty = OpenAI."})
    judge_api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Env variable with the judge key."})
    judge_mode: str = field(
        default="extract_compare",
        metadata={"help": "extract_compare (MathVista/MathVerse's official two-step) | verdict (one call)."},
    )
    judge_price_input_per_mtok: float = field(default=0.0, metadata={"help": "Judge: USD per 1M prompt tokens."})
    judge_price_output_per_mtok: float = field(default=0.0, metadata={"help": "Judge: USD per 1M output tokens."})
    data_root: str = field(default="", metadata={"help": "Folder with save_to_disk copies of the benchmarks."})
    seed: int = field(default=0, metadata={"help": "Seed for sampled decoding."})

    def __post_init__(self):
        check_ranges(
            self,
            limit=NON_NEGATIVE,
            synthetic_n=POSITIVE,
            max_new_tokens=POSITIVE,
            batch_size=POSITIVE,
            chunk_size=NON_NEGATIVE,
            sampled_n=NON_NEGATIVE,
            sampled_temperature=NON_NEGATIVE,
            sampled_limit=NON_NEGATIVE,
            tensor_parallel_size=POSITIVE,
            data_parallel_size=POSITIVE,
            gpu_memory_utilization=(lambda v: 0 < v <= 1, "in (0, 1]"),
            max_model_len=POSITIVE,
            max_pixels=POSITIVE,
            judge_price_input_per_mtok=NON_NEGATIVE,
            judge_price_output_per_mtok=NON_NEGATIVE,
            backend=one_of(BACKENDS),
            placement=one_of(PLACEMENTS),
            judge_mode=one_of(JUDGE_MODES),
        )
        # prompt and benchmark names are checked where the stage starts (srpo.bench.stage.check_args)
        unknown = set(parse_pairs(self.model_prompts, "model_prompts")) - set(self.model_specs())
        unknown |= set(parse_pairs(self.paper_models, "paper_models")) - set(self.model_specs())
        if unknown:  # a warning, not an error: overriding `models` alone must not fail on the recipe's extras
            warnings.warn(
                f"model_prompts / paper_models name models not in `models`, ignored: {sorted(unknown)}", stacklevel=2
            )

    def model_specs(self) -> dict[str, str]:
        """``{name: source}`` in the order given."""
        return parse_pairs(self.models, "models")

    def prompt_for(self, name: str) -> str:
        return parse_pairs(self.model_prompts, "model_prompts").get(name, self.prompt)

    def input_stages(self) -> list[str]:
        """The stages whose final checkpoints are evaluated (``stage:X`` sources)."""
        stages = [stage_name(source) for source in self.model_specs().values()]
        return list(dict.fromkeys(s for s in stages if s))
