"""math-verify, bounded: are two cleaned answers the same mathematical object? Never hangs, in any thread.

Equivalence is math-verify's (``LatexExtractionConfig`` only: its ``ExprExtractionConfig`` runs sympy's
``parse_expr``, i.e. ``eval``) with one change: when both sides are plain numbers they are compared with a
RELATIVE tolerance of 1e-6, because math-verify rounds to 6 decimals and so calls 3.2e-19 and 1.6e-19 equal
(huggingface/Math-Verify#14).

Bounding the time: math-verify's own timeouts use ``signal.alarm``, which raises outside the main thread and
cancels the caller's own alarm. We call it with its timeouts disabled and bound the work ourselves:

1. ``too_costly`` refuses, everywhere, inputs whose evaluation can explode inside C code that no signal
   interrupts (long inputs, big or nested exponents, large factorials, integrals/sums/limits, 31+ digit
   numbers) and inputs that cannot be a formula (unbalanced braces);
2. a CPU-time deadline (``setitimer(ITIMER_VIRTUAL)``, ``DEADLINE_S``) interrupts anything slow that passed
   the screen; a verdict cut by it is "not equal". CPU time, so a busy machine does not change verdicts;
   SIGALRM stays the caller's, and the caller's own virtual timer is restored;
3. signals work only in a main thread: calls from other threads (thread pools, TRL's async reward loop) go
   to a helper process (``python -m srpo.grading.equiv``) whose main thread applies the same deadline and
   which is killed and restarted if it does not answer within ``WALL_TIMEOUT_S``.

>>> equal("\\\\sqrt{2}/2", "\\\\frac{\\\\sqrt{2}}{2}"), equal("\\\\sqrt{x^2}", "x"), equal("3.2e-19", "1.6e-19")
(True, False, False)
>>> too_costly("10^{10^{10}}"), too_costly("100000!")
(True, True)
"""

from __future__ import annotations

import atexit
import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import threading
from functools import lru_cache

import math_verify.grader
import math_verify.parser
from math_verify import LatexExtractionConfig, parse, verify

DEADLINE_S = 1.0  # CPU seconds per comparison; realistic ones take 1-100 ms
WALL_TIMEOUT_S = 30.0  # per call to the helper process; its own CPU deadline normally answers first
STARTUP_TIMEOUT_S = 120.0  # importing sympy and math-verify on a busy machine
MAX_MATH_CHARS = 300  # longer answers are left to the cheap rules
REL_TOL = 1e-6

# We disable math-verify's timeouts on purpose (see above): silence its one-time warning about it.
math_verify.parser.TIMEOUT_WARNING_SHOWN = True
math_verify.grader.TIMEOUT_WARNING_SHOWN = True

_EXPONENT_RE = re.compile(r"\^|\*\*")
_COSTLY_RE = re.compile(r"\\(?:int|iint|oint|sum|prod|lim)(?![A-Za-z])|\d{31,}|[)}\]!]\s*!|\d{3,}\s*!|[5-9]\d\s*!")


def too_costly(text: str) -> bool:
    """Inputs whose symbolic evaluation can run for minutes, or that cannot be a formula, refused cheaply."""
    if len(text) > MAX_MATH_CHARS or _COSTLY_RE.search(text) or "\\boxed" in text:
        return True
    if text.count("{") != text.count("}") or not any(c.isalnum() for c in text):
        return True
    for m in _EXPONENT_RE.finditer(text):
        exponent = _exponent_after(text, m.end())
        if (
            "^" in exponent
            or "**" in exponent
            or "!" in exponent
            or any(int(d) > 99 for d in re.findall(r"\d+", exponent))
        ):
            return True
    return False


def _exponent_after(text: str, i: int) -> str:
    """The exponent that starts at ``i``: a balanced ``{...}``/``(...)`` group or one token."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i < len(text) and text[i] in "{(":
        depth = 0
        for j in range(i, len(text)):
            depth += (text[j] in "{(") - (text[j] in "})")
            if depth == 0:
                return text[i : j + 1]
        return text[i:]
    m = re.match(r"[-+]?(?:\d+(?:\.\d+)?|\\?[A-Za-z]+)", text[i:])
    return m.group(0) if m else text[i : i + 1]


class _Deadline(BaseException):
    """Raised by our timer; a BaseException so that math-verify's ``except Exception`` cannot swallow it."""


def with_deadline(fn, seconds: float):
    """``fn()``, interrupted after ``seconds`` of CPU time (then None) when called in the main thread.

    A caller's own virtual timer is saved and restored with its remaining time, so nesting is safe. Outside
    the main thread signals are unavailable and ``fn()`` runs unbounded: use ``_run`` (the helper process).
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
            signal.setitimer(signal.ITIMER_VIRTUAL, max(old_delay - (os.times().user - started), 1e-3), old_interval)


def parse_math(text: str) -> list:
    return parse(f"${text}$", [LatexExtractionConfig()], fallback_mode="no_fallback", parsing_timeout=None)


def _value(expr) -> float | None:
    """The real value of a sympy number (not a set, relation or expression with symbols), else None."""
    if not getattr(expr, "is_number", False) or getattr(expr, "free_symbols", True):
        return None
    value = complex(expr.evalf(20))
    return value.real if abs(value.imag) < 1e-12 and math.isfinite(value.real) else None


def _local(kind: str, *args):
    """One comparison in this process's main thread, under the deadline; errors read as "no"."""

    def run():
        if kind == "parses":
            return bool(parse_math(args[0]))
        if kind == "number":
            parsed = parse_math(args[0])
            return _value(parsed[0]) if parsed else None
        want, got = parse_math(args[1]), parse_math(args[0])
        if not want or not got:  # an unparseable gold is never matched
            return False
        a, b = _value(got[0]), _value(want[0])
        if a is not None and b is not None:
            return math.isclose(a, b, rel_tol=REL_TOL)
        return bool(verify(want, got, timeout_seconds=None))

    try:
        return with_deadline(run, DEADLINE_S)
    except Exception:  # sympy raises many types on odd input; math-verify misses some
        return None


def _run(kind: str, *args):
    if threading.current_thread() is threading.main_thread():
        return _local(kind, *args)
    return WORKER.call(kind, *args)


@lru_cache(maxsize=1 << 14)
def equal(pred: str, gold: str) -> bool:
    """math-verify's verdict on two cleaned answers (numbers: relative tolerance); False when refused or cut."""
    return not too_costly(pred) and not too_costly(gold) and bool(_run("equal", pred, gold))


@lru_cache(maxsize=1 << 14)
def number(text: str) -> float | None:
    """The value of a closed-form number such as ``\\sqrt{16}`` or ``\\frac{1}{2^{98}}``, else None."""
    return None if too_costly(text) else _run("number", text)


@lru_cache(maxsize=1 << 14)
def parses(text: str) -> bool:
    """Whether math-verify reads ``text`` as a formula (a gold that does not can only match verbatim)."""
    return not too_costly(text) and bool(_run("parses", text))


def clear_caches() -> None:
    for fn in (equal, number, parses):
        fn.cache_clear()


# ---------------------------------------------------------------------------------------------- helper
class Worker:
    """Parent side of the helper process: started lazily, one request at a time, JSON lines over pipes."""

    def __init__(self):
        self._lock, self._proc, self._pid = threading.Lock(), None, None

    def call(self, kind: str, *args):
        """The helper's answer, or None if it failed or timed out (then it is killed and later restarted)."""
        with self._lock:
            try:
                proc = self._ensure()
                proc.stdin.write(json.dumps([kind, list(args)]) + "\n")
                proc.stdin.flush()
                return json.loads(_readline(proc, WALL_TIMEOUT_S))
            except (OSError, ValueError, TimeoutError):
                self.stop()
                return None

    def _ensure(self) -> subprocess.Popen:
        if self._proc is not None and self._pid == os.getpid() and self._proc.poll() is None:
            return self._proc
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "srpo.grading.equiv"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._pid = os.getpid()
        if _readline(self._proc, STARTUP_TIMEOUT_S) != '"ready"':
            raise OSError("math worker did not start")
        return self._proc

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and self._pid == os.getpid() and proc.poll() is None:
            proc.kill()
            proc.wait()


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    if not select.select([proc.stdout], [], [], timeout)[0]:
        raise TimeoutError("math worker did not answer")
    line = proc.stdout.readline()
    if not line:
        raise OSError("math worker exited")
    return line.strip()


WORKER = Worker()
atexit.register(WORKER.stop)


def serve() -> None:
    """Child side: answer one JSON request per line until stdin closes."""
    out, sys.stdout = sys.stdout, sys.stderr  # only protocol lines go to the parent
    print(json.dumps("ready"), file=out, flush=True)
    for line in sys.stdin:
        try:
            kind, args = json.loads(line)
            result = _local(kind, *args) if kind in ("equal", "number", "parses") else None
        except Exception:  # a bad request: answer "no verdict"
            result = None
        print(json.dumps(result), file=out, flush=True)


if __name__ == "__main__":
    serve()
