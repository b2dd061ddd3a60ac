"""math-verify, bounded: equivalence of two LaTeX answers that never hangs, in any thread (paper §4).

math-verify's own timeouts use ``signal.alarm``: they raise outside the main thread and cancel any timer the
caller had set (pytest-timeout's, for one). We call it with its timeouts disabled and bound the work
ourselves, in two layers:

1. ``too_costly`` refuses, everywhere, inputs whose evaluation can explode (long inputs, big or nested
   exponents, large factorials, integrals/sums/limits, 31+ digit numbers) or that cannot be a formula
   (unbalanced braces). Big-integer arithmetic runs inside C code that no signal interrupts.
2. A CPU-time deadline (``setitimer(ITIMER_VIRTUAL)``, ``MATH_VERIFY_DEADLINE_S``) interrupts anything
   slow that passed the screen; a verdict cut by it is "not equal". It counts CPU time so that a busy
   machine does not change verdicts, leaves SIGALRM to the caller and restores the caller's own timer.
   Signals work only in a main thread, so calls from other threads (thread pools, TRL's async reward
   loop) are sent to a helper process (``srpo.math_worker``) whose main thread applies the same deadline
   and which is killed if it still hangs. Verdicts are the same in every thread and process; worker
   processes (``multiprocessing``) run their tasks in their own main thread and need nothing more.

Only ``LatexExtractionConfig`` is used: math-verify's ``ExprExtractionConfig`` runs sympy's ``parse_expr``,
which evaluates the text as Python. Most comparisons never reach this module: ``srpo.fastmath`` settles
numbers, polynomials, radicals, tuples and linear relations first.

>>> math_verify_equal("\\\\sqrt{2}/2", "\\\\frac{\\\\sqrt{2}}{2}"), too_costly("10^{10^{10}}"), too_costly("100000!")
(True, True, True)
"""

from __future__ import annotations

import math
import os
import re
import signal
import threading
from functools import lru_cache

import math_verify.grader
import math_verify.parser
from math_verify import LatexExtractionConfig, parse, verify

from srpo import fastmath
from srpo.normalize import is_words

MATH_VERIFY_DEADLINE_S = 1.0  # CPU seconds; a safety net: realistic comparisons take 1-100 ms
MAX_MATH_CHARS = 300  # longer answers are left to the cheap rules

# We disable math-verify's timeouts on purpose (see above): silence its one-time warning about it.
math_verify.parser.TIMEOUT_WARNING_SHOWN = True
math_verify.grader.TIMEOUT_WARNING_SHOWN = True


class _Deadline(BaseException):
    """Raised by our timer; a BaseException so that math-verify's ``except Exception`` cannot swallow it."""


_EXPONENT_RE = re.compile(r"\^|\*\*")
_COSTLY_RE = re.compile(r"\\(?:int|iint|oint|sum|prod|lim)(?![A-Za-z])|\d{31,}|[)}\]!]\s*!|\d{3,}\s*!|[5-9]\d\s*!")


def too_costly(text: str) -> bool:
    """Inputs whose symbolic evaluation can run for minutes, inside C code that no signal interrupts, and
    inputs that cannot be a formula at all (unbalanced braces, no letter or digit), refused cheaply."""
    if len(text) > MAX_MATH_CHARS or _COSTLY_RE.search(text):
        return True
    if text.count("{") != text.count("}") or not any(c.isalnum() for c in text):
        return True
    for m in _EXPONENT_RE.finditer(text):
        exponent = _exponent_after(text, m.end())
        if "^" in exponent or "**" in exponent or "!" in exponent:
            return True
        if any(int(d) > 99 for d in re.findall(r"\d+", exponent)):
            return True
    return False


def _exponent_after(text: str, start: int) -> str:
    """The exponent that starts at ``start``: a balanced ``{...}`` group, a ``(...)`` group or one token."""
    i = start
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] in "{(":
        depth = 0
        for j in range(i, len(text)):
            depth += text[j] in "{("
            depth -= text[j] in "})"
            if depth == 0:
                return text[i : j + 1]
        return text[i:]
    m = re.match(r"[-+]?(?:\d+(?:\.\d+)?|\\?[A-Za-z]+)", text[i:])
    return m.group(0) if m else text[i : i + 1]


def with_deadline(fn, seconds: float):
    """``fn()``, interrupted after ``seconds`` of CPU time when we are in the main thread; None if interrupted.

    CPU time (``ITIMER_VIRTUAL``/``SIGVTALRM``), not wall time, so a busy shared machine does not turn slow
    scheduling into wrong verdicts, and SIGALRM stays free for the caller (pytest-timeout, math-verify).
    A caller's own virtual timer is saved and restored with its remaining time, so nesting is safe.
    Outside the main thread signals are unavailable: ``fn()`` runs unbounded and relies on ``too_costly``.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return fn()
    old_handler = signal.getsignal(signal.SIGVTALRM)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    started = os.times().user

    def on_alarm(signum, frame):
        raise _Deadline

    try:
        signal.signal(signal.SIGVTALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_VIRTUAL, min(seconds, old_delay) if old_delay else seconds)
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    except _Deadline:
        return None
    finally:
        signal.signal(signal.SIGVTALRM, old_handler)
        if old_delay:
            remaining = max(old_delay - (os.times().user - started), 1e-3)
            signal.setitimer(signal.ITIMER_VIRTUAL, remaining, old_interval)


_LATEX_ONLY = [LatexExtractionConfig()]  # not ExprExtractionConfig: it runs sympy's parse_expr, i.e. eval


def parse_math(text: str) -> list:
    return parse(f"${text}$", _LATEX_ONLY, fallback_mode="no_fallback", parsing_timeout=None)


def math_verify_equal(pred: str, gold: str) -> bool:
    """math-verify's verdict on two cleaned answers; False for what the screen refuses (a ``\\boxed`` left
    in a cleaned answer is an unbalanced box), for an unparseable gold and for a call cut by the deadline."""
    if too_costly(pred) or too_costly(gold) or "\\boxed" in pred:
        return False
    return _math_verify_equal(pred, gold)


def math_verify_number(text: str) -> float | None:
    """Numeric value of an expression such as ``\\sqrt{16}`` or ``\\frac{\\sqrt{3}}{2}``, else None."""
    fast = fastmath.values(text)
    if fast is not None:
        (value, *_), has_vars = fast
        return None if has_vars else value
    if too_costly(text) or is_words(text) or "\\boxed" in text:
        return None
    return _math_verify_number(text)


def parses_as_math(text: str) -> bool:
    """Whether an answer reads as a formula (the fast evaluator or math-verify can parse it): a gold that
    does not can only ever be matched verbatim. Bounded like every other call here."""
    if fastmath.values(text) is not None:
        return True
    return not too_costly(text) and bool(_in_main_thread_of_some_process("parses", text))


@lru_cache(maxsize=1 << 14)
def _math_verify_equal(pred: str, gold: str) -> bool:
    return bool(_in_main_thread_of_some_process("equal", pred, gold))


@lru_cache(maxsize=1 << 14)
def _math_verify_number(text: str) -> float | None:
    return _in_main_thread_of_some_process("number", text)


def _in_main_thread_of_some_process(kind: str, *args):
    """Run here when this is the main thread (the deadline works), else in the helper process."""
    if threading.current_thread() is threading.main_thread():
        return _LOCAL[kind](*args)
    from srpo.math_worker import WORKER

    return WORKER.call(kind, *args)


# ---------------------------------------------------------------------------------------------- local calls
# Called in a main thread only (this process's, or the helper process's): the deadline applies.
def local_equal(pred: str, gold: str) -> bool:
    def run() -> bool:
        want = parse_math(gold)
        if not want:  # unparseable gold: never correct
            return False
        got = parse_math(pred)
        return bool(got) and bool(verify(want, got, timeout_seconds=None))

    try:
        return bool(with_deadline(run, MATH_VERIFY_DEADLINE_S))
    except Exception:  # math-verify catches its own errors; this is for sympy corners it misses
        return False


def local_number(text: str) -> float | None:
    def run():
        parsed = parse_math(text)
        expr = parsed[0] if parsed else None
        if expr is None or not getattr(expr, "is_number", False):
            return None
        value = complex(expr.evalf(20))
        return value.real if abs(value.imag) < 1e-12 and math.isfinite(value.real) else None

    try:
        return with_deadline(run, MATH_VERIFY_DEADLINE_S)
    except Exception:  # sympy raises many types on odd input; an answer we cannot evaluate is not a number
        return None


def local_parses(text: str) -> bool:
    try:
        return bool(with_deadline(lambda: parse_math(text), MATH_VERIFY_DEADLINE_S))
    except Exception:  # sympy/ANTLR raise many types on odd input
        return False


_LOCAL = {"equal": local_equal, "number": local_number, "parses": local_parses}


def cache_info() -> dict:
    """How many comparisons and evaluations actually ran math-verify (cache misses) since the last clear."""
    return {"equal": _math_verify_equal.cache_info().misses, "number": _math_verify_number.cache_info().misses}


def clear_caches() -> None:
    _math_verify_equal.cache_clear()
    _math_verify_number.cache_clear()
