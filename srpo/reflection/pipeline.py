"""Stage 02 from start to finish: attempts -> judge -> selection -> teacher -> SFT set -> summary.json.

Every step keeps its results in ``<run_dir>/reflection_generation/``:

    attempts.jsonl   first attempts (policy and/or generator), graded       (resumable)
    judge.jsonl      judge verdicts, if the judge is on                     (resumable)
    selection.json   the ids chosen for the SFT set, the ids the teacher rejected, and the selection report
    teacher.jsonl    teacher results: accepted with the reply, or rejected with a reason (resumable)

With ``refill_rejected`` each sample the teacher rejects is replaced by the next candidate of its class, so the
set keeps its size and its share of correct attempts (docs/paper_vs_release.md, row "Teacher rejections").
    sft/             the SFT set (save_to_disk), read by stage 03 with ``load_sft_set``
    summary.json     counts, tokens, estimated cost and timings; written last (the stage finished)

Re-running the stage resumes: finished attempts, verdicts and reflections are read back, not redone.
"""

from __future__ import annotations

import json
import logging
import time

from srpo import paths
from srpo.reflection import attempts as attempts_mod
from srpo.reflection import quality
from srpo.reflection import teacher as teacher_mod
from srpo.reflection.client import ApiSettings, ChatClient, run_requests, usage_summary
from srpo.reflection.selection import select
from srpo.reflection.sft_set import RELEASED_SOURCE, STAGE, released_rows, save_sft_set, sft_row
from srpo.reflection.store import JsonlStore

log = logging.getLogger(__package__)


def api_settings(args, who: str) -> ApiSettings:
    """Settings of the judge's or the teacher's endpoint (``who`` is "judge" or "teacher")."""
    teacher = who == "teacher"
    return ApiSettings(
        model=getattr(args, f"{who}_model"),
        base_url=getattr(args, f"{who}_base_url"),
        api_key_env=getattr(args, f"{who}_api_key_env"),
        concurrency=args.api_concurrency,
        timeout_s=args.api_timeout_s,
        max_tries=args.api_max_tries,
        backoff_s=args.api_backoff_s,
        backoff_max_s=args.api_backoff_max_s,
        max_tokens=args.teacher_max_tokens if teacher else 512,  # a verdict
        temperature=args.teacher_temperature if teacher else 0.0,
        json_mode=args.teacher_json_mode,
        price_input_per_mtok=getattr(args, f"{who}_price_input_per_mtok"),
        price_output_per_mtok=getattr(args, f"{who}_price_output_per_mtok"),
    )


def load_pool(run_dir, max_problems: int):
    """The sft_pool split (the first ``max_problems`` rows if that is above 0)."""
    from srpo.data import load_split

    pool = load_split(run_dir, "sft_pool")
    if max_problems > 0:
        pool = pool.select(range(min(max_problems, len(pool))))
    return pool


class RawPool:
    """Rows of the pool by problem id with images left encoded (``{"bytes", "path"}``): the teacher sends
    the original bytes and the SFT set stores them again, and 10K rows never sit decoded in memory."""

    def __init__(self, pool):
        self._arrow = pool.with_format("arrow")
        self._index = {pid: i for i, pid in enumerate(pool["id"])}

    def __getitem__(self, problem_id: str) -> dict:
        return self._arrow[self._index[problem_id]].to_pylist()[0]


def expected_attempt_ids(problem_ids: list[str], args) -> dict[str, set[str]]:
    out = {}
    if args.attempt_source in ("policy", "mixed"):
        out["policy"] = {a for pid in problem_ids for a in attempts_mod.policy_ids(pid, args.attempts_per_problem)}
    if args.attempt_source in ("generator", "mixed"):
        out["generator"] = {f"{pid}#{s}" for pid in problem_ids for s in ("gc", "gw")}
    return out


def make_attempts(pool, args, stage_dir) -> list[dict]:
    store = JsonlStore(stage_dir / "attempts.jsonl", attempts_mod.policy_fingerprint(args))
    if args.attempt_source in ("policy", "mixed"):
        attempts_mod.run_policy_attempts(pool, args, store)
    if args.attempt_source in ("generator", "mixed"):
        attempts_mod.run_generator_attempts(pool, args.seed, store)
    wanted = set().union(*expected_attempt_ids(pool["id"], args).values())
    return [r for r in store.rows() if r["id"] in wanted]


def run_judge(candidates, records, args, stage_dir) -> tuple[list[dict], dict]:
    settings = api_settings(args, "judge")
    store = JsonlStore(
        stage_dir / "judge.jsonl",
        {"model": settings.model, "base_url": settings.base_url, "prompt_version": quality.PROMPT_VERSION},
    )
    by_id = {c["id"]: c for c in candidates}

    def messages(key):
        return quality.judge_messages(records[by_id[key]["problem_id"]], by_id[key])

    run_requests(ChatClient(settings), list(by_id), messages, lambda k: quality.validate_verdict, store, label="judge")
    rows = [store.get(k) for k in by_id]
    keep = quality.kept_ids(rows)
    report = {**quality.judge_summary(rows), **usage_summary(rows, settings)}
    return [c for c in candidates if c["id"] in keep], report


def run_teacher(selected, raw: RawPool, args, stage_dir, report_also=()) -> tuple[dict, dict]:
    """Teacher results for the selected attempts, keyed by attempt id, and the teacher report (over the
    selected attempts and the already answered ids in ``report_also``)."""
    settings = api_settings(args, "teacher")
    fingerprint = {"teacher": args.teacher, "layout": args.layout, "prompt_version": teacher_mod.PROMPT_VERSION}
    if args.teacher == "openai":
        fingerprint |= {"model": settings.model, "base_url": settings.base_url}
    store = JsonlStore(stage_dir / "teacher.jsonl", fingerprint)
    by_id = {a["id"]: a for a in selected}

    def record(key):
        return raw[by_id[key]["problem_id"]]

    def validator(key):
        rec = record(key)
        return lambda text: teacher_mod.validate_reply(
            text, gold=rec["answer"], options=rec["options"], layout=args.layout
        )

    if args.teacher == "template":  # instant: results are stored in blocks, not one fsync per sample
        todo = [k for k in by_id if k not in store]
        for start in range(0, len(todo), 500):
            store.append([template_result(record(k), by_id[k], args.layout) for k in todo[start : start + 500]])
    else:

        def messages(key):
            return teacher_mod.teacher_messages(record(key), by_id[key], args.layout)

        run_requests(ChatClient(settings), list(by_id), messages, validator, store, label="teacher")
    rows = {k: store.get(k) for k in by_id}
    others = [store.get(k) for k in report_also if k not in rows]
    report = {"kind": args.teacher, **usage_summary([*rows.values(), *others], settings)}
    if args.teacher == "template":
        report["model"] = "template (srpo.tiny.sevenseg.template_reflection)"
    return rows, report


def template_result(record: dict, attempt: dict, layout: str) -> dict:
    """A template-teacher result row, checked like an API reply (same fields, no tokens)."""
    reply = teacher_mod.template_reply(record, attempt, layout)
    output, reason = teacher_mod.check_reflection(reply, gold=record["answer"], options=record["options"])
    return {
        "id": attempt["id"],
        "status": "rejected" if reason else "accepted",
        "reason": reason,
        "output": output,
        "tries": 1,
        "failures": [reason] if reason else [],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
        "seconds": 0.0,
    }


def select_for_teacher(candidates: list[dict], args, keep=(), exclude=frozenset()) -> tuple[list[dict], dict]:
    """The target mix from the primary source; with ``mixed``, generator attempts fill what the policy lacks.
    ``keep``/``exclude``: refill after teacher rejections (``selection.select``)."""
    primary = "generator" if args.attempt_source == "generator" else "policy"
    fill = [c for c in candidates if c["attempt_source"] == "generator"] if args.attempt_source == "mixed" else None
    return select(
        [c for c in candidates if c["attempt_source"] == primary],
        args.target_size,
        args.correct_ratio,
        args.seed,
        max_per_problem=args.max_attempts_per_problem,
        fill=fill,
        keep=keep,
        exclude=exclude,
    )


MAX_REFILL_ROUNDS = 20  # each round asks the teacher only for the new picks; rejections shrink geometrically


def select_and_reflect(candidates, raw: RawPool, args, stage_dir) -> tuple[list[dict], dict, dict, dict]:
    """Select, ask the teacher and, with ``refill_rejected``, replace the rejected picks by the next candidates
    of their class until the teacher accepts every pick or the candidates run out (the same rounds on a resumed
    run: the teacher's results are stored). Returns (selected, selection report, teacher results by id, teacher
    report); ``selection.json`` records the final picks and the rejected ids."""
    selected, report = select_for_teacher(candidates, args)
    rejected: set[str] = set()
    for rounds in range(1, MAX_REFILL_ROUNDS + 1):
        results, teacher_report = run_teacher(selected, raw, args, stage_dir, report_also=sorted(rejected))
        new = {k for k, r in results.items() if r["status"] != "accepted"}
        if not args.refill_rejected or not new or rounds == MAX_REFILL_ROUNDS:
            break
        rejected |= new
        keep = [a for a in selected if a["id"] not in rejected]
        selected, report = select_for_teacher(candidates, args, keep=keep, exclude=rejected)
    report = {
        **report,
        "refill_rejected": args.refill_rejected,
        "rounds": rounds,
        "teacher_rejected_replaced": len(rejected),
    }
    (stage_dir / "selection.json").write_text(
        json.dumps({"ids": [a["id"] for a in selected], "rejected_ids": sorted(rejected), **report})
    )
    return selected, report, results, teacher_report


def sft_summary(rows: list[dict], args, stage_dir) -> dict:
    n_correct = sum(r["first_correct"] for r in rows)
    return {
        "rows": len(rows),
        "correct": n_correct,
        "wrong": len(rows) - n_correct,
        "correct_share": round(n_correct / len(rows), 4),
        "layout": args.layout,
        "prompt": args.sft_prompt,
        "placement": args.sft_prompt_placement,
        "path": str(stage_dir / "sft"),
    }


def main(cfg) -> dict:
    import datasets

    datasets.disable_progress_bars()  # notebook output: the stage prints its own progress lines
    args, stage_dir, run_dir = cfg.args, cfg.stage_dir, cfg.run.run_dir
    from srpo.threads import configure

    configure(cfg.launch.torch_threads, label="reflection")
    seconds, t = {}, time.time()
    pool = load_pool(run_dir, args.max_problems)
    if pool.num_rows and set(pool.unique("source")) == {RELEASED_SOURCE}:
        return use_released_set(pool, args, stage_dir, run_dir)
    raw = RawPool(pool)

    attempts = make_attempts(pool, args, stage_dir)
    seconds["attempts"], t = round(time.time() - t, 1), time.time()
    candidates = [a for a in attempts if a["parseable"]]
    judge_report = {"enabled": False}
    if args.judge:
        light = {r["id"]: r for r in pool.select_columns(["id", "question"])}
        candidates, judge_report = run_judge(candidates, light, args, stage_dir)
        judge_report["enabled"] = True
    seconds["judge"], t = round(time.time() - t, 1), time.time()

    selected, selection_report, results, teacher_report = select_and_reflect(candidates, raw, args, stage_dir)
    seconds["teacher"], t = round(time.time() - t, 1), time.time()

    rows = [
        sft_row(raw[a["problem_id"]], a, results[a["id"]]["output"], args)
        for a in selected
        if results[a["id"]]["status"] == "accepted"
    ]
    if not rows:
        raise RuntimeError(
            f"stage 02 made no SFT sample: {len(attempts)} attempts, {len(candidates)} usable after parsing"
            f"{' and judging' if args.judge else ''}, {len(selected)} selected, teacher rejections "
            f"{teacher_report['rejection_reasons'] or 'none'}; the stored results are in {stage_dir}"
        )
    save_sft_set(rows, stage_dir)
    seconds["build"] = round(time.time() - t, 1)
    seconds["total"] = round(sum(seconds.values()), 1)
    summary = {
        "pool_problems": len(pool),
        "attempt_source": args.attempt_source,
        "policy_model": args.policy_model if args.attempt_source != "generator" else None,
        "attempts": attempts_mod.attempt_summary(attempts),
        "judge": judge_report,
        "selection": selection_report,
        "teacher": teacher_report,
        "sft": sft_summary(rows, args, stage_dir),
        "estimated_cost_usd": round(
            teacher_report["estimated_cost_usd"] + judge_report.get("estimated_cost_usd", 0), 4
        ),
        "seconds": seconds,
    }
    paths.write_summary(run_dir, STAGE, summary)
    log.info(
        f"SFT set: {len(rows)} samples ({summary['sft']['correct']} with a correct first attempt) "
        f"-> {stage_dir / 'sft'}"
    )
    return summary


def use_released_set(pool, args, stage_dir, run_dir) -> dict:
    """The shortest path to the paper: the authors' released SFT set becomes the SFT set unchanged."""
    rows = released_rows(pool)
    save_sft_set(rows, stage_dir)
    summary = {
        "pool_problems": len(pool),
        "attempt_source": "released",
        "policy_model": None,
        "teacher": {"kind": "released", "model": "the authors' release (SRPOMLLMs/srpo-sft-data)"},
        "sft": {**sft_summary(rows, args, stage_dir), "layout": "released", "prompt": "released system prompt"},
        "estimated_cost_usd": 0.0,
    }
    paths.write_summary(run_dir, STAGE, summary)
    log.info(f"the released SFT set is used as is: {len(rows)} samples -> {stage_dir / 'sft'}")
    return summary
