"""``python -m srpo.reflection --config <run_dir>/reflection_generation/config.yaml``: run stage 02."""

from __future__ import annotations

import sys

from srpo.config import parse_entry_point
from srpo.reflection.pipeline import STAGE, main


def cli(argv: list[str] | None = None) -> int:
    cfg, _ = parse_entry_point(STAGE, argv, prog="python -m srpo.reflection", description=__doc__)
    main(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
