"""Prompts for evaluation: the SRPO prompt (default) or a single-answer prompt (paper §4).

``srpo_rl`` / ``srpo_sft`` / ``single_pass`` are the project's prompts (``srpo.formats.PROMPTS``).
``released_single`` is our wording of the single-answer system prompt of the authors' released eval
scripts (reason first, then one ``<answer>`` with the result in ``\\boxed{}``); it lives here rather than in
``formats.PROMPTS`` because that dict also feeds the tiny tokenizer's corpus, and a new entry there would
rebuild every tiny model.
"""

from __future__ import annotations

from srpo import formats

RELEASED_SINGLE_PROMPT = (
    "Solve the question. Think through the reasoning first, then give the answer in LaTeX with the final "
    "result in \\boxed{}, enclosed in <answer> </answer> tags, for example: "
    "<answer> The answer is $\\boxed{2}$ </answer>."
)
EXTRA_PROMPTS = {"released_single": RELEASED_SINGLE_PROMPT}


def prompt_names() -> list[str]:
    return sorted({*formats.PROMPTS, *EXTRA_PROMPTS})


def check_prompt(name: str) -> str:
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
