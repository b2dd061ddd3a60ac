"""An optional LLM judge through any OpenAI-compatible endpoint (docs/paper_vs_release.md, row "Scorer").

The official MathVista / MathVerse scoring uses a GPT model to extract and compare answers (the release
used gpt-4o-2024-11-20). The rule-based scorer (``srpo.grading``) is this project's default; the judge is
an option whose numbers are always reported under their own scorer name (``judge:<model>``), next to the
rule-based ones, never instead of them.

The judge sees the question, the options, the gold answer and the candidate answer (the answer block, or
the tail of a reply that has none) and must reply ``correct`` or ``incorrect``. Temperature 0, one call per
distinct (item, candidate), a few retries; a call that keeps failing leaves the verdict None (counted
wrong, and counted in ``judge_errors``).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from srpo.bench.base import letter_of

JUDGE_SYSTEM = (
    "You grade answers to exam questions. Given a question, its reference answer and a candidate answer, "
    "decide whether the candidate gives the same final answer as the reference (equivalent numbers, "
    "expressions or the same option; ignore formatting and units written differently). "
    "Reply with exactly one word: correct or incorrect."
)
TAIL_CHARS = 1500  # of a reply without answer blocks, what the judge reads


class LLMJudge:
    """``LLMJudge("gpt-4o-2024-11-20", base_url=...)``; ``client`` may be any object with the OpenAI chat API."""

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY", client=None,
                 max_workers: int = 8, retries: int = 3):  # fmt: skip
        if client is None:
            from openai import OpenAI

            key = os.environ.get(api_key_env)
            if not key and not base_url:
                raise ValueError(f"the LLM judge needs an API key in ${api_key_env} (or a judge_base_url)")
            client = OpenAI(base_url=base_url or None, api_key=key or "EMPTY")
        self.client, self.model, self.name = client, model, f"judge:{model}"
        self.max_workers, self.retries = max_workers, retries
        self._memo: dict[tuple, bool | None] = {}

    def prompt(self, item: dict, candidate: str) -> str:
        options = item.get("options") or []
        lines = [f"Question:\n{item['question']}"]
        if options:
            lines.append("Options:\n" + "\n".join(f"({letter_of(i)}) {o}" for i, o in enumerate(options)))
        gold = item["answer"]
        if item.get("answer_type") == "multiple_choice" and options and gold in "ABCDEFGHIJ"[: len(options)]:
            gold = f"({gold}) {options['ABCDEFGHIJ'.index(gold)]}"
        lines += [f"Reference answer: {gold}", f"Candidate answer: {candidate}"]
        return "\n\n".join(lines)

    def verdict(self, item: dict, candidate: str | None) -> bool | None:
        if candidate is None or not str(candidate).strip():
            return False
        key = (item["id"], candidate)
        if key not in self._memo:
            self._memo[key] = self._ask(self.prompt(item, candidate))
        return self._memo[key]

    def _ask(self, text: str) -> bool | None:
        for attempt in range(self.retries):
            try:
                reply = self.client.chat.completions.create(
                    model=self.model, temperature=0, max_tokens=5,
                    messages=[{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": text}],
                )  # fmt: skip
                word = (reply.choices[0].message.content or "").strip().lower()
                if word.startswith("incorrect"):
                    return False
                if word.startswith("correct"):
                    return True
            except Exception as exc:  # network, rate limit: back off and retry
                print(f"[srpo.bench] judge call failed ({exc}); attempt {attempt + 1}/{self.retries}", flush=True)
                if attempt + 1 < self.retries:
                    time.sleep(2**attempt)
        return None

    def score_records(self, items: list[dict], records: list[dict]) -> None:
        """Add ``judge_first_correct`` / ``judge_final_correct`` / ``judge_error`` to each record, in place."""
        by_id = {it["id"]: it for it in items}

        def one(r):
            item = by_id[r["id"]]
            final = r["final_answer"] if r.get("parsed") else (r.get("response") or "")[-TAIL_CHARS:]
            first = None if r.get("first_answer") is None else self.verdict(item, r["first_answer"])
            return first, self.verdict(item, final)

        with ThreadPoolExecutor(self.max_workers) as pool:
            verdicts = list(pool.map(one, records))
        for r, (first, final) in zip(records, verdicts, strict=True):
            r["judge_first_correct"], r["judge_final_correct"] = first, bool(final)
            r["judge_error"] = final is None or (r.get("first_answer") is not None and first is None)


# ---------------------------------------------------------------------------------------------- two-step
EXTRACT_SYSTEM = (
    "You read a model's reply to an exam question and copy out the final answer it gives, without solving the "
    "question yourself: an option letter, a number, an expression or a short phrase. Reply with JSON "
    '{"extraction": "<the answer>"}; use "" when the reply gives no answer.'
)


class ExtractThenCompare:
    """The official two-step scoring of MathVista and MathVerse: an LLM extracts the answer from the reply
    (``srpo.reflection.client``: bounded concurrency, retries, token and cost accounting), then the rules of
    ``srpo.grading.grade_answer`` compare it with the gold, as MathVista's own normalisation does. Verdicts go
    under ``judge2:<model>``, beside the rule score and never mixed into it. ``store`` (any object with
    ``in``, ``append`` and ``get``, e.g. ``srpo.reflection.store.JsonlStore``) makes a run resumable; without
    one, results are kept in memory.
    """

    def __init__(self, settings, store=None):
        from srpo.reflection.client import ChatClient

        self.settings, self.client = settings, ChatClient(settings)
        self.store = store if store is not None else _MemoryStore()
        self.name = f"judge2:{settings.model}"

    @staticmethod
    def key(item: dict, reply: str) -> str:
        import hashlib

        return hashlib.sha1(f"{item['id']}\n{reply}".encode()).hexdigest()[:20]

    def score_records(self, items: list[dict], records: list[dict]) -> dict:
        """Add ``judge2_extraction`` / ``judge2_final_correct`` / ``judge2_error`` in place; returns the usage
        (tokens, estimated USD, rejections) of this store."""
        from srpo.bench.scoring import grade
        from srpo.reflection.client import run_requests, usage_summary

        by_id = {it["id"]: it for it in items}
        pairs = {self.key(by_id[r["id"]], r.get("response") or ""): (by_id[r["id"]], r) for r in records}

        def messages(key):
            item, record = pairs[key]
            text = f"Question:\n{item['question']}\n\nReply:\n{(record.get('response') or '')[-4 * TAIL_CHARS :]}"
            return [{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": text}]

        run_requests(self.client, list(pairs), messages, lambda key: _validate_extraction, self.store,
                     label=self.name)  # fmt: skip
        for key, (item, record) in pairs.items():
            row = self.store.get(key) or {}
            extraction = (row.get("output") or {}).get("extraction") if row.get("status") == "accepted" else None
            record["judge2_extraction"] = extraction
            record["judge2_final_correct"] = bool(extraction) and grade(extraction, item)
            record["judge2_error"] = row.get("status") != "accepted"
        return usage_summary([self.store.get(k) for k in pairs if self.store.get(k)], self.settings)


def _validate_extraction(text: str):
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return None, "not_json"
    if not isinstance(value, dict) or not isinstance(value.get("extraction"), str):
        return None, "no_extraction_field"
    return {"extraction": value["extraction"].strip()}, None


class _MemoryStore(dict):
    def append(self, row: dict) -> None:
        self[row["id"]] = row
