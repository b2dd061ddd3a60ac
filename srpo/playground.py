"""A reward playground for notebook 04: the terms of Eq. 4-8 for a reply described by a few numbers.

``reward_terms`` writes a reply with the requested first/final correctness, reflection and first-pass length
S (in words), scores it with the real ``srpo.rewards.score_completion`` (L given as ``completion_tokens``,
as TRL's ``completion_ids`` give it in training) and returns each term and the total. ``widget`` binds it to
ipywidgets (live in a Jupyter kernel), ``table`` is the same for headless runs, ``length_plot`` draws f_len
(Eq. 7) over L/S.

>>> t = reward_terms(first_correct=False, final_correct=True, reflection=True, L=200, S=100)
>>> t["format"], t["accuracy"], t["effectiveness"], t["reflection"], round(t["length"], 3), round(t["total"], 3)
(0.5, 0.0, 0.5, 0.25, 0.1, 1.35)
>>> round(reward_terms(True, True, True, L=200, S=100, variant="released")["total"], 3)
1.35
"""

from __future__ import annotations

from srpo import formats, rewards

GOLD, WRONG = "7", "12"
TERMS = ("format", "accuracy", "effectiveness", "reflection", "length", "total")
VARIANT_LABELS = {"paper": "paper (Eq. 4-8)", "released": "released code", "grpo_baseline": "GRPO baseline"}


def count_words(text: str) -> int:
    """The playground's tokenizer: one token per whitespace-separated word (the policy's own tokenizer
    counts differently; only the ratio L/S matters to f_len)."""
    return len(text.split())


def build_reply(first_correct: bool, final_correct: bool, reflection: bool, S: int) -> str:
    """A reply whose first think + first answer hold S words: five blocks with a reflection, else the
    single-pass think/answer (then there is no second answer and ``final_correct`` is unused)."""
    if S < 2:
        raise ValueError(
            f"S (tokens of the first think and answer) must be >= 2 to hold a think and an answer, got {S}"
        )
    first = formats.think(" ".join(["step"] * (S - 1))) + formats.answer(GOLD if first_correct else WRONG)
    if not reflection:
        return first
    second = formats.think("Checked again.") + formats.answer(GOLD if final_correct else WRONG)
    return first + formats.reflection("I re-read the figure and checked each step.") + second


def reward_terms(
    first_correct: bool,
    final_correct: bool,
    reflection: bool = True,
    L: int = 200,
    S: int = 100,
    variant: str = "paper",
    alpha: float = rewards.DEFAULT_ALPHA,
) -> dict:
    """Each reward term (``rewards.COMPONENTS``), ``total``, ``f_len`` (Eq. 7, before the weight alpha) and
    the ``reply`` that was scored. L (tokens of the whole reply) must be >= S: the reply contains the first
    pass. Raises ValueError on S < 2, L < S or an unknown variant."""
    if L < S:
        raise ValueError(f"L (tokens of the whole reply) = {L} is below S (its first pass) = {S}; choose L >= S")
    reply = build_reply(first_correct, final_correct, reflection, S)
    score = rewards.score_completion(
        reply, GOLD, count_tokens=count_words, variant=variant, alpha=alpha, completion_tokens=L
    )
    return {**{k: float(score[k]) for k in TERMS}, "f_len": rewards.length_factor(L, S), "reply": reply}


def table(S: int = 100):
    """The static playground: every (first, final) outcome with a reflection and L = 2S, plus L = 2.5S and
    no reflection, under each variant. Rows: case x variant; columns: the terms and the total."""
    import pandas as pd

    cases = {
        f"{'right' if a else 'wrong'} → {'right' if b else 'wrong'}, L = 2S": (a, b, True, 2 * S)
        for a, b in [(True, True), (False, True), (True, False), (False, False)]
    }
    cases["right → right, L = 2.5S"] = (True, True, True, int(2.5 * S))
    cases["right, no reflection, L = S"] = (True, True, False, S)
    rows = {}
    for name, (first, final, refl, L) in cases.items():
        for variant in VARIANT_LABELS:  # notebook 04's rewards (outcome is the reflection experiment's control)
            terms = reward_terms(first, final, refl, L=L, S=S, variant=variant)
            rows[(name, VARIANT_LABELS[variant])] = {k: round(terms[k], 3) for k in TERMS}
    return pd.DataFrame(rows).T


def length_plot(S: int = 100, alpha: float = rewards.DEFAULT_ALPHA, ax=None):
    """f_len of Eq. 7 against L/S (any S gives the same curve): 1 at T_target = 2S, e^-1 at T_max = 2.5S."""
    import matplotlib.pyplot as plt

    ratios = [i / 100 for i in range(0, 401)]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.8))
    ax.plot(ratios, [rewards.length_factor(round(r * S), S) for r in ratios], label="f_len")
    ax.axvline(2.0, ls="--", c="gray", lw=0.8)
    ax.axvline(2.5, ls=":", c="gray", lw=0.8)
    ax.text(2.02, 0.05, "T_target = 2S", fontsize=8)
    ax.text(2.52, 0.3, "T_max = 2.5S", fontsize=8)
    ax.set(
        xlabel="L / S (whole reply / first pass)",
        ylabel=f"f_len (reward adds {alpha}·f_len)",
        title="Eq. 7: the length factor",
        ylim=(-0.02, 1.05),
    )
    ax.grid(alpha=0.3)
    return ax


def _html(first_correct, final_correct, reflection, L, S, variant) -> str:
    try:
        terms = reward_terms(first_correct, final_correct, reflection, L=L, S=S, variant=variant)
    except ValueError as err:
        return f"<p class='srpo-playground-error'><b>Not a valid reply:</b> {err}</p>"
    rows = "".join(f"<tr><td>{k}</td><td>{terms[k]:+.3f}</td></tr>" for k in TERMS[:-1])
    return (
        f"<table class='srpo-playground-table'><tr><th>term</th><th>value</th></tr>{rows}"
        f"<tr><td><b>total</b></td><td class='srpo-total'><b>{terms['total']:.3f}</b></td></tr></table>"
        f"<p>f_len = {terms['f_len']:.3f} at L/S = {L / S:.2f}</p>"
    )


def widget(S: int = 100):
    """ipywidgets controls (first/final correct, reflection, L, S, variant) bound to ``reward_terms``; the
    output (CSS class ``srpo-playground-out``) shows each term and the total and updates on every change."""
    import ipywidgets as w

    controls = {
        "first_correct": w.Checkbox(value=False, description="first answer right"),
        "final_correct": w.Checkbox(value=True, description="final answer right"),
        "reflection": w.Checkbox(value=True, description="reflection present"),
        "L": w.IntSlider(value=2 * S, min=2, max=6 * S, description="L (reply)"),
        "S": w.IntSlider(value=S, min=2, max=3 * S, description="S (first pass)"),
        "variant": w.Dropdown(
            options=[(v, k) for k, v in VARIANT_LABELS.items()], value="paper", description="reward"
        ),
    }
    for name, control in controls.items():
        control.add_class(f"srpo-{name}")
        control.style.description_width = "8em"
    html = w.HTML(_html(**{k: c.value for k, c in controls.items()}))
    html.add_class("srpo-playground-out")

    def update(_change=None):
        html.value = _html(**{k: c.value for k, c in controls.items()})

    for control in controls.values():
        control.observe(update, names="value")
    return w.HBox([w.VBox(list(controls.values())), html])


def show(S: int = 100, live: bool | None = None):
    """The widget in a live kernel, the static ``table`` otherwise (papermill, nbconvert: widgets do not
    survive there). ``live=None`` asks ``srpo.progress.live_display``."""
    from IPython.display import display

    from srpo import progress

    if live is None:
        live = progress.live_display()
    display(widget(S) if live else table(S))
