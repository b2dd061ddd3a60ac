"""Speed of the SRPO reward on one GRPO step's worth of completions (not a timed test).

One step of the paper's recipe is 128 prompts x 8 rollouts = 1,024 completions (paper §4.1). This script
builds such a batch: about 500 tokens per completion (2,000 characters of reasoning), mixed answer types
(multiple choice with letter and text golds, integers, floats with a precision, expressions, equations,
tuples, short text), answers written in the ways models write them, and a quarter malformed (missing
reflection, truncated, stray text, nested tags, empty blocks, unbalanced braces, no tags, repeated blocks).
Within a group of 8 the answers repeat, as a policy's do.

It scores the batch on ONE core (the process is pinned to one CPU) after a warm-up on a different batch,
with the grader's caches cleared in between, and prints completions/s, p50/p99/max latency per completion,
the slowest completions and the mean of each reward term. Two paths are timed: ``score_completion`` per
completion (counts every token with the tokenizer) and the TRL reward functions over the batch (L comes
from ``completion_ids``, as in training).

    .venv/bin/python scripts/bench_rewards.py                      # tiny-cpu tokenizer
    .venv/bin/python scripts/bench_rewards.py --tokenizer whitespace  # the reward's own cost only
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # the tokenizers' thread pool: one core means one core
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from srpo import grading, rewards  # noqa: E402
from srpo.grading import equiv  # noqa: E402

FILLER = (
    "the image shows a triangle with one side labelled so the length of the other side follows from the "
    "theorem we compute the area first then check the angle against the diagram because the value must "
    "be positive and the chart bar for this year is higher than the previous one which means the answer "
    "is consistent with the question"
)
WORDS = FILLER.split()
MALFORMED = (
    "no_reflection",
    "truncated",
    "stray_text",
    "nested",
    "empty_reflection",
    "unclosed_answer",
    "extra_answer",
    "no_tags",
    "unbalanced_brace",
    "empty_answer",
)


def prose(rng: random.Random, chars: int) -> str:
    words, n = [], 0
    while n < chars:
        w = rng.choice(WORDS) if rng.random() > 0.08 else f"{rng.randint(2, 99)}"
        words.append(w)
        n += len(w) + 1
    return " ".join(words)


def problem(rng: random.Random, offset: int = 0) -> dict:
    """A gold answer with its grading fields, one right way to write it and some wrong answers."""
    kind = rng.choices(["mc_letter", "mc_text", "integer", "float", "expression", "text"], [30, 10, 25, 12, 18, 5])[0]
    if kind in ("mc_letter", "mc_text"):
        n = rng.choice([4, 5, 10])
        options = [f"{rng.randint(1, 500)} cm" for _ in range(n)]
        options = list(dict.fromkeys(options)) or ["1 cm"]
        i = rng.randrange(len(options))
        letter = "ABCDEFGHIJ"[i]
        gold = letter if kind == "mc_letter" else options[i]
        right = rng.choice([letter, f"({letter})", f"{letter}. {options[i]}", f"Answer: {letter}", options[i]])
        wrong = ["ABCDEFGHIJ"[(i + 1) % len(options)], f"{letter} or {'ABCDEFGHIJ'[(i + 1) % len(options)]}"]
        return dict(
            gold=gold, options=options, answer_type="multiple_choice", precision=None, right=right, wrong=wrong
        )
    if kind == "integer":
        v = rng.randint(-50, 5000)
        right = rng.choice([str(v), f"{v}.0", f"{v:,}", f"{v} \\text{{ cm}}", f"x = {v}"])
        return dict(
            gold=str(v),
            options=None,
            answer_type="integer",
            precision=None,
            right=right,
            wrong=[str(v + rng.choice([-2, -1, 1, 10])), f"{v}.5"],
        )
    if kind == "float":
        p = rng.choice([1, 2])
        v = round(rng.uniform(0, 100), p)
        return dict(
            gold=f"{v:.{p}f}",
            options=None,
            answer_type="float",
            precision=p,
            right=f"{v + 0.001:.{p + 2}f}",
            wrong=[f"{v + 0.3:.{p}f}", f"{v * 2:.{p}f}"],
        )
    if kind == "text":
        gold = rng.choice(["yes", "no", "left", "right", "increasing", "decreasing"])
        return dict(
            gold=gold,
            options=None,
            answer_type="text",
            precision=None,
            right=gold.capitalize(),
            wrong=["unknown", "none of them"],
        )
    a, b = rng.randint(2, 9) + offset, rng.randint(2, 9) + offset
    gold, right, wrong = rng.choice(
        [
            (f"\\frac{{{a}}}{{{a + b}}}", f"\\dfrac{{{2 * a}}}{{{2 * (a + b)}}}", [f"\\frac{{{b}}}{{{a + b}}}"]),
            (f"{a}\\sqrt{{{b}}}", f"\\sqrt{{{a * a * b}}}", [f"{b}\\sqrt{{{a}}}"]),
            (f"x^2+{2 * a}x+{a * a}", f"(x+{a})^2", [f"(x-{a})^2"]),
            (f"y = {a}x + {b}", f"y={a}x+{b}", [f"y = {b}x + {a}"]),
            (f"({a}, {b})", f"({a},{b})", [f"({b}, {a})"]),
            (f"{a}\\pi", f"{a} \\pi", [f"{a + 1}\\pi"]),
            (
                f"\\frac{{\\sqrt{{{b}}}}}{{{a}}}",
                f"\\frac{{1}}{{{a}}}\\sqrt{{{b}}}",
                [f"\\frac{{\\sqrt{{{a}}}}}{{{b}}}"],
            ),
            (f"x > {a}", f"{a} < x", [f"x < {a}"]),
            (f"[{a}, {a + b}]", f"[{a},{a + b}]", [f"({a}, {a + b})"]),  # intervals: left to math-verify
        ]
    )
    return dict(gold=gold, options=None, answer_type="expression", precision=None, right=right, wrong=wrong)


def completion(rng: random.Random, first: str, second: str, chars: int) -> tuple[str, str]:
    """A five-block completion of about ``chars`` characters, malformed a quarter of the time."""
    think1, refl, think2 = prose(rng, chars * 0.48), prose(rng, chars * 0.19), prose(rng, chars * 0.33)
    a1, a2 = f"\\boxed{{{first}}}", f"\\boxed{{{second}}}"
    good = f"<think>{think1}</think>\n<answer>{a1}</answer>\n<reflection>{refl}</reflection>\n<think>{think2}</think>\n<answer>{a2}</answer>"
    if rng.random() >= 0.25:
        return "well_formed", good
    kind = rng.choice(MALFORMED)
    text = {
        "no_reflection": f"<think>{think1} {think2}</think><answer>{a1}</answer>",
        "truncated": good[: rng.randint(200, len(good) - 50)],
        "stray_text": f"Sure! {good}\nHope this helps.",
        "nested": good.replace("</think>", "<think>again</think>", 1),
        "empty_reflection": good.replace(refl, " "),
        "unclosed_answer": good.rsplit("</answer>", 1)[0],
        "extra_answer": good + f"<answer>{a2}</answer>",
        "no_tags": f"{think1} So the answer is {second}.",
        "unbalanced_brace": good.replace(a2, "\\boxed{" + second + "{{"),
        "empty_answer": good.replace(a1, "\\boxed{}"),
    }[kind]
    return kind, text


def batch(seed: int, chars: int, prompts: int = 128, group: int = 8, offset: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(prompts):
        prob = problem(rng, offset)
        candidates = [prob["right"], *prob["wrong"]][: rng.randint(1, 3)]
        for _ in range(group):
            first, second = rng.choice(candidates), rng.choice(candidates)
            kind, text = completion(rng, first, second, chars)
            rows.append({**prob, "text": text, "kind": kind})
    return rows


def load_counter(name: str):
    if name == "whitespace":
        return lambda text: len(text.split())
    from transformers import AutoTokenizer

    if name == "tiny":
        from srpo.tiny import resolve_model

        name = resolve_model("tiny://random")
    return rewards.token_counter(AutoTokenizer.from_pretrained(name))


def score_each(rows, counter, variant) -> tuple[list[float], list[float], list[dict]]:
    """Score one by one; wall-clock and CPU time of each (CPU time excludes time the shared machine gave to
    other processes, so it is the cost on one core)."""
    times, cpu_times, scores = [], [], []
    for r in rows:
        t, c = time.perf_counter(), time.thread_time()
        scores.append(
            rewards.score_completion(
                r["text"],
                r["gold"],
                count_tokens=counter,
                variant=variant,
                options=r["options"],
                answer_type=r["answer_type"],
                precision=r["precision"],
            )
        )
        cpu_times.append(time.thread_time() - c)
        times.append(time.perf_counter() - t)
    return times, cpu_times, scores


def score_trl(rows, counter, variant) -> tuple[float, float]:
    funcs = rewards.make_reward_funcs(counter, variant=variant)
    ids = [[0] * counter(r["text"]) for r in rows]  # in training TRL hands these over for free
    columns = {k: [r[k] for r in rows] for k in ("options", "answer_type", "precision")}
    t, c = time.perf_counter(), time.thread_time()
    for f in funcs:
        f(
            prompts=[""] * len(rows),
            completions=[r["text"] for r in rows],
            completion_ids=ids,
            answer=[r["gold"] for r in rows],
            **columns,
        )
    return time.perf_counter() - t, time.thread_time() - c


# Answers the fast paths leave to math-verify (functions, sets, half-open intervals, e, inequalities that
# are not multiples of each other): rare in the mix above, timed on their own.
MATH_VERIFY_PAIRS = [
    ("\\sin^2 x + \\cos^2 x", "1"),
    ("\\log_2 8", "3"),
    ("\\sin 30^\\circ", "\\frac{1}{2}"),
    ("\\{1, 2\\}", "\\{2, 1\\}"),
    ("(1, 2]", "(1, 3]"),
    ("[0, \\infty)", "(0, \\infty)"),
    ("2x > 4", "x > 3"),
    ("x^3 = 8", "x = 2"),
    ("\\frac{\\pi}{3}", "60^\\circ"),
    ("\\tan 45^\\circ", "1"),
    ("|x| < 1", "-1 < x < 1"),
    ("\\ln e^3", "3"),
]


def time_math_verify() -> list[float]:
    times = []
    for pred, gold in MATH_VERIFY_PAIRS:
        c = time.thread_time()
        grading.grade_answer(pred, gold, answer_type="expression")
        times.append(time.thread_time() - c)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", default="tiny", help="tiny (tiny-cpu policy), whitespace, or a tokenizer folder")
    ap.add_argument("--variant", default="paper", choices=rewards.VARIANTS)
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last one allowed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokens", type=int, default=500, help="target tokens per completion")
    args = ap.parse_args()
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    counter = load_counter(args.tokenizer)

    sample = prose(random.Random(-1), 20_000)
    chars = int(args.tokens * len(sample) / counter(sample))  # characters for ~args.tokens tokens
    t = time.perf_counter()
    # Warm-up on other expressions (offset numbers): imports, ANTLR and sympy warm up, no answer is reused.
    score_each(batch(args.seed + 1000, chars, offset=20), counter, args.variant)
    warm = time.perf_counter() - t
    grading.clear_caches()
    rows = batch(args.seed, chars)
    mean_chars = statistics.mean(len(r["text"]) for r in rows)
    times, cpu_times, scores = score_each(rows, counter, args.variant)
    mv_calls = sum(fn.cache_info().misses for fn in (equiv.equal, equiv.number, equiv.parses))
    grading.clear_caches()
    trl_wall, trl_cpu = score_trl(rows, counter, args.variant)

    n = len(rows)
    malformed = sum(r["kind"] != "well_formed" for r in rows)
    print(
        f"batch: {n} completions, {malformed} malformed, mean {mean_chars:.0f} chars, "
        f"mean {statistics.mean(counter(r['text']) for r in rows):.0f} tokens ({args.tokenizer}); "
        f"variant {args.variant}; pinned to CPU {cpu}; warm-up batch {warm:.2f} s"
    )
    for label, values in (("CPU time", cpu_times), ("wall clock", times)):
        ms = sorted(1000 * x for x in values)
        print(
            f"score_completion, {label}: {n / sum(values):,.0f} completions/s; latency p50 "
            f"{statistics.median(ms):.3f} ms, p99 {ms[int(0.99 * (n - 1))]:.3f} ms, max {ms[-1]:.3f} ms"
        )
    print(
        f"TRL reward functions (5 terms, L from completion_ids): {n / trl_cpu:,.0f} completions/s CPU time, "
        f"{n / trl_wall:,.0f} wall clock"
    )
    for i in sorted(range(n), key=lambda i: -cpu_times[i])[:3]:
        r = rows[i]
        print(f"  slowest (CPU): {1000 * cpu_times[i]:.2f} ms {r['answer_type']} {r['kind']} gold={r['gold']!r}")
    print(
        "means: "
        + ", ".join(f"{k} {statistics.mean(s[k] for s in scores):+.4f}" for k in (*rewards.COMPONENTS, "total"))
    )
    rate = {k: sum(bool(s[k]) for s in scores) / n for k in ("first_correct", "final_correct", "well_formed")}
    print("rates: " + ", ".join(f"{k} {v:.3f}" for k, v in rate.items()))
    print(f"comparisons left to math-verify after the fast paths and the cost screen: {mv_calls}")
    mv = [1000 * x for x in time_math_verify()]
    print(
        f"math-verify alone, {len(mv)} comparisons the fast paths leave to it (CPU): mean {statistics.mean(mv):.1f} ms, "
        f"max {max(mv):.1f} ms"
    )


if __name__ == "__main__":
    main()
