"""The optional LLM quality judge (paper §3.1: the paper used DeepSeek-V3 to judge CoT quality).

The judge reads the question, the attempt's reasoning and answer, and returns JSON
``{"keep": true|false, "reason": "..."}``. It judges the *reasoning*, not the answer: a coherent attempt
with a genuine mistake is exactly what a reflection can fix, so it is kept; reasoning that is empty,
incoherent, repetitive, off-topic or that never reaches an answer is dropped. DeepSeek-V3 reads text
only, so the judge sees no image. It goes through the same client as the teacher (retries, timeouts,
bounded concurrency, a resumable store); an attempt the judge fails to rate after all tries is dropped
and counted as ``judge_failed``.
"""

from __future__ import annotations

from functools import lru_cache

from srpo.reflection.teacher import parse_json_reply

PROMPT_VERSION = 1

JUDGE_PROMPT = (
    "You rate the quality of a model's step-by-step reasoning about a visual problem (you see the text "
    "only). Keep an attempt when its reasoning is coherent, on-topic, free of loops and repetition, and "
    "reaches an answer, even if that answer is wrong: wrong attempts with a clear mistake are wanted. Drop "
    "it when the reasoning is empty, incoherent, repetitive, ignores the question or reaches no answer. "
    'Reply with a JSON object only: {"keep": true or false, "reason": "one short sentence"}.'
)
SCHEMA = {
    "type": "object",
    "properties": {"keep": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["keep"],
}


def judge_messages(record: dict, attempt: dict) -> list:
    text = f"Problem:\n{record['question']}\n\nReasoning:\n{attempt['think']}\n\nAnswer: {attempt['answer']}"
    return [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": text}]


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(SCHEMA)


def validate_verdict(text: str):
    value = parse_json_reply(text)
    if value is None:
        return None, "invalid_json"
    if not _validator().is_valid(value):
        return None, "schema"
    return {"keep": value["keep"], "reason": str(value.get("reason", "")).strip()}, None


def kept_ids(rows: list[dict]) -> set[str]:
    return {r["id"] for r in rows if r["status"] == "accepted" and r["output"]["keep"]}


def judge_summary(rows: list[dict]) -> dict:
    accepted = [r for r in rows if r["status"] == "accepted"]
    return {
        "judged": len(rows),
        "kept": sum(r["output"]["keep"] for r in accepted),
        "dropped": sum(not r["output"]["keep"] for r in accepted),
        "judge_failed": len(rows) - len(accepted),
    }
