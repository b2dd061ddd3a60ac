"""First attempts (paper §3.1): the policy answers each pool question with the single-pass think/answer
prompt, and the project's grader (not string equality, unlike the released code) marks each attempt.

Two sources, one row shape:

* ``policy``    the policy model through a generation backend (``hf`` on CPU, ``vllm`` on the cluster),
  ``attempts_per_problem`` samples each, in resumable chunks (ids ``<problem>#p<k>``);
* ``generator`` the synthetic generator's own attempts, one correct and one with a realistic flaw per
  problem (ids ``<problem>#gc`` / ``<problem>#gw``); synthetic records only, since the generator knows
  the true reading of the image.

A row: id, problem_id, attempt_source, text, think, answer, parseable, correct, num_tokens, finish_reason.
"""

from __future__ import annotations

import random

from srpo import formats, progress
from srpo.generation import GenerationRequest, GenerationSettings

LIGHT_COLUMNS = ["id", "source", "answer", "answer_type", "options", "precision", "metadata"]


def grade_attempt(record: dict, text: str) -> dict:
    """Parse a single-pass attempt and grade its answer against the record's gold answer."""
    from srpo.grading import find_answers, grade_answer

    parsed = formats.parse_completion(text)
    think = (parsed.first_think or "").strip()
    answer = (find_answers(text).first.text or "").strip()  # the reward's and the benchmarks' extraction
    parseable = bool(think) and bool(answer)
    kind = {
        "options": record.get("options") or None,
        "answer_type": record.get("answer_type"),
        "precision": record.get("precision"),
    }
    correct = parseable and grade_answer(answer, record["answer"], **kind)
    return {"think": think, "answer": answer, "parseable": parseable, "correct": bool(correct)}


def attempt_row(record: dict, attempt_id: str, source: str, text: str, num_tokens=None, finish_reason=None) -> dict:
    """One stored attempt. On a record of the synthetic glance variant the attempt is cut to the glance budget
    (``srpo.tiny.sevenseg.glance_attempt``): the policy's own answer, without the reasoning that produced it."""
    from srpo.tiny import sevenseg

    if record.get("source") == "synthetic" and sevenseg.first_pass_of(record) == "glance":
        text = sevenseg.glance_attempt(text)
    return {
        "id": attempt_id,
        "problem_id": record["id"],
        "attempt_source": source,
        "text": text,
        **grade_attempt(record, text),
        "num_tokens": num_tokens,
        "finish_reason": finish_reason,
    }


# ---------------------------------------------------------------------------------------------- policy
def policy_fingerprint(args) -> dict:
    """What makes two runs' policy attempts the same experiment (a changed value refuses to resume)."""
    keys = (
        "policy_model",
        "attempt_prompt",
        "attempt_prompt_placement",
        "attempt_temperature",
        "attempt_top_p",
        "attempt_max_new_tokens",
        "attempts_per_problem",
        "attempt_chunk_size",
        "attempt_min_pixels",
        "attempt_max_pixels",
        "seed",
    )
    return {k: getattr(args, k) for k in keys}


def policy_ids(problem_id: str, n: int) -> list[str]:
    return [f"{problem_id}#p{k}" for k in range(n)]


def make_policy_backend(args):
    from srpo.generation import make_backend

    if args.attempt_backend == "vllm":
        return make_backend(
            "vllm",
            args.policy_model,
            tensor_parallel_size=args.attempt_tensor_parallel_size,
            data_parallel_size=args.attempt_data_parallel_size,
            gpu_memory_utilization=args.attempt_gpu_memory_utilization,
            max_model_len=args.attempt_max_model_len,
            enforce_eager=args.attempt_enforce_eager,
        )
    return make_backend("hf", args.policy_model)


def run_policy_attempts(pool, args, store, backend=None) -> None:
    """Generate the policy's attempts for every chunk of ``pool`` whose ids are not all in ``store``.

    Chunks are fixed slices of the pool with their own seed, so a resumed run makes the same attempts
    as an uninterrupted one (given deterministic kernels)."""
    n, size = args.attempts_per_problem, args.attempt_chunk_size
    ids = pool["id"]
    chunks = [
        (i, start)
        for i, start in enumerate(range(0, len(pool), size))
        if any(a not in store for pid in ids[start : start + size] for a in policy_ids(pid, n))
    ]
    if not chunks:
        return
    backend = backend or make_policy_backend(args)
    total = sum(min(size, len(pool) - start) for _, start in chunks)
    done = 0
    lines = progress.Lines("attempts", total, every=1)  # one line per chunk
    for index, start in chunks:
        rows = pool.select(range(start, min(start + size, len(pool))))
        records = list(rows)
        requests = [
            GenerationRequest(
                r["id"],
                formats.build_messages(
                    r["question"], len(r["images"]), args.attempt_prompt, args.attempt_prompt_placement
                ),
                r["images"],
            )
            for r in records
        ]
        settings = GenerationSettings(
            max_new_tokens=args.attempt_max_new_tokens,
            temperature=args.attempt_temperature,
            top_p=args.attempt_top_p,
            n=n,
            seed=args.seed * 1_000_003 + index,
            batch_size=args.attempt_batch_size,
            min_pixels=args.attempt_min_pixels,
            max_pixels=args.attempt_max_pixels,
        )
        by_id = {r["id"]: r for r in records}
        generations = backend.generate(requests, settings)
        store.append(
            [
                attempt_row(by_id[g.id], f"{g.id}#p{g.sample}", "policy", g.text, g.num_tokens, g.finish_reason)
                for g in generations
            ]
        )
        done += len(records)
        lines.update(done, stored=len(store))


# ---------------------------------------------------------------------------------------------- generator
def run_generator_attempts(pool, seed: int, store) -> None:
    """One correct and one flawed generator attempt per synthetic problem (deterministic for ``seed``)."""
    from srpo.tiny import sevenseg

    light = pool.select_columns(LIGHT_COLUMNS)
    rows = []
    for record in light:
        if record["source"] != "synthetic":
            raise ValueError(
                f"attempt_source generator/mixed needs synthetic records; {record['id']!r} comes "
                f"from {record['source']!r}: use attempt_source: policy"
            )
        if f"{record['id']}#gw" in store:
            continue
        problem = sevenseg.Problem.from_record({**record, "images": [None]})
        rng = random.Random(f"{seed}|{record['id']}")
        for suffix, attempt in (
            ("gc", sevenseg.correct_attempt(problem)),
            ("gw", sevenseg.flawed_attempt(problem, rng)),
        ):
            row = attempt_row(record, f"{record['id']}#{suffix}", "generator", attempt.text)
            rows.append({**row, "flaw": attempt.flaw})
    store.append(rows)


def attempt_summary(rows: list[dict]) -> dict:
    """Counts per attempt source: attempts, parseable, correct, wrong, and the policy's accuracy."""
    out = {}
    for source in sorted({r["attempt_source"] for r in rows}):
        part = [r for r in rows if r["attempt_source"] == source]
        out[source] = {
            "attempts": len(part),
            "unparseable": sum(not r["parseable"] for r in part),
            "correct": sum(r["correct"] for r in part),
            "wrong": sum(r["parseable"] and not r["correct"] for r in part),
            "accuracy": round(sum(r["correct"] for r in part) / len(part), 4) if part else None,
            "hit_max_tokens": sum(r.get("finish_reason") == "length" for r in part),
        }
    return out
