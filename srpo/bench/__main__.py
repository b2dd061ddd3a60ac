"""``python -m srpo.bench --config <run_dir>/benchmarks/config.yaml`` (the stage's entry point).

``--prefetch`` only downloads the configured benchmarks into the Hugging Face cache (run it on a node with
Hub access before a job on nodes without).
"""

from __future__ import annotations

import sys


def _add_prefetch(parser) -> None:
    parser.add_argument("--prefetch", action="store_true", help="download the benchmarks, evaluate nothing")


def main(argv: list[str] | None = None) -> int:
    from srpo.config import parse_entry_point

    cfg, args = parse_entry_point(
        "benchmarks", argv, prog="python -m srpo.bench", description=__doc__, add_arguments=_add_prefetch
    )
    if args.prefetch:
        from srpo.bench.stage import load_items

        load_items(cfg.args)
        return 0
    from srpo.bench.stage import main as run_stage

    run_stage(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
