"""Command line: ``python -m srpo run|stage|check|strip-notebooks`` (``python -m srpo <command> --help``)."""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__package__)


def _parse_overrides(items: list[str]) -> dict:
    """``--override STAGE='--flag value'`` items -> ``{stage: flags}``; a stage given twice gets both. An unknown
    stage name is refused (a typo would otherwise be dropped and the stage run with its recipe)."""
    from srpo.configs.base import split_pair
    from srpo.stages import STAGES

    out = {}
    for item in items:
        try:
            stage, flags = split_pair(item, "--override (STAGE='--flag value')")
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        if stage not in STAGES:
            raise SystemExit(f"--override {item!r}: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
        out[stage] = (out.get(stage, "") + " " + flags).strip()
    return out


def _check_overrides(profile: str, run_name: str, overrides: dict) -> None:
    """Parse each overridden stage's config now, so a bad key or value stops the run before stage 01, not when
    its notebook starts (tiny-cpu; a GPU profile's training configs only parse on a GPU node)."""
    if profile != "tiny-cpu":
        return
    from srpo import config, paths

    for stage, flags in overrides.items():
        try:
            config.load(stage, profile, paths.default_run_dir(profile, run_name), flags)
        except (config.ConfigError, ValueError) as exc:
            raise SystemExit(f"--override {stage}='{flags}': {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srpo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the numbered notebooks with papermill (the main job)")
    run.add_argument("--profile", default="tiny-cpu", help="tiny-cpu | 7b | 32b")
    run.add_argument("--run-name", default="main", help="runs/<profile>/<run-name>/")
    run.add_argument("--stages", default="01-06", help="e.g. 01-06, 03,04 or all")
    run.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="STAGE='--flag value'",
        help="recipe overrides for one stage, e.g. grpo_rl='--max_steps 20' (repeatable)",
    )
    run.add_argument("--resume", action="store_true", help="skip notebooks whose stage already finished")
    run.add_argument(
        "--rehearse",
        action="store_true",
        help="7b/32b on CPU: the tiny model, the scale divided, the rest of the recipes kept "
        "(srpo.rehearsal prints the rule); run directory runs/<profile>/rehearsal",
    )

    stage = sub.add_parser("stage", help="run one stage's entry point without its notebook")
    stage.add_argument("stage", help="data_curation | reflection_generation | cold_start_sft | grpo_rl | ...")
    stage.add_argument("--profile", default="tiny-cpu")
    stage.add_argument("--run-dir", default=None)
    stage.add_argument(
        "--overrides", action="append", default=[], help="e.g. '--max_steps 20' (repeatable; a key may be set once)"
    )

    check = sub.add_parser("check", help="check a finished main job: executed notebooks, no error cell, report")
    check.add_argument("--profile", default="tiny-cpu", help="tiny-cpu | 7b | 32b")
    check.add_argument("--run-name", default="main", help="runs/<profile>/<run-name>/")
    check.add_argument("--run-dir", default=None, help="a run directory anywhere (instead of profile and run name)")
    check.add_argument("--stages", default="01-06", help="the notebooks to check, e.g. 01-06 or 03,04")

    sub.add_parser("strip-notebooks", help="remove outputs from notebooks/*.ipynb")
    args = parser.parse_args(argv)

    if args.command == "run":
        from srpo.runner import run_notebooks

        overrides = _parse_overrides(args.override)
        _check_overrides(args.profile, args.run_name, overrides)
        if args.rehearse:
            from srpo import rehearsal

            args.run_name = "rehearsal" if args.run_name == "main" else args.run_name
            overrides = rehearsal.prepare(args.profile, args.run_name, overrides)
        record = run_notebooks(args.profile, args.run_name, args.stages, overrides, args.resume)
        log.info(f"all done in {record['total_seconds']:.0f}s; outputs in {record['run_dir']}")
    elif args.command == "check":
        from srpo import paths
        from srpo.runner import check_run

        run_dir = (
            paths.resolve_run_dir(args.run_dir) if args.run_dir else paths.default_run_dir(args.profile, args.run_name)
        )
        problems = check_run(run_dir, args.stages)
        for problem in problems:
            log.info(f"check: {problem}")
        log.info(f"check {run_dir}: {'FAILED' if problems else 'ok'}")
        return 1 if problems else 0
    elif args.command == "stage":
        from srpo.launch import run_stage

        run_stage(args.stage, args.profile, args.run_dir, " ".join(args.overrides))
    else:
        from srpo.runner import available_notebooks, strip_notebook

        for nb in available_notebooks():
            if strip_notebook(nb):
                print(f"stripped {nb}")
    return 0


def cli() -> int:
    """``main`` for the shell (``python -m srpo``, the ``srpo`` command): a bad recipe value or override, an
    unknown stage, a missing file or a stage whose inputs are not there yet prints one line naming it (exit 2),
    not a traceback. (``srpo.config.ConfigError`` is a ``ValueError``.)"""
    from srpo.paths import StageNotReady

    try:
        return main()
    except (ValueError, FileNotFoundError, StageNotReady) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
