"""Config of stage 02, reflection generation (paper §3.1, App. B.2 and B.4).

The stage runs: first attempts by the policy (or the synthetic generator) -> an optional LLM quality
judge -> selection to a target size and correct/wrong ratio -> teacher reflections -> the SFT set.
API keys are never config values: the recipe names the environment variable that holds each key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from srpo.configs.base import FRACTION, NON_NEGATIVE, PLACEMENTS, POSITIVE, check_ranges, one_of

ATTEMPT_SOURCES = ("policy", "generator", "mixed")
TEACHERS = ("openai", "template")
LAYOUTS = ("paper", "two_pass")
ANSWER_FORMATS = ("boxed", "raw")
BACKENDS = ("hf", "vllm")


def _h(text: str) -> dict:
    return {"help": text}


@dataclass
class ReflectionArgs:
    """> Parameters that control first attempts, the judge, the teacher and the selection of the SFT set."""

    # ------------------------------------------------------------------ first attempts (paper §3.1)
    policy_model: str = field(default="tiny://instruct", metadata=_h("Model that makes the first attempts."))
    attempt_source: str = field(
        default="policy",
        metadata=_h(
            "policy: the policy's own attempts; generator: synthetic correct/flawed attempts (synthetic "
            "records only); mixed: the policy's, with generator attempts filling a class the policy lacks."
        ),
    )
    attempt_backend: str = field(default="hf", metadata=_h("hf (transformers generate) | vllm (offline engine)."))
    attempt_tensor_parallel_size: int = field(default=1, metadata=_h("vLLM: GPUs per engine."))
    attempt_data_parallel_size: int = field(default=1, metadata=_h("vLLM: engines, each on its own GPUs."))
    attempt_gpu_memory_utilization: float = field(default=0.9, metadata=_h("vLLM: GPU memory share."))
    attempt_batch_size: int = field(default=32, metadata=_h("hf: requests per generate() call."))
    attempt_max_model_len: int = field(default=8192, metadata=_h("vLLM: prompt + attempt tokens."))
    attempt_enforce_eager: bool = field(default=False, metadata=_h("vLLM: no CUDA graphs / Inductor compile."))
    attempt_min_pixels: int = field(default=3136, metadata=_h("Image pixel budget, lower end (both backends)."))
    attempt_max_pixels: int = field(
        default=262_144, metadata=_h("Image pixel budget, upper end: the SFT stage's, so attempts see its images.")
    )
    attempt_chunk_size: int = field(
        default=256, metadata=_h("Problems per resumable chunk (a vLLM engine is rebuilt per chunk: keep it big).")
    )
    attempt_prompt: str = field(default="single_pass", metadata=_h("Prompt name in srpo.formats.PROMPTS."))
    attempt_prompt_placement: str = field(default="system", metadata=_h("system | user | none."))
    attempt_temperature: float = field(default=0.2, metadata=_h("Sampling temperature (released code: 0.2)."))
    attempt_top_p: float = field(default=1.0, metadata=_h("Nucleus sampling."))
    attempt_max_new_tokens: int = field(default=1024, metadata=_h("Tokens per attempt (released code: 1024)."))
    attempts_per_problem: int = field(default=1, metadata=_h("Sampled attempts per problem."))
    max_problems: int = field(default=0, metadata=_h("Use only the first N problems of sft_pool; 0 = all."))

    # ------------------------------------------------------------------ judge (paper: DeepSeek-V3)
    judge: bool = field(default=False, metadata=_h("Ask an LLM judge to drop low-quality attempts."))
    judge_model: str = field(default="deepseek-chat", metadata=_h("Judge model name at judge_base_url."))
    judge_base_url: str = field(default="https://api.deepseek.com/v1", metadata=_h("OpenAI-compatible URL."))
    judge_api_key_env: str = field(
        default="DEEPSEEK_API_KEY", metadata=_h("NAME of the env var holding the judge's key ('' = no key).")
    )
    judge_price_input_per_mtok: float = field(default=0.0, metadata=_h("USD per 1M prompt tokens (estimate)."))
    judge_price_output_per_mtok: float = field(default=0.0, metadata=_h("USD per 1M completion tokens."))

    # ------------------------------------------------------------------ teacher (paper: o4-mini)
    teacher: str = field(default="openai", metadata=_h("openai (any OpenAI-compatible server) | template."))
    teacher_model: str = field(default="o4-mini", metadata=_h("Teacher model name at teacher_base_url."))
    teacher_base_url: str = field(default="https://api.openai.com/v1", metadata=_h("OpenAI-compatible URL."))
    teacher_api_key_env: str = field(
        default="OPENAI_API_KEY", metadata=_h("NAME of the env var holding the teacher's key ('' = no key).")
    )
    teacher_max_tokens: int = field(default=4096, metadata=_h("max_completion_tokens per teacher request."))
    teacher_temperature: float | None = field(
        default=None, metadata=_h("Sampling temperature; null = server default (o-series models accept no other).")
    )
    teacher_json_mode: bool = field(default=True, metadata=_h("Send response_format={'type': 'json_object'}."))
    teacher_price_input_per_mtok: float = field(default=0.0, metadata=_h("USD per 1M prompt tokens (estimate)."))
    teacher_price_output_per_mtok: float = field(default=0.0, metadata=_h("USD per 1M completion tokens."))

    # ------------------------------------------------------------------ requests to judge and teacher
    api_concurrency: int = field(default=16, metadata=_h("Requests in flight at most."))
    api_timeout_s: float = field(default=120.0, metadata=_h("Per-request timeout in seconds."))
    api_max_tries: int = field(
        default=5, metadata=_h("Tries per sample (429, 5xx, timeouts and invalid output each use one).")
    )
    api_backoff_s: float = field(default=1.0, metadata=_h("First retry delay; doubles per try (with jitter)."))
    api_backoff_max_s: float = field(default=60.0, metadata=_h("Longest retry delay."))

    # ------------------------------------------------------------------ selection (paper: 10K, ~30% correct)
    target_size: int = field(default=10_000, metadata=_h("Samples sent to the teacher (paper: 10K)."))
    correct_ratio: float = field(default=0.3, metadata=_h("Share of correct first attempts (paper: ~0.3)."))
    max_attempts_per_problem: int = field(default=1, metadata=_h("Attempts of one problem in the SFT set."))
    refill_rejected: bool = field(
        default=True,
        metadata=_h(
            "Replace each sample the teacher rejects by the next candidate of its class (correct or wrong), "
            "so the set keeps target_size and correct_ratio; false: the set ends smaller."
        ),
    )

    # ------------------------------------------------------------------ SFT samples (App. B.4)
    layout: str = field(
        default="paper",
        metadata=_h("paper: think, answer, reflection, gold answer; two_pass: a second think before the gold answer."),
    )
    sft_answer_format: str = field(
        default="boxed",
        metadata=_h("boxed: answers as \\boxed{...}, as the RL format asks; raw: as App. B.4 writes them."),
    )
    sft_prompt: str = field(default="srpo_sft", metadata=_h("Prompt of the SFT samples (srpo.formats.PROMPTS)."))
    sft_prompt_placement: str = field(default="system", metadata=_h("system | user | none."))
    seed: int = field(default=0, metadata=_h("Seed for sampling attempts, the generator and selection."))

    def __post_init__(self):
        check_ranges(
            self,
            target_size=POSITIVE,
            max_problems=NON_NEGATIVE,
            attempt_tensor_parallel_size=POSITIVE,
            attempt_data_parallel_size=POSITIVE,
            attempt_temperature=NON_NEGATIVE,
            attempt_top_p=(lambda v: 0 < v <= 1, "in (0, 1]"),
            attempt_max_new_tokens=POSITIVE,
            attempt_gpu_memory_utilization=(lambda v: 0 < v <= 1, "in (0, 1]"),
            teacher_max_tokens=POSITIVE,
            teacher_temperature=NON_NEGATIVE,
            api_timeout_s=POSITIVE,
            api_backoff_s=NON_NEGATIVE,
            api_backoff_max_s=NON_NEGATIVE,
            correct_ratio=FRACTION,
            judge_price_input_per_mtok=NON_NEGATIVE,
            judge_price_output_per_mtok=NON_NEGATIVE,
            teacher_price_input_per_mtok=NON_NEGATIVE,
            teacher_price_output_per_mtok=NON_NEGATIVE,
            attempt_source=one_of(ATTEMPT_SOURCES),
            attempt_backend=one_of(BACKENDS),
            teacher=one_of(TEACHERS),
            layout=one_of(LAYOUTS),
            sft_answer_format=one_of(ANSWER_FORMATS),
            attempt_prompt_placement=one_of(PLACEMENTS),
            sft_prompt_placement=one_of(PLACEMENTS),
        )
        if self.layout == "two_pass" and self.sft_prompt == "srpo_sft":
            raise ValueError(
                "sft_prompt srpo_sft describes the paper layout's four blocks (no second think), but "
                "layout two_pass writes five; use sft_prompt: srpo_rl, which describes five blocks"
            )
        if not 0.0 <= self.correct_ratio <= 1.0:
            raise ValueError(f"correct_ratio must be in [0, 1], got {self.correct_ratio}")
        for name in (
            "api_concurrency",
            "api_max_tries",
            "attempts_per_problem",
            "attempt_chunk_size",
            "attempt_batch_size",
            "max_attempts_per_problem",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("judge_api_key_env", "teacher_api_key_env"):
            value = getattr(self, name)
            if value and not value.replace("_", "").isalnum():  # a key pasted where its variable's name belongs
                raise ValueError(f"{name} must be the NAME of an environment variable (e.g. OPENAI_API_KEY)")
