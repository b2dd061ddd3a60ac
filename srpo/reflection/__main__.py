"""``python -m srpo.reflection --config <run_dir>/reflection_generation/config.yaml``: run stage 02."""

from __future__ import annotations

import argparse
import sys

from srpo.config import load_resolved
from srpo.reflection.pipeline import STAGE, main


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srpo.reflection", description=__doc__)
    parser.add_argument("--config", required=True, help="resolved config.yaml written by srpo.launch")
    args = parser.parse_args(argv)
    main(load_resolved(STAGE, args.config))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
