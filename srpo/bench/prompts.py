"""Prompts for evaluation: the SRPO prompt (default) or a single-answer prompt (paper §4).

``srpo_rl`` / ``srpo_sft`` / ``single_pass`` are the project's prompts (``srpo.formats.PROMPTS``).
``released_single`` is our wording of the single-answer system prompt of the authors' released eval
scripts (reason first, then one ``<answer>`` with the result in ``\\boxed{}``); it lives here rather than in
``formats.PROMPTS`` because that dict also feeds the tiny tokenizer's corpus, and a new entry there would
rebuild every tiny model.
"""

from __future__ import annotations

from srpo import formats
from srpo.configs.base import stage_name

RELEASED_SINGLE_PROMPT = (
    "Solve the question. Think through the reasoning first, then give the answer in LaTeX with the final "
    "result in \\boxed{}, enclosed in <answer> </answer> tags, for example: "
    "<answer> The answer is $\\boxed{2}$ </answer>."
)
EXTRA_PROMPTS = {"released_single": RELEASED_SINGLE_PROMPT}
# Not a prompt but a rule: the prompt (and placement) of the model's own SFT data, read from its run's configs
# (``trained_prompt``). An SFT-only model is evaluated with the system prompt it was trained with (srpo_sft at
# 7b/32b), not with the RL prompt it never saw.
TRAINED = "trained"


def prompt_names() -> list[str]:
    return sorted({*formats.PROMPTS, *EXTRA_PROMPTS, TRAINED})


def trained_prompt(model_path) -> tuple[str, str]:
    """``(prompt, placement)`` the SFT checkpoint ``<run_dir>/cold_start_sft/final`` was trained with: its
    stage config's ``dataset`` names the SFT set, whose stage-02 config holds ``sft_prompt`` and
    ``sft_prompt_placement`` (a ``cot:`` view is single-pass). Raises ``ValueError`` naming the fix when the
    checkpoint is not such a folder."""
    from pathlib import Path

    from srpo import config

    final = Path(model_path)
    sft_config = final.parent / "config.yaml"
    fix = f"give the model an explicit prompt (model_prompts NAME=srpo_sft, for example) instead of {TRAINED!r}"
    if not sft_config.is_file():
        raise ValueError(f"{final} is not the final/ folder of an SFT stage (no {sft_config}): {fix}")
    dataset = str(config.read_yaml_mapping(sft_config).get("dataset", ""))
    if dataset.startswith("cot:"):
        return "single_pass", "system"  # reflection.sft_set.cot_view
    if stage_name(dataset):
        set_config = final.parent.parent / stage_name(dataset) / "config.yaml"
    else:  # a folder: <run_dir>/reflection_generation/sft
        set_config = Path(dataset).parent / "config.yaml"
    if not set_config.is_file():
        raise ValueError(f"cannot find the config of the SFT set {dataset!r} of {final} ({set_config}): {fix}")
    values = config.read_yaml_mapping(set_config)
    if "sft_prompt" not in values:
        raise ValueError(f"{set_config} names no sft_prompt: {fix}")
    return check_prompt(values["sft_prompt"]), values.get("sft_prompt_placement", "system")


def check_prompt(name: str) -> str:
    if name == TRAINED:
        return name
    if name not in formats.PROMPTS and name not in EXTRA_PROMPTS:
        raise ValueError(f"unknown evaluation prompt {name!r}; choose one of {prompt_names()}")
    return name


def prompt_text(name: str) -> str:
    check_prompt(name)
    return EXTRA_PROMPTS.get(name) or formats.get_prompt(name)


def messages_for(question: str, n_images: int, prompt: str = "srpo_rl", placement: str = "system") -> list:
    """Chat messages with ``{"type": "image"}`` placeholders, as ``formats.build_messages`` builds them."""
    if check_prompt(prompt) in formats.PROMPTS or placement == "none":
        return formats.build_messages(
            question, n_images, prompt if prompt in formats.PROMPTS else "srpo_rl", placement
        )
    bare = formats.build_messages(question, n_images, placement="none")
    text = EXTRA_PROMPTS[prompt]
    if placement == "system":
        return [{"role": "system", "content": [{"type": "text", "text": text}]}, *bare]
    if placement == "user":
        bare[0]["content"][-1]["text"] = f"{question}\n\n{text}"
        return bare
    raise ValueError(f"unknown prompt placement {placement!r}; choose system, user or none")
