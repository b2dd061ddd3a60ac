"""Optional LLM judges through any OpenAI-compatible endpoint (docs/paper_vs_release.md, row "Scorer").

The official MathVista / MathVerse scoring uses a GPT model to extract and compare answers (the release
used gpt-4o-2024-11-20). The rule-based scorer (``srpo.grading``) is this project's default; a judge is an
option whose numbers are always reported under their own scorer name, beside the rule-based ones, never
instead of them and never mixed into them:

* ``ExtractThenCompare`` (``judge_mode: extract_compare``, scorer ``judge2:<model>``): the official two-step
  scoring. An LLM copies the answer out of the reply (MathVista ``evaluation/extract_answer.py``, MathVerse
  ``evaluation/extract_answer_s1.py``); then MathVista's rules compare it with the gold (its
  ``calculate_score.py``: letter first, else the nearest option; ``srpo.bench.scoring.grade_extracted``),
  and for MathVerse an LLM decides whether the extracted and the standard answer are consistent (its
  ``score_answer_s2.py``: 1 or 0). Other benchmarks compare with the rules, as MathVista does.
* ``LLMJudge`` (``judge_mode: verdict``, scorer ``judge:<model>``): one call that sees the question, the gold
  and the candidate and answers correct or incorrect.

Every request goes through ``srpo.reflection.client`` (one retry loop with backoff; the ``openai`` client's own
retries are off), results are appended to a ``JsonlStore`` keyed by a hash of what was asked, so a killed
run resumes, and the tokens and estimated cost are summed from the store and printed. A request that keeps
failing leaves the verdict None: graded wrong and counted in ``n_judge_errors`` / ``n_judge2_errors``.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

from srpo.bench.base import option_letter
from srpo.reflection.client import ChatClient, request_one, run_requests, usage_summary

TAIL_CHARS = 1500  # of a reply without answer blocks, what the verdict judge reads
EXTRACT_TAIL_CHARS = 6000  # of a reply, what the extractor reads (the answer is at its end)

JUDGE_SYSTEM = (
    "You grade answers to exam questions. Given a question, its reference answer and a candidate answer, "
    "decide whether the candidate gives the same final answer as the reference (equivalent numbers, "
    "expressions or the same option; ignore formatting and units written differently). "
    "Reply with exactly one word: correct or incorrect."
)
EXTRACT_SYSTEM = (
    "You read a model's reply to an exam question and copy out the final answer it gives, without solving the "
    "question yourself: an option letter, a number, an expression or a short phrase. A reply that gives no "
    'answer, or says it cannot answer, has none. Reply with JSON {"extraction": "<the answer>"}; use "" when '
    "the reply gives no answer."
)
COMPARE_SYSTEM = (  # MathVerse's second step, in our words: consistent only on a complete match
    "You compare two answers to a math question: the standard answer and an answer extracted from a model's "
    "reply. They are consistent only when the model's answer matches the standard answer completely; for a "
    "multiple-choice question the model may give the option's letter or its content; otherwise the same value "
    "written another way counts (0.5 m and 50 cm). An empty model answer is never consistent. Reply with "
    'JSON {"judgement": 1} when they are consistent, else {"judgement": 0}.'
)


def _key(*parts: str) -> str:
    return hashlib.sha1("\n\x00".join(parts).encode()).hexdigest()[:24]


def _options_text(item: dict) -> str:
    options = item.get("options") or []
    return "\n".join(f"({option_letter(i)}) {o}" for i, o in enumerate(options))


class LLMJudge:
    """One-step verdicts: ``LLMJudge(ApiSettings(model=..., base_url=..., api_key_env=..., json_mode=False))``."""

    prefix = "judge_"

    def __init__(self, settings, store=None, max_workers: int | None = None):
        self.settings, self.client = settings, ChatClient(settings)
        self.store = store if store is not None else MemoryStore()
        self.name = f"judge:{settings.model}"
        self.max_workers = max_workers or settings.concurrency

    def prompt(self, item: dict, candidate: str) -> str:
        lines = [f"Question:\n{item['question']}"]
        if item.get("options"):
            lines.append("Options:\n" + _options_text(item))
        gold, options = item["answer"], item.get("options") or []
        if item.get("answer_type") == "multiple_choice" and options and gold in "ABCDEFGHIJ"[: len(options)]:
            gold = f"({gold}) {options['ABCDEFGHIJ'.index(gold)]}"
        lines += [f"Reference answer: {gold}", f"Candidate answer: {candidate}"]
        return "\n\n".join(lines)

    def verdict(self, item: dict, candidate: str | None) -> bool | None:
        """True / False, or None when every try failed. An empty candidate is wrong without a call."""
        if candidate is None or not str(candidate).strip():
            return False
        text = self.prompt(item, candidate)
        key = _key("verdict", str(item.get("source")), str(item["id"]), text)
        if key not in self.store:
            messages = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": text}]
            self.store.append(request_one(self.client, key, messages, _validate_verdict))
        row = self.store.get(key)
        return row["output"]["correct"] if row["status"] == "accepted" else None

    def score_records(self, items: list[dict], records: list[dict]) -> dict:
        """Add ``judge_first_correct`` / ``judge_final_correct`` / ``judge_error`` to each record, in place;
        returns the usage (tokens, estimated USD) of the store."""
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
        return usage_summary(self.store.rows(), self.settings)


def _validate_verdict(text: str):
    word = text.strip().strip(".*\"'").lower()
    if word.startswith("incorrect"):
        return {"correct": False}, None
    if word.startswith("correct"):
        return {"correct": True}, None
    return None, "not_a_verdict"


class ExtractThenCompare:
    """The official two-step scoring of MathVista and MathVerse (module docstring). ``store``: any object with
    ``in``, ``append``, ``get`` and ``rows`` (``srpo.reflection.store.JsonlStore`` makes a run resumable);
    without one, results are kept in memory. Adds ``judge2_extraction``, ``judge2_first_correct``,
    ``judge2_final_correct`` and ``judge2_error`` to each record; the rule fields are left untouched."""

    prefix = "judge2_"

    def __init__(self, settings, store=None):
        self.settings, self.client = settings, ChatClient(settings)
        self.store = store if store is not None else MemoryStore()
        self.name = f"judge2:{settings.model}"

    def score_records(self, items: list[dict], records: list[dict]) -> dict:
        """Extract (one request per distinct reply or first answer), compare, and return the usage (tokens,
        estimated USD, rejections) of the store."""
        from srpo.bench.scoring import grade_extracted

        by_id = {it["id"]: it for it in items}
        asks: dict[str, tuple[dict, str]] = {}  # key -> (item, text to extract from)
        plan = []  # per record: (first key or None, final key)
        for r in records:
            item = by_id[r["id"]]
            final_key = self._ask(asks, item, (r.get("response") or "")[-EXTRACT_TAIL_CHARS:])
            first = r.get("first_answer")
            plan.append((None if first is None else self._ask(asks, item, first), final_key))
        self._run(asks, self._extract_messages, _validate_extraction, "extract")

        compare: dict[str, tuple[dict, str]] = {}  # MathVerse's LLM comparison of an extraction with the gold
        for key, (item, _) in asks.items():
            extraction = self._extraction(key)
            if extraction and _compares_with_llm(item):
                compare.setdefault(
                    _key("compare", str(item.get("source")), str(item["id"]), extraction), (item, extraction)
                )
        self._run(compare, self._compare_messages, _validate_judgement, "compare")

        def verdict(key: str | None) -> bool | None:
            if key is None:
                return None
            row, item = self.store.get(key), asks[key][0]
            if row is None or row["status"] != "accepted":
                return None
            extraction = row["output"]["extraction"]
            if not extraction:
                return False
            if not _compares_with_llm(item):
                return grade_extracted(extraction, item)
            judged = self.store.get(_key("compare", str(item.get("source")), str(item["id"]), extraction))
            return judged["output"]["judgement"] == 1 if judged and judged["status"] == "accepted" else None

        for r, (first_key, final_key) in zip(records, plan, strict=True):
            final = verdict(final_key)
            first = verdict(first_key)
            r["judge2_extraction"] = self._extraction(final_key)
            r["judge2_final_correct"], r["judge2_first_correct"] = bool(final), first
            r["judge2_error"] = final is None or (first_key is not None and first is None)
        return usage_summary(self.store.rows(), self.settings)

    @staticmethod
    def _ask(asks: dict, item: dict, text: str) -> str:
        key = _key("extract", str(item.get("source")), str(item["id"]), text)
        asks.setdefault(key, (item, text))
        return key

    def _extraction(self, key: str | None) -> str | None:
        row = None if key is None else self.store.get(key)
        return row["output"]["extraction"] if row and row["status"] == "accepted" else None

    def _run(self, asks: dict, build, validate, what: str) -> None:
        run_requests(
            self.client,
            list(asks),
            lambda key: build(*asks[key]),
            lambda key: validate,
            self.store,
            label=f"{self.name}:{what}",
        )

    @staticmethod
    def _extract_messages(item: dict, text: str) -> list:
        question = item["question"] + (f"\nChoices:\n{_options_text(item)}" if item.get("options") else "")
        user = f"Question:\n{question}\n\nModel reply:\n{text}"
        return [{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": user}]

    @staticmethod
    def _compare_messages(item: dict, extraction: str) -> list:
        question = item["question"] + (f"\nChoices:\n{_options_text(item)}" if item.get("options") else "")
        user = f"Question:\n{question}\n\nStandard answer: {item['answer']}\n\nModel answer: {extraction}"
        return [{"role": "system", "content": COMPARE_SYSTEM}, {"role": "user", "content": user}]


def _compares_with_llm(item: dict) -> bool:
    """MathVerse's second step is an LLM comparison; the other benchmarks compare with rules (MathVista's)."""
    return str(item.get("source") or "").startswith("mathverse")


def _validate_extraction(text: str):
    try:
        value = json.loads(text)
    except ValueError:
        return None, "not_json"
    if not isinstance(value, dict) or not isinstance(value.get("extraction"), str | int | float):
        return None, "no_extraction_field"
    return {"extraction": str(value["extraction"]).strip()}, None


def _validate_judgement(text: str):
    try:
        value = json.loads(text)
    except ValueError:
        return None, "not_json"
    judgement = value.get("judgement") if isinstance(value, dict) else None
    if str(judgement).strip() not in ("0", "1"):
        return None, "no_judgement_0_or_1"
    return {"judgement": int(str(judgement).strip())}, None


class MemoryStore(dict):
    """The store interface of ``JsonlStore``, in memory (tests, one-off calls)."""

    def append(self, row: dict) -> None:
        self[row["id"]] = row

    def rows(self) -> list[dict]:
        return list(self.values())
