"""The reflection-aware reward of SRPO (paper §3.2, Eq. 4-8) and its TRL reward functions.

R_total = R_format + R_accuracy + I_eff + I_ref + alpha * f_len, one dict entry per term:

* ``format`` 0.5 when the strict five-block structure holds (``srpo.formats``);
* ``accuracy`` 0.5 when the FIRST answer is correct;
* ``effectiveness`` judged on the second answer: +0.25 right stays right, +0.5 wrong becomes right, 0 wrong
  stays wrong, -0.25 right becomes wrong;
* ``reflection`` 0.25 when a non-empty reflection follows the first think and answer;
* ``length`` alpha * exp(-(|L - 2S| / (0.5 S))^2), S = tokens of the first think + first answer contents,
  L = tokens of the whole completion; 0 unless the structure holds and S > 0.

The second answer is the last answer block after that reflection; without one, ``effectiveness`` is 0.
Malformed completions keep what parses (accuracy of the first answer), garbage scores 0, nothing raises.

``variant="released"`` is the authors' OpenRLHF reward without its bugs: format 0.5 for the strict
structure with any text allowed before the first block (the release's regex), ONE accuracy table on (first,
second) correctness, TT 0.75 / FT 1.0 / TF 0.25 / FF 0, where the second answer is the last answer block after
the first whatever precedes it (a missing one counts as wrong), nothing in ``effectiveness``/``reflection``,
the same length term. Every variant's strict format needs non-empty answers (no ``\\boxed{}``). Differences
from the release: docs/paper_vs_release.md, rows "Reward table" to "Second answer, released variant".
``variant="grpo_baseline"``: the plain-GRPO baseline, format 0.5 for a strict think/answer reply and
accuracy 1.0. ``variant="outcome"``: plain GRPO on the reflection format, the outcome reward a standard GRPO
run gives any reply: format 0.5 for the strict five blocks and accuracy 1.0 when the FINAL answer is right;
no term looks at the first answer or the reflection (the control of README "A task where reflection has room
to help": reflection-aware RL against RL that is not).

>>> good = ("<think>2+2</think><answer>\\\\boxed{4}</answer><reflection>Fine.</reflection>"
...         "<think>2+2=4</think><answer>\\\\boxed{4}</answer>")
>>> s = score_completion(good, "4", count_tokens=lambda t: len(t.split()))
>>> s["format"], s["accuracy"], s["effectiveness"], s["reflection"], s["first_correct"]
(0.5, 0.5, 0.25, 0.25, True)
>>> score_completion("garbage", "4", count_tokens=len)["total"]
0.0
"""

from __future__ import annotations

import math
from collections import OrderedDict

from srpo.formats import parse_completion
from srpo.grading import block_answer, find_answers, grade_answer

VARIANTS = ("paper", "released", "grpo_baseline", "outcome")
PLAIN_VARIANTS = ("grpo_baseline", "outcome")  # format + accuracy only
COMPONENTS = ("format", "accuracy", "effectiveness", "reflection", "length")
FORMAT_REWARD = 0.5  # Eq. 5
ACCURACY_REWARD = 0.5  # Eq. 5, first answer
REFLECTION_REWARD = 0.25  # I_ref of Eq. 6
# I_eff of Eq. 8, keyed by (first answer correct, second answer correct).
EFFECTIVENESS_REWARD = {(True, True): 0.25, (False, True): 0.5, (False, False): 0.0, (True, False): -0.25}
# Released OpenRLHF code (the release's srpo_reward_func.py): one table replaces accuracy, effectiveness and
# reflection.
RELEASED_ACCURACY = {(True, True): 0.75, (False, True): 1.0, (True, False): 0.25, (False, False): 0.0}
BASELINE_ACCURACY = 1.0  # plain GRPO (grpo_baseline and outcome): format 0.5 + accuracy 1.0
DEFAULT_ALPHA = 0.1  # §4.1; Table 6 also tries 0.05 and 0.3


def length_factor(total_tokens: int, first_pass_tokens: int) -> float:
    """f_len of Eq. 7: T_target = 2S, T_max = 2.5S, so f = exp(-(|L - 2S| / 0.5S)^2); 0 when S = 0.

    >>> length_factor(200, 100), round(length_factor(250, 100), 4), length_factor(10, 0)
    (1.0, 0.3679, 0.0)
    """
    if first_pass_tokens <= 0:
        return 0.0
    target, span = 2.0 * first_pass_tokens, 0.5 * first_pass_tokens
    return math.exp(-(((total_tokens - target) / span) ** 2))


def completion_text(completion) -> str:
    """The text of a completion: a plain string, or TRL's conversational ``[{"role": "assistant", ...}]``
    (content a string or a list of ``{"type": "text"}`` parts). Anything else reads as ""."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        return ""
    parts = []
    for message in completion:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, (list, tuple)):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "".join(p for p in parts if isinstance(p, str))


def score_completion(
    completion,
    gold,
    *,
    count_tokens,
    variant: str = "paper",
    alpha: float = DEFAULT_ALPHA,
    options=None,
    answer_type=None,
    precision=None,
    effectiveness: bool = True,
    length: bool = True,
    completion_tokens: int | None = None,
) -> dict:
    """Reward terms of one completion, their sum ``total`` and ``first_correct``/``final_correct``
    (None when there is no such answer), ``well_formed`` (the variant's strict structure), ``unchanged`` (the
    final answer block repeats the first) and ``reflection_tokens`` (0 without ``count_tokens``): the verdict the
    GRPO trainer's reflection metrics and accuracy filter read (``srpo.grpo_trainer``).

    ``count_tokens`` is a callable str -> int or a tokenizer/processor (see ``token_counter``); it may be
    None when no length term is computed. ``completion_tokens`` is L when the caller already knows it (TRL's
    ``completion_ids``: the policy's own tokens, saving the longest tokenisation). ``effectiveness=False`` and
    ``length=False`` are the paper's ablations (Table 3); they only apply to the paper variant's terms.
    """
    _check(variant, alpha, effectiveness)
    if count_tokens is not None:  # a wrong kind fails here, not only on the completions that need a count
        count_tokens = token_counter(count_tokens)
    text = completion_text(completion)
    parsed = parse_completion(text)
    answers = find_answers(text)  # the benchmarks' extraction; the reward credits answer blocks only

    def grade(answer: str | None) -> bool | None:
        if answer is None:
            return None
        return grade_answer(answer, gold, options=options, answer_type=answer_type, precision=precision)

    first_correct = grade(answers.first.text)
    final_correct = grade(answers.final.text if answers.n_blocks else None)
    terms = dict.fromkeys(COMPONENTS, 0.0)
    if variant == "grpo_baseline":
        well_formed = parsed.is_single_pass
        terms["format"] = FORMAT_REWARD if well_formed else 0.0
        terms["accuracy"] = BASELINE_ACCURACY if first_correct else 0.0
    elif variant == "outcome":
        well_formed = parsed.is_five_block
        terms["format"] = FORMAT_REWARD if well_formed else 0.0
        terms["accuracy"] = BASELINE_ACCURACY if final_correct else 0.0
    else:
        released = variant == "released"
        well_formed = parsed.is_five_block_after_text if released else parsed.is_five_block
        has_reflection, second = _reflection_and_second_answer(parsed)
        second_correct = grade(_released_second_answer(parsed) if released else second)
        terms["format"] = FORMAT_REWARD if well_formed else 0.0
        if variant == "paper":
            terms["accuracy"] = ACCURACY_REWARD if first_correct else 0.0
            if effectiveness and has_reflection and first_correct is not None and second_correct is not None:
                terms["effectiveness"] = EFFECTIVENESS_REWARD[(first_correct, second_correct)]
            terms["reflection"] = REFLECTION_REWARD if has_reflection else 0.0
        elif first_correct is not None:  # released: missing second answer = wrong
            terms["accuracy"] = RELEASED_ACCURACY[(first_correct, bool(second_correct))]
        if length and well_formed:
            terms["length"] = alpha * _length_term(parsed, count_tokens, completion, completion_tokens)
    total = sum(terms.values())
    unchanged = parsed.first_answer is not None and parsed.first_answer == parsed.final_answer
    has_counter = count_tokens is not None and parsed.reflection
    reflection_tokens = token_counter(count_tokens)(parsed.reflection) if has_counter else 0
    return {
        **terms,
        "total": total,
        "first_correct": first_correct,
        "final_correct": final_correct,
        "well_formed": well_formed,
        "unchanged": unchanged,
        "reflection_tokens": reflection_tokens,
    }


def _check(variant: str, alpha: float, effectiveness: bool) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown reward variant {variant!r}; choose one of {VARIANTS}")
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha (length-reward weight) must be a finite number >= 0, got {alpha!r}")
    if not effectiveness and variant != "paper":
        raise ValueError(f"effectiveness=False is the paper's ablation; variant {variant!r} has no I_eff term")


def _reflection_and_second_answer(parsed) -> tuple[bool, str | None]:
    """Whether a non-empty reflection follows the first think and answer, and the last answer after it."""
    blocks = parsed.blocks
    names = tuple(b.name for b in blocks[:3])
    if names != ("think", "answer", "reflection") or not blocks[2].content.strip():
        return False, None
    later = [b.content for b in blocks[3:] if b.name == "answer"]
    return True, (block_answer(later[-1]).text if later else None)


def _released_second_answer(parsed) -> str | None:
    """The release's second answer: the last answer block after the first, whatever precedes it (its
    ``extract_answer_with_tags`` takes the last ``<answer>`` match); None with fewer than two answer blocks."""
    answers = parsed.answers
    return answers[-1] if len(answers) > 1 else None


def _length_term(parsed, count_tokens, completion, completion_tokens: int | None) -> float:
    if count_tokens is None:
        raise ValueError("count_tokens is needed for the length reward; pass a tokenizer or a str -> int callable")
    counter = token_counter(count_tokens)
    first_pass = counter(parsed.first_think or "") + counter(parsed.first_answer_block or "")
    total = completion_tokens if completion_tokens is not None else counter(completion_text(completion))
    return length_factor(total, first_pass)


# ---------------------------------------------------------------------------------------------- tokens
class TokenCounter:
    """Counts tokens of a text without special tokens (picklable, unlike a closure).

    Accepts a tokenizer or a processor (its ``.tokenizer``); uses the Rust backend directly when it can,
    which is several times faster than ``tokenizer.encode``.
    """

    def __init__(self, tokenizer):
        self.tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        self._backend = backend if backend is not None and backend.truncation is None else None

    def __call__(self, text: str) -> int:
        if not text:
            return 0
        if self._backend is not None:
            return len(self._backend.encode(text, add_special_tokens=False))
        return len(self.tokenizer.encode(text, add_special_tokens=False))


def token_counter(tokenizer_or_callable):
    """A str -> int token counter from a tokenizer, a processor, or a callable (returned unchanged).

    Raises TypeError for anything else, a string included (a name such as ``"whitespace"`` is not a counter:
    pass ``lambda text: len(text.split())``)."""
    obj = tokenizer_or_callable
    if isinstance(obj, str):  # str has .encode, so it would pass for a tokenizer and fail deep inside
        raise TypeError(
            f"count_tokens={obj!r} is a string, not a token counter: pass a tokenizer, a processor or a str -> "
            "int callable (whitespace words: lambda text: len(text.split()))"
        )
    if isinstance(obj, TokenCounter) or (
        callable(obj) and not hasattr(obj, "encode") and not hasattr(obj, "tokenizer")
    ):
        return obj
    if hasattr(obj, "encode") or hasattr(obj, "tokenizer"):
        return TokenCounter(obj)
    raise TypeError(
        f"count_tokens must be a tokenizer, a processor or a str -> int callable, got {type(obj).__name__}"
    )


# ---------------------------------------------------------------------------------------------- TRL
def component_names(variant: str = "paper") -> tuple[str, ...]:
    """Names of the reward functions ``make_reward_funcs`` returns, in order (TRL logs rewards/<name>/mean)."""
    _check(variant, DEFAULT_ALPHA, True)
    return ("format", "accuracy") if variant in PLAIN_VARIANTS else COMPONENTS


def reward_weights(variant: str = "paper") -> list[float]:
    """GRPOConfig.reward_weights: all 1.0, the magnitudes live in the terms, so the sum is the paper's total."""
    return [1.0] * len(component_names(variant))


class _BatchScorer:
    """Scores each (completion, gold, grading fields) once; the five reward functions read from its cache, and
    the trainer's metrics and accuracy filter read the verdicts of the batch scored last (``latest``)."""

    def __init__(self, count_tokens, variant, alpha, effectiveness, length, cache_size=8192):
        _check(variant, alpha, effectiveness)
        uses_length = length and variant not in PLAIN_VARIANTS
        self.count_tokens = token_counter(count_tokens) if count_tokens is not None else None
        if uses_length and self.count_tokens is None:
            raise ValueError("count_tokens is needed for the length reward; pass the policy tokenizer")
        self.settings = dict(variant=variant, alpha=alpha, effectiveness=effectiveness, length=length)
        self.cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size
        self.latest: tuple[list[str], list[dict]] = ([], [])  # (texts, verdicts) of the last batch scored

    def score(self, completions, completion_ids, kwargs) -> list[dict]:
        golds = kwargs.get("answer")
        if golds is None:
            columns = sorted(k for k in kwargs if k not in ("trainer_state", "log_extra", "log_metric"))
            raise ValueError(f"SRPO reward functions need the dataset column 'answer'; the batch has {columns}")
        n = len(completions)
        columns = {name: kwargs.get(name) or [None] * n for name in ("options", "answer_type", "precision")}
        for name, values in [("answer", golds), *columns.items()]:
            if len(values) != n:
                raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
        lengths = [len(ids) for ids in completion_ids] if completion_ids is not None else [None] * n
        if len(lengths) != n:
            raise ValueError(f"completion_ids has {len(lengths)} rows for {n} completions")
        texts = [completion_text(c) for c in completions]
        scores = [
            self._score_one(text, lengths[i], golds[i], *(columns[k][i] for k in columns))
            for i, text in enumerate(texts)
        ]
        self.latest = (texts, scores)
        return scores

    def _score_one(self, text, n_tokens, gold, options, answer_type, precision) -> dict:
        opts_key = tuple(options) if isinstance(options, (list, tuple)) else options
        key = (text, n_tokens, gold, opts_key, answer_type, precision)
        try:
            hit = self.cache.get(key)
        except TypeError:  # unhashable field values: score without caching
            key, hit = None, None
        if hit is not None:
            self.cache.move_to_end(key)
            return hit
        result = score_completion(
            text,
            gold,
            count_tokens=self.count_tokens,
            options=options,
            answer_type=answer_type,
            precision=precision,
            completion_tokens=n_tokens,
            **self.settings,
        )
        if key is not None:
            self.cache[key] = result
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return result


class RewardComponent:
    """One reward term as a TRL reward function: ``f(prompts, completions, completion_ids=None, **kw)``.

    ``__name__`` is the term's name, so TRL logs ``rewards/<name>/mean``. (First/final-answer accuracy, fix
    and break rates are logged by ``srpo.grpo_trainer.SRPOGRPOTrainer``.)
    """

    def __init__(self, scorer: _BatchScorer, name: str):
        self.scorer, self.name, self.__name__ = scorer, name, name

    def __call__(self, prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
        scores = self.scorer.score(completions or [], completion_ids, kwargs)
        return [float(s[self.name]) for s in scores]

    def __repr__(self) -> str:
        return f"RewardComponent({self.name!r}, {self.scorer.settings})"


def latest_verdicts(reward_funcs, texts: list[str]) -> list[dict]:
    """The verdicts (``score_completion`` dicts) that ``reward_funcs`` (from ``make_reward_funcs``) gave the
    completions ``texts`` in the batch they scored last: what the GRPO trainer's metrics and accuracy filter
    read, so that each completion is graded once per step. Raises ``ValueError`` when there are no such reward
    functions and ``RuntimeError`` when their last batch is not ``texts`` (the reward was not computed for it).
    """
    scorer = next((f.scorer for f in reward_funcs if isinstance(f, RewardComponent)), None)
    if scorer is None:
        raise ValueError("no srpo.rewards reward function among the trainer's reward_funcs (make_reward_funcs)")
    scored, verdicts = scorer.latest
    if scored != list(texts):
        raise RuntimeError(f"the reward functions last scored {len(scored)} other completions, not these {len(texts)}")
    return verdicts


def make_reward_funcs(
    count_tokens, variant: str = "paper", alpha: float = DEFAULT_ALPHA, effectiveness: bool = True, length: bool = True
) -> list[RewardComponent]:
    """TRL reward functions, one per term, sharing one cache (each completion is parsed and graded once).

    Reads the dataset column ``answer`` and, when present, ``options``, ``answer_type``, ``precision``.
    L of the length term is ``len(completion_ids[i])`` when TRL passes them (the policy's own tokens,
    including a final EOS), else the token count of the completion text.

    >>> funcs = make_reward_funcs(lambda t: len(t.split()))
    >>> [f.__name__ for f in funcs]
    ['format', 'accuracy', 'effectiveness', 'reflection', 'length']
    >>> done = [[{"role": "assistant", "content": "<think>1+1</think><answer>\\\\boxed{2}</answer>"}]]
    >>> [f(prompts=["q"], completions=done, answer=["2"]) for f in funcs]
    [[0.0], [0.5], [0.0], [0.0], [0.0]]
    >>> baseline = make_reward_funcs(None, variant="grpo_baseline")
    >>> [f(prompts=["q"], completions=done, answer=["2"])[0] for f in baseline]
    [0.5, 1.0]
    """
    scorer = _BatchScorer(count_tokens, variant, alpha, effectiveness, length)
    return [RewardComponent(scorer, name) for name in component_names(variant)]
