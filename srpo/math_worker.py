"""A helper process that runs math-verify for callers outside the main thread (see ``srpo.math_equiv``).

Signals, and so our CPU-time deadline, work only in a process's main thread. A thread that needs
math-verify (a thread pool, TRL's async reward loop) sends the comparison to this process instead: its main
thread applies the same deadline as ours, so verdicts do not depend on the calling thread, and a call that
still does not return within ``WALL_TIMEOUT_S`` gets the process killed and restarted.

The process is started lazily with ``python -m srpo.math_worker`` (not multiprocessing, which would
re-import the caller's ``__main__``), talks JSON lines over stdin/stdout and exits when its stdin closes.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading

WALL_TIMEOUT_S = 30.0  # per call; the helper's own CPU deadline normally answers long before
STARTUP_TIMEOUT_S = 120.0  # importing sympy and math-verify on a busy machine


class MathWorker:
    """Parent side: one helper process per parent process, one request at a time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._pid = None

    def call(self, kind: str, *args):
        """The helper's answer to ``kind(*args)``, or None if it failed or timed out (then it is restarted)."""
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
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self._proc = subprocess.Popen([sys.executable, "-m", "srpo.math_worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
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
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError("math worker did not answer")
    line = proc.stdout.readline()
    if not line:
        raise OSError("math worker exited")
    return line.strip()


WORKER = MathWorker()
atexit.register(WORKER.stop)


def serve() -> None:
    """Child side: answer one JSON request per line until stdin closes."""
    from srpo import math_equiv

    out, sys.stdout = sys.stdout, sys.stderr  # only protocol lines go to the parent
    handlers = {"equal": math_equiv.local_equal, "number": math_equiv.local_number, "parses": math_equiv.local_parses}
    print(json.dumps("ready"), file=out, flush=True)
    for line in sys.stdin:
        try:
            kind, args = json.loads(line)
            result = handlers[kind](*args)
        except Exception:  # a bad request or an error in sympy: answer "no verdict"
            result = None
        print(json.dumps(result), file=out, flush=True)


if __name__ == "__main__":
    serve()
