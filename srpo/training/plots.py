"""Figures and tables of notebooks 03 (cold-start SFT) and 04 (GRPO), built from the stages' summary.json."""

from __future__ import annotations

from srpo import paths
from srpo.stats import two_proportion_z

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
    rows = [
        {
            "id": i,
            "before": before[i]["response"],
            "after": after[i]["response"],
            "final right before": before[i]["final_correct"],
            "final right after": after[i]["final_correct"],
        }
        for i in before
        if i in after
    ]
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
    for key, label in (
        ("frac_reward_zero_std", "groups with zero reward std"),
        ("srpo/filter_kept", "kept by the accuracy filter"),
    ):
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
        rows.append(
            {
                "question": question,
                "completion (the loss covers this only)": completion,
                "first attempt right": sample["first_correct"],
            }
        )
    share = sum(dataset["first_correct"]) / max(1, len(dataset))
    print(f"{len(dataset)} SFT samples, {share:.0%} with a right first attempt")
    return pd.DataFrame(rows)


DEMO_COMPLETIONS = {
    "right, then right": (
        "<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer><reflection>The sum is right.</reflection>"
        "<think>3 + 4 = 7, checked.</think><answer>\\boxed{7}</answer>"
    ),
    "wrong, then fixed": (
        "<think>3 + 9 = 12.</think><answer>\\boxed{12}</answer><reflection>I misread 4 as 9.</reflection>"
        "<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer>"
    ),
    "right, then broken": (
        "<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer><reflection>I misread 4 as 9.</reflection>"
        "<think>3 + 9 = 12.</think><answer>\\boxed{12}</answer>"
    ),
    "one pass only": "<think>3 + 4 = 7.</think><answer>\\boxed{7}</answer>",
}


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
            rows[(name, variant)] = {
                k: round(score[k], 3) for k in ("format", "accuracy", "effectiveness", "reflection", "length", "total")
            }
    return pd.DataFrame(rows).T


Z_NOISE = 2.0  # |z| below this: the change could be sampling noise of the held-out set
RUBBER_STAMP_UNCHANGED = 0.05  # greedy unchanged_rate must rise by more than this (with fix_rate falling)
Z_METRICS = ("structure_rate", "first_acc", "final_acc")  # rates over all n held-out problems


def held_out_changes(
    summary: dict, metrics=("structure_rate", "first_acc", "final_acc", "fix_rate", "break_rate", "unchanged_rate")
):
    """Before -> after of each held-out metric (greedy and sampled), with the change in points and, for rates
    over all n problems, the two-proportion z and whether |z| >= ``Z_NOISE``. fix_rate and break_rate count
    only the wrong (right) first answers, so no z is given for them. Empty when the held-out check was off."""
    import pandas as pd

    held = summary.get("held_out") or {}
    before, after = held.get("before") or {}, held.get("after") or {}
    rows = []
    for mode in ("greedy", "sampled"):
        b, a = before.get(mode) or {}, after.get(mode) or {}
        for key in metrics:
            if a.get(key) is None or b.get(key) is None:
                continue
            z = two_proportion_z(a[key], a["n"], b[key], b["n"]) if key in Z_METRICS else None
            verdict = "" if z is None else ("beyond the noise" if abs(z) >= Z_NOISE else "could be noise")
            rows.append(
                {
                    "decoding": mode,
                    "metric": key,
                    "before": round(b[key], 3),
                    "after": round(a[key], 3),
                    "change (points)": round(100 * (a[key] - b[key]), 1),
                    "z": None if z is None else round(z, 2),
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(rows)


def grpo_checks(summary: dict):
    """The two rules notebook 04 states, with this run's numbers: did the reward rise (mean of the last
    fifth of logged steps above the first fifth), and did the reflection become a rubber stamp (greedy
    unchanged_rate up by more than ``RUBBER_STAMP_UNCHANGED`` while fix_rate falls)."""
    import pandas as pd

    rows = []
    reward = [v for _, v in summary["curves"].get("reward", [])]
    if len(reward) >= 10:
        k = max(1, len(reward) // 5)
        first, last = sum(reward[:k]) / k, sum(reward[-k:]) / k
        rows.append(
            {
                "check": "reward rose",
                "numbers": f"first fifth {first:.3f}, last fifth {last:.3f}",
                "rule": "last fifth > first fifth",
                "holds": last > first,
            }
        )
    held = summary.get("held_out") or {}
    b, a = (held.get("before") or {}).get("greedy"), (held.get("after") or {}).get("greedy")
    if a and b:
        rise = a["unchanged_rate"] - b["unchanged_rate"]
        rows.append(
            {
                "check": "reflection became a rubber stamp (greedy)",
                "numbers": f"unchanged {b['unchanged_rate']:.2f} → {a['unchanged_rate']:.2f} ({rise:+.2f}); "
                f"fix rate {b['fix_rate']:.2f} → {a['fix_rate']:.2f}",
                "rule": f"unchanged rises by > {RUBBER_STAMP_UNCHANGED} and fix rate falls",
                "holds": rise > RUBBER_STAMP_UNCHANGED and a["fix_rate"] < b["fix_rate"],
            }
        )
    return pd.DataFrame(rows, columns=["check", "numbers", "rule", "holds"]).set_index("check")


def sft_checks(summary: dict):
    """The rule notebook 03 states, with this run's numbers: after SFT, does the sampled reflection break at
    least as many right first answers as it fixes wrong ones (a habit of reflecting, not a reliable check)?"""
    import pandas as pd

    after = ((summary.get("held_out") or {}).get("after") or {}).get("sampled")
    if not after:
        return pd.DataFrame()
    return pd.DataFrame(
        [
            {
                "check": "the reflection is a habit, not a check (sampled)",
                "numbers": f"break rate {after['break_rate']:.2f}, fix rate {after['fix_rate']:.2f}",
                "rule": "break rate >= fix rate",
                "holds": after["break_rate"] >= after["fix_rate"],
            }
        ]
    ).set_index("check")
