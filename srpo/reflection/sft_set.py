"""SFT samples in TRL's prompt/completion + images format (paper §3.1, App. B.4).

Layouts of the assistant target:

* ``paper`` (default): ``<think>CoT</think><answer>predicted</answer><reflection>F</reflection>
  <answer>ground truth</answer>``: the paper's SFT target has no second think;
* ``two_pass``: ``<think>CoT</think><answer>predicted</answer><reflection>F</reflection>
  <think>revised</think><answer>ground truth</answer>``: the five-block RL format (paper §3.2.2), for a
  policy that can only produce what SFT showed it (the tiny profile).

The prompt is ``srpo.formats.build_messages`` with the configured SFT prompt and placement, so stage 03
trains on exactly the messages it will later be prompted with. The loss covers the completion only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from srpo import formats, paths

SFT_DIR = "sft"
STAGE = "reflection_generation"


def features():
    from datasets import Features, Image, List, Value

    message = List({"role": Value("string"), "content": List({"type": Value("string"), "text": Value("string")})})
    return Features(
        {
            "id": Value("string"),
            "images": List(Image()),
            "prompt": message,
            "completion": message,
            "first_correct": Value("bool"),
            "answer": Value("string"),
            "answer_type": Value("string"),
            "options": List(Value("string")),
            "precision": Value("int32"),
            "source": Value("string"),
        }
    )


def sft_target(attempt: dict, reply: dict, gold: str, layout: str, answer_format: str = "boxed") -> str:
    """The assistant target of one sample in ``layout``, answers written ``boxed`` (``\\boxed{...}``, as the RL
    format asks) or ``raw`` (as App. B.4; docs/paper_vs_release.md, row "SFT answers")."""
    if answer_format not in ("boxed", "raw"):
        raise ValueError(f"unknown answer format {answer_format!r}; choose boxed or raw")
    boxed = answer_format == "boxed"
    head = (
        formats.think(attempt["think"])
        + formats.answer(attempt["answer"], boxed)
        + formats.reflection(reply["reflection"])
    )
    if layout == "paper":
        return head + formats.answer(gold, boxed)
    if layout == "two_pass":
        return head + formats.think(reply["revised_reasoning"]) + formats.answer(gold, boxed)
    raise ValueError(f"unknown layout {layout!r}; choose paper or two_pass")


def sft_row(record: dict, attempt: dict, reply: dict, args) -> dict:
    prompt = formats.build_messages(
        record["question"], len(record["images"]), args.sft_prompt, args.sft_prompt_placement
    )
    target = sft_target(attempt, reply, record["answer"], args.layout, args.sft_answer_format)
    return {
        "id": attempt["id"],
        "images": record["images"],
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": target}]}],
        "first_correct": bool(attempt["correct"]),
        "answer": record["answer"],
        "answer_type": record["answer_type"],
        "options": list(record.get("options") or []),
        "precision": record.get("precision"),
        "source": record["source"],
    }


RELEASED_SOURCE = "srpo_sft_released"


def released_rows(pool) -> list[dict]:
    """SFT samples straight from the authors' released set (stage 01 with ``use_released_data``): their own
    system prompt and target (think, answer, reflection, gold answer; App. B.4), no attempts or teacher."""
    import json

    from srpo.grading import grade_answer

    rows = []
    for record in pool:
        meta = json.loads(record["metadata"])
        system = meta.get("released_system") or formats.SRPO_SFT_PROMPT
        images = [{"type": "image"} for _ in record["images"]]
        prompt = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": [*images, {"type": "text", "text": record["question"]}]},
        ]
        first = meta.get("released_first_answer")
        rows.append(
            {
                "id": record["id"],
                "images": record["images"],
                "prompt": prompt,
                "completion": [{"role": "assistant", "content": [{"type": "text", "text": meta["released_target"]}]}],
                "first_correct": bool(first)
                and grade_answer(
                    first, record["answer"], options=record["options"] or None, answer_type=record["answer_type"]
                ),
                "answer": record["answer"],
                "answer_type": record["answer_type"],
                "options": list(record["options"] or []),
                "precision": record.get("precision"),
                "source": record["source"],
            }
        )
    return rows


def save_sft_set(rows: list[dict], stage_dir: Path):
    """Write the set with ``save_to_disk`` to ``<stage_dir>/sft`` (replacing an older one) and return it."""
    from datasets import Dataset

    dataset = Dataset.from_list(rows, features=features())
    final = Path(stage_dir) / SFT_DIR
    tmp = final.with_name(SFT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    dataset.save_to_disk(str(tmp))
    paths.replace_dir(tmp, final)  # the older set stays whole until the new one is complete
    return dataset


def load_sft_set(run_dir):
    """The SFT set of a run's stage 02 as a ``datasets.Dataset`` (prompt/completion + images)."""
    from datasets import load_from_disk

    path = paths.stage_dir(run_dir, STAGE) / SFT_DIR
    if not path.exists():
        paths.require_done(run_dir, [STAGE], for_stage="reading the SFT set")
        raise FileNotFoundError(f"stage {STAGE} finished but wrote no SFT set at {path}")
    return load_from_disk(str(path))


def cot_view(sft):
    """The SFT set without reflection (ablation arm ``cot_sft_grpo``): the same problems, the second round's
    reasoning and the gold answer only, under the single-pass prompt. Needs the two-pass layout."""

    def to_cot(prompt, completion, images):
        parsed = formats.parse_completion(completion[0]["content"][0]["text"])
        if not parsed.is_five_block:
            raise ValueError("a plain-CoT view needs stage 02's two_pass layout (a second <think>)")
        question = " ".join(p["text"] for p in prompt[-1]["content"] if p.get("text"))
        text = formats.think(parsed.blocks[3].content) + formats.answer(parsed.final_answer)
        return {
            "prompt": formats.build_messages(question, len(images), "single_pass"),
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": text}]}],
        }

    return sft.map(to_cot, input_columns=["prompt", "completion", "images"])
