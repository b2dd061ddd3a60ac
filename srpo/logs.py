"""One logging style for the whole package: stdlib ``logging``, one logger per package, one line per message.

Every module logs through its package's logger::

    log = logging.getLogger(__package__)   # "srpo", "srpo.bench", "srpo.cluster", ...

and the lines read ``[srpo.bench] scored 500 rows`` (``[srpo.bench] warning: ...`` from ``log.warning`` up).
``srpo/__init__`` calls :func:`setup` once, so the lines appear wherever the package runs: a terminal, a SLURM log,
a notebook cell (JupyterLab or papermill), a test's captured output. The handler writes to the ``sys.stdout`` of
the moment, not of import time, because Jupyter kernels and pytest replace ``sys.stdout``.

Libraries' own loggers (transformers, TRL, vLLM) are left as those libraries set them.
Source: the Python docs, "Logging HOWTO" (library loggers named after the package).
"""

from __future__ import annotations

import logging
import sys

ROOT = "srpo"


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"[{record.name}] {level}{record.getMessage()}" + (
            "\n" + self.formatException(record.exc_info) if record.exc_info else ""
        )


class _CurrentStdout(logging.Handler):
    """Writes each line to whatever ``sys.stdout`` is when the line is logged, and flushes it (logs are tailed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging must never take a stage down (the stdlib's own rule)
            self.handleError(record)


def setup(level: int = logging.INFO) -> logging.Logger:
    """Attach the package's one handler to the ``srpo`` logger (idempotent) and return that logger.

    Messages do not propagate to the root logger, so a user's ``logging.basicConfig`` does not print them twice;
    set ``logging.getLogger("srpo").setLevel(logging.WARNING)`` to quieten the package.
    """
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, _CurrentStdout) for h in logger.handlers):
        handler = _CurrentStdout()
        handler.setFormatter(_Format())
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return logger
