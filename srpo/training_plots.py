"""Figures and tables of notebooks 03 (cold-start SFT) and 04 (GRPO), built from the stages' summary.json."""

from __future__ import annotations

from srpo import paths

HELD_OUT_COLUMNS = ["structure_rate", "first_acc", "final_acc", "fix_rate", "break_rate", "unchanged_rate", "n"]


def held_out_table(summary: dict):
    """Before/after x greedy/sampled rows of the held-out check (structure, first/final accuracy, fix/break)."""
    import pandas as pd

    rows = {}
    held = summary.get("held_out") or {}
    for when in ("before", "after"):
        for mode in ("greedy", "sampled"):
            metrics = (held.get(when) or {}).get(mode)
            if metrics:
                rows[f"{when} · {mode}"] = {c: metrics.get(c) for c in HELD_OUT_COLUMNS}
    return pd.DataFrame(rows).T


def examples_before_after(summary: dict, mode: str = "greedy"):
    """The same held-out prompts answered before and after training."""
    import pandas as pd

    held = summary.get("held_out") or {}
    before = {e["id"]: e for e in (held.get("before") or {}).get(f"{mode}_examples", [])}
    after = {e["id"]: e for e in (held.get("after") or {}).get(f"{mode}_examples", [])}
    rows = [{"id": i, "before": before[i]["response"], "after": after[i]["response"],
             "final right before": before[i]["final_correct"], "final right after": after[i]["final_correct"]}
            for i in before if i in after]  # fmt: skip
    return pd.DataFrame(rows)


def loss_curve(summary: dict):
    import matplotlib.pyplot as plt

    steps, losses = zip(*summary["loss_curve"], strict=True) if summary.get("loss_curve") else ((), ())
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(steps, losses)
    ax.set(xlabel="step", ylabel="training loss (completion tokens)", yscale="log", title="Cold-start SFT")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _smooth(points, window: int):
    if not points:
        return [], []
    steps, values = zip(*points, strict=True)
    out = [
        sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1])
        for i in range(len(values))
    ]
    return list(steps), out


def grpo_curves(summary: dict, window: int = 5):
    """Three panels: total reward and its components; first/final accuracy, fix and break rates; the share
    of groups that carry a learning signal (not all-equal rewards, kept by the accuracy filter)."""
    import matplotlib.pyplot as plt

    curves = summary["curves"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    components = [k for k in curves if k.startswith("rewards/") and k.endswith("/mean")]
    for key in ["reward", *components]:
        axes[0].plot(*_smooth(curves.get(key, []), window), label=key.removeprefix("rewards/").removesuffix("/mean"))
    axes[0].set(title="reward and its components", xlabel="step")
    for key in ("srpo/first_acc", "srpo/final_acc", "srpo/fix_rate", "srpo/break_rate", "srpo/unchanged"):
        axes[1].plot(*_smooth(curves.get(key, []), window), label=key.removeprefix("srpo/"))
    axes[1].set(title="rollouts: accuracy and reflection effect", xlabel="step", ylim=(-0.02, 1.02))
    for key, label in (("frac_reward_zero_std", "groups with zero reward std"),
                       ("srpo/filter_kept", "kept by the accuracy filter")):  # fmt: skip
        axes[2].plot(*_smooth(curves.get(key, []), window), label=label)
    axes[2].set(title="where the learning signal is", xlabel="step", ylim=(-0.02, 1.02))
    for ax in axes:
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def completions_early_late(run_dir, n: int = 3):
    """Sampled rollouts from the first and the last logged steps of GRPO (``completions.jsonl``)."""
    import pandas as pd

    from srpo.jsonl import read_jsonl

    path = paths.stage_dir(run_dir, "grpo_rl") / "completions.jsonl"
    rows = read_jsonl(path)  # a line torn by a kill is skipped (srpo.jsonl)
    if not rows:
        return pd.DataFrame()
    first_step, last_step = rows[0]["step"], rows[-1]["step"]
    pick = [r for r in rows if r["step"] == first_step][:n] + [r for r in rows if r["step"] == last_step][:n]
    cols = ["step", "completion", "total", "first_correct", "final_correct"]
    return pd.DataFrame(pick)[[c for c in cols if c in pick[0]]]


def sft_samples(run_dir, n: int = 2):
    """A few SFT samples: the question, the target completion and whether its first attempt was right."""
    import pandas as pd

    from srpo.reflection import load_sft_set

    dataset = load_sft_set(run_dir)
    rows = []
    for sample in dataset.select(range(min(n, len(dataset)))):
        user = [m for m in sample["prompt"] if m["role"] == "user"][-1]
        question = " ".join(part["text"] for part in user["content"] if part.get("text"))
        completion = " ".join(part["text"] for part in sample["completion"][0]["content"] if part.get("text"))
        rows.append({"question": question, "completion (the loss covers this only)": completion,
                     "first attempt right": sample["first_correct"]})  # fmt: skip
    share = sum(dataset["first_correct"]) / max(1, len(dataset))
    print(f"{len(dataset)} SFT samples, {share:.0%} with a right first attempt")
    return pd.DataFrame(rows)


DEMO_COMPLETIONS = {
    "right, then right": ("<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer><reflection>The sum is right.</reflection>"
                          "<think>3 + 4 = 7, checked.</think><answer>\\boxed{7}</answer>"),
    "wrong, then fixed": ("<think>3 + 9 = 12.</think><answer>\\boxed{12}</answer><reflection>I misread 4 as 9.</reflection>"
                          "<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer>"),
    "right, then broken": ("<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer><reflection>I misread 4 as 9.</reflection>"
                           "<think>3 + 9 = 12.</think><answer>\\boxed{12}</answer>"),
    "one pass only": "<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer>",
}  # fmt: skip


def reward_demo(gold: str = "7"):
    """Each reward term for a few hand-made completions, under the paper's reward and the released code's."""
    import pandas as pd

    from srpo import rewards

    def count_words(text: str) -> int:  # a stand-in tokenizer, enough to show the terms
        return len(text.split())

    rows = {}
    for name, text in DEMO_COMPLETIONS.items():
        for variant in ("paper", "released"):
            score = rewards.score_completion(text, gold, count_tokens=count_words, variant=variant)
            rows[(name, variant)] = {k: round(score[k], 3) for k in ("format", "accuracy", "effectiveness",
                                                                    "reflection", "length", "total")}  # fmt: skip
    return pd.DataFrame(rows).T


def _z(p1, n1, p2, n2) -> float:
    from srpo.ablations.collect import two_proportion_z

    return two_proportion_z(p1, n1, p2, n2)


def _delta(after: dict, before: dict, key: str) -> str:
    """'0.56 -> 0.61 (+5.0 points, z = 1.8: within the noise)' for one metric of the held-out check."""
    a, b = after.get(key), before.get(key)
    if a is None or b is None:
        return "not measured"
    z = _z(a, after["n"], b, before["n"])
    noise = "beyond the noise" if abs(z) >= 2 else "within the noise"
    return f"{b:.2f} → {a:.2f} ({100 * (a - b):+.1f} points, z = {z:.1f}: {noise})"


def sft_findings(summary: dict) -> str:
    """What the cold start changed on held-out problems, stated from the numbers (Markdown)."""
    held = summary.get("held_out") or {}
    before, after = held.get("before") or {}, held.get("after") or {}
    if not after:
        return "_The held-out check was off (`eval_samples: 0`); notebook 05 measures the model._"
    g, s = after["greedy"], after["sampled"]
    lines = [
        f"* **Format.** The share of answers in the exact five-block format went from "
        f"{before.get('greedy', {}).get('structure_rate', 0):.0%} (the base answers in one pass) to "
        f"{g['structure_rate']:.0%} greedy and {s['structure_rate']:.0%} sampled.",
        f"* **Accuracy.** Final answer, greedy: {_delta(g, before.get('greedy', {}), 'final_acc')} against the base "
        f"with its own prompt; sampled: {_delta(s, before.get('sampled', {}), 'final_acc')}.",
        f"* **The reflection.** Sampled, it fixes {s['fix_rate']:.0%} of wrong first answers and breaks "
        f"{s['break_rate']:.0%} of right ones (greedy: {g['fix_rate']:.0%} and {g['break_rate']:.0%}).",
    ]
    if s["break_rate"] >= s["fix_rate"]:
        lines.append("  SFT taught the *habit* of reflecting, not a reliable check: the model imitates a data mix in which "
                     "70% of first attempts were wrong, so it often 'corrects' right answers. Rewarding only useful "
                     "reflections is the job of the RL stage.")  # fmt: skip
    lines.append("* **What this does not show:** that the reflection looks at the image again in any human sense. The "
                 "model learnt, from the teacher's text, which corrections tend to follow which readings; the tiny "
                 "task and model say nothing about the sizes of the paper's gains.")  # fmt: skip
    return "\n".join(lines)


def grpo_findings(summary: dict) -> str:
    """What GRPO changed, stated from the numbers: reward trend, held-out accuracy, and whether the reflection
    improved or became a rubber stamp (Markdown)."""
    lines = []
    reward = [v for _, v in summary["curves"].get("reward", [])]
    if len(reward) >= 10:
        k = max(1, len(reward) // 5)
        lines.append(f"* **Reward** (mean of the first and last fifth of the logged steps): {sum(reward[:k]) / k:.3f} → "
                     f"{sum(reward[-k:]) / k:.3f}.")  # fmt: skip
    held = summary.get("held_out") or {}
    before, after = held.get("before") or {}, held.get("after") or {}
    if after:
        for mode in ("sampled", "greedy"):
            b, a = before[mode], after[mode]
            lines.append(f"* **{mode.capitalize()}** first answer {_delta(a, b, 'first_acc')}; final answer "
                         f"{_delta(a, b, 'final_acc')}; break rate {b['break_rate']:.2f} → {a['break_rate']:.2f}; fix rate "
                         f"{b['fix_rate']:.2f} → {a['fix_rate']:.2f}; answers left unchanged {b['unchanged_rate']:.2f} → "
                         f"{a['unchanged_rate']:.2f}.")  # fmt: skip
        a, b = after["greedy"], before["greedy"]
        if a["unchanged_rate"] > b["unchanged_rate"] + 0.05 and a["fix_rate"] < b["fix_rate"]:
            lines.append("* **A rubber stamp, in part.** Under greedy decoding the reflection changes fewer answers and fixes "
                         "fewer wrong ones than before RL: the reward is earned mostly by not breaking right answers "
                         "(−0.25 for a break) and by getting the first answer right, not by better corrections.")  # fmt: skip
    lines.append("* **What this does not show:** that reflection-aware RL beats plain GRPO (notebook 06 runs that arm with "
                 "the same budget), or anything about the size of the paper's gains: a 0.6M-parameter model, 200 steps "
                 "and one seed.")  # fmt: skip
    return "\n".join(lines)
