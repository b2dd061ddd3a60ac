"""Progress of long stages: one concise line every N steps in logs, a live bar with rate and ETA in a notebook.

Stages run in a subprocess (``srpo.launch``), so progress crosses a pipe as text. The stage prints lines

    [progress] grpo_rl 20/200 10% | 1.31 s/it | 0:26 elapsed | ETA 3:56 | loss 0.0123 reward 1.05

(``track`` for loops, ``install`` for a transformers/TRL ``Trainer``: it replaces the trainer's
default printer, so no raw ``{'loss': ...}`` dicts reach the output). The notebook side (``StreamEcho``,
used by ``srpo.launch.stream_subprocess``) turns those lines into a ``tqdm.auto`` bar in a live Jupyter
kernel and prints them unchanged everywhere else: under papermill (``srpo.runner`` sets
``SRPO_PROGRESS=lines``), in terminals and in the stage log.
"""

from __future__ import annotations

import io
import os
import re
import sys
import time

PREFIX = "[progress]"
ENV = "SRPO_PROGRESS"  # "lines": never draw bars (papermill, CI); "bars": always; unset: bars in a live kernel
_LINE_RE = re.compile(r"^\[progress\] (?P<desc>\S+) (?P<n>\d+)/(?P<total>\d+|\?)(?: [^|]*)?(?:\| (?P<rest>.*))?$")


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60}:{rem % 60:02d}"


def format_line(
    desc: str, n: int, total: int | None, elapsed: float, extras: dict | None = None, done: int | None = None
) -> str:
    """One progress line: count, percent, rate, elapsed, ETA and a few metrics. ``done``: the items counted
    in ``elapsed`` when fewer than ``n`` (a resumed run), for the rate and the ETA.

    >>> format_line("grpo_rl", 20, 200, 26.2, {"loss": 0.01234, "reward": 1.05})
    '[progress] grpo_rl 20/200 10% | 1.31 s/it | 0:26 elapsed | ETA 3:55 | loss 0.0123 reward 1.05'
    >>> format_line("attempts", 0, None, 0.0)
    '[progress] attempts 0/? | 0:00 elapsed'
    """
    head = f"{PREFIX} {desc} {n}/{total if total else '?'}"
    if total:
        head += f" {100 * n // total}%"
    parts = [head]
    done = n if done is None else done
    if done > 0 and elapsed > 0:
        rate = done / elapsed
        parts.append(f"{rate:.2f} it/s" if rate >= 1 else f"{1 / rate:.2f} s/it")
    parts.append(f"{_clock(elapsed)} elapsed")
    if total and done > 0:
        parts.append(f"ETA {_clock(elapsed / done * (total - n))}")
    if extras:
        parts.append(" ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in extras.items()))
    return " | ".join(parts)


def parse_line(line: str) -> tuple[str, int, int | None, str] | None:
    """(desc, n, total or None, the metrics text) of a progress line; None for any other line.

    >>> parse_line("[progress] grpo_rl 20/200 10% | 1.31 s/it | 0:26 elapsed | ETA 3:55 | loss 0.0123")
    ('grpo_rl', 20, 200, 'loss 0.0123')
    >>> parse_line("{'loss': 0.1}") is None
    True
    """
    match = _LINE_RE.match(line.rstrip("\n"))
    if not match:
        return None
    total = None if match["total"] == "?" else int(match["total"])
    fields = [f for f in (match["rest"] or "").split(" | ") if f]
    metrics = [f for f in fields if not re.search(r"(it/s|s/it|elapsed|^ETA )", f)]
    return match["desc"], int(match["n"]), total, " ".join(metrics)


_TQDM_RE = re.compile(r"^(?P<desc>[^|\n]*?):?\s+\d+%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*\[(?P<elapsed>[\d:]+)<")


def from_tqdm(line: str) -> tuple[str, int, int, float] | None:
    """(desc, n, total, elapsed seconds) of a tqdm bar update that a library printed into the stage's output (vLLM's
    "Processed prompts", ...; a pipe splits its carriage-return updates into lines), else None.

    >>> from_tqdm("Processed prompts:  45%|████▌     | 450/1000 [01:10<01:25, 6.43it/s]")
    ('Processed_prompts', 450, 1000, 70.0)
    """
    match = _TQDM_RE.match(line.strip())
    if not match:
        return None
    seconds = 0.0
    for part in match["elapsed"].split(":"):
        seconds = seconds * 60 + int(part)
    desc = re.sub(r"\s+", "_", match["desc"].strip()) or "progress"
    return desc, int(match["n"]), int(match["total"]), seconds


def live_display() -> bool:
    """True in a live Jupyter kernel (bars, widgets); False under papermill/CI (``SRPO_PROGRESS=lines``),
    in terminals and in scripts."""
    mode = os.environ.get(ENV, "")
    if mode in ("lines", "bars"):
        return mode == "bars"
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Lines:
    """Prints a progress line every ``every`` steps or ``seconds`` seconds (whichever comes first), at the
    first step and at the last; ``update(n, **metrics)`` sets the count. With ``quiet_s``, nothing is printed
    during the first ``quiet_s`` seconds (a loop that is over by then stays silent)."""

    def __init__(
        self,
        desc: str,
        total: int | None,
        every: int | None = None,
        seconds: float = 30.0,
        stream=None,
        quiet_s: float = 0.0,
    ):
        self.desc, self.total, self.seconds, self.quiet_s = desc, total, seconds, quiet_s
        self.every = every or max(1, (total or 100) // 20)
        self.stream = stream or sys.stdout
        self.start = time.time()
        self._last_n, self._last_t = -1, 0.0

    def update(self, n: int, **metrics) -> None:
        now = time.time()
        if now - self.start < self.quiet_s:
            return
        due = (
            n == self.total
            or n // self.every != self._last_n // self.every
            or now - self._last_t >= self.seconds
            or self._last_n < 0
        )
        if due and n != self._last_n:
            print(format_line(self.desc, n, self.total, now - self.start, metrics), file=self.stream, flush=True)
            self._last_n, self._last_t = n, now


def track(iterable, desc: str, total: int | None = None, every: int | None = None):
    """Yield from ``iterable``, printing a progress line every ``every`` items (default: 5% of ``total``)."""
    if total is None:
        total = len(iterable) if hasattr(iterable, "__len__") else None
    lines = Lines(desc, total, every)
    lines.update(0)
    n = 0
    for n, item in enumerate(iterable, start=1):
        yield item
        lines.update(n)
    if n != lines._last_n:
        lines.update(n)


def _callback_class():
    from transformers import TrainerCallback

    class TrainerProgress(TrainerCallback):
        """One progress line per logging step (``logging_steps``): global step of ``max_steps``, this run's
        rate, ETA and the loss / reward / learning rate (``install`` puts it in place of the default printer)."""

        KEYS = ("loss", "reward", "reward_std", "learning_rate", "grad_norm")

        def __init__(self, desc: str):
            self.desc, self.start, self.first_step = desc, None, 0

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.start, self.first_step = time.time(), state.global_step  # a resumed run: rate of its own steps
                print(format_line(self.desc, state.global_step, state.max_steps, 0.0), flush=True)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.start is None or not logs or "train_runtime" in logs:
                return
            metrics = {k: float(logs[k]) for k in self.KEYS if isinstance(logs.get(k), (int, float))}
            print(
                format_line(
                    self.desc,
                    state.global_step,
                    state.max_steps,
                    time.time() - self.start,
                    metrics,
                    done=state.global_step - self.first_step,
                ),
                flush=True,
            )

        def on_train_end(self, args, state, control, **kwargs):
            if self.start is not None:
                print(
                    f"{PREFIX} {self.desc} done: {state.global_step} steps in {_clock(time.time() - self.start)}",
                    flush=True,
                )

    return TrainerProgress


def install(trainer, desc: str):
    """Replace the trainer's default log printer (raw ``{'loss': ...}`` dicts) and tqdm bar with one progress
    line per logging step. Returns the callback."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    callback = _callback_class()(desc)
    trainer.add_callback(callback)
    return callback


TQDM_QUIET_S = 10  # a library's tqdm bar is shown once it has run this many seconds
PLOTTED = ("loss", "reward")  # metrics a live session plots as they arrive


def metric_values(text: str) -> dict[str, float]:
    """``"loss 0.12 reward 1.05"`` -> ``{"loss": 0.12, "reward": 1.05}`` (pairs that do not parse are skipped).

    >>> metric_values("loss 2.7 learning_rate 0.00097 last srpo/seed0")
    {'loss': 2.7, 'learning_rate': 0.00097}
    """
    words, out = text.split(), {}
    for name, value in zip(words[::2], words[1::2], strict=False):
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


class StreamEcho:
    """Echo a stage's output lines in the notebook: progress lines drive one ``tqdm.auto`` bar per ``desc``
    in a live kernel (rate and ETA by tqdm) and, when they carry a loss or a reward, a small plot that updates
    in place; every other line is printed. Outside a live kernel (or with ``live=False``) every line is
    printed as is. ``plot=None`` plots only inside an IPython kernel."""

    def __init__(self, live: bool | None = None, plot: bool | None = None):
        self.live = live_display() if live is None else live
        self.plot = self.live and (_in_kernel() if plot is None else plot)
        self.bars: dict = {}
        self.history: dict[str, dict[str, list]] = {}  # desc -> metric -> [(step, value)]
        self._tqdm_seen: dict[str, int] = {}
        self._figure = self._handle = None

    def __call__(self, line: str) -> None:
        bar_update = from_tqdm(line)
        if bar_update is not None:  # a library's own tqdm bar: a bar here, or a progress line per tenth
            desc, n, total, elapsed = bar_update
            if elapsed < TQDM_QUIET_S:  # loading weights, dataset maps: over before anyone waits
                return
            last = self._tqdm_seen.get(desc, -1)
            self._tqdm_seen[desc] = n
            tenth = (lambda k: 10 * k // total) if total > 0 else (lambda k: k)
            if not self.live and n > last and (last < 0 or n == total or tenth(n) != tenth(last)):
                print(format_line(desc, n, total, elapsed), flush=True)
            if not self.live:
                return
            line = format_line(desc, n, total, elapsed)
        parsed = parse_line(line) if self.live else None
        if parsed is None:
            print(line, end="" if line.endswith("\n") else "\n", flush=True)
            return
        desc, n, total, metrics = parsed
        bar = self.bars.get(desc)
        if bar is None or (total is not None and bar.total != total) or n < bar.n:
            if bar is not None:
                bar.close()
            from tqdm.auto import tqdm

            bar = self.bars[desc] = tqdm(total=total, desc=desc, initial=n, dynamic_ncols=True)
        bar.update(n - bar.n)
        if metrics:
            bar.set_postfix_str(metrics, refresh=True)
            values = {k: v for k, v in metric_values(metrics).items() if k in PLOTTED}
            for name, value in values.items():
                self.history.setdefault(desc, {}).setdefault(name, []).append((n, value))
            if values and self.plot:
                self._draw()

    def _draw(self) -> None:
        from IPython.display import Image, display
        from matplotlib.figure import Figure

        series = [(desc, name, points) for desc, by in self.history.items() for name, points in by.items()]
        fig = Figure(figsize=(4.0 * len(series), 2.4))
        for i, (desc, name, points) in enumerate(series):
            ax = fig.add_subplot(1, len(series), i + 1)
            ax.plot(*zip(*points, strict=True), marker=".")
            ax.set(title=f"{desc}: {name}", xlabel="step")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()  # a PNG of our own: a bare Figure has no display formatter without pyplot
        fig.savefig(buffer, format="png", dpi=80)
        image = Image(data=buffer.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None
