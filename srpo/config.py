"""Load a stage's config from ``recipes/<profile>/<stage>.yaml`` plus command-line style overrides.

One flat YAML recipe per (profile, stage) is parsed with TRL's own ``TrlParser`` into the stage's
dataclasses (its ``…Args``, TRL's ``SFTConfig``/``GRPOConfig``/``ModelConfig`` where they apply, and the
shared ``RunArgs``/``LaunchArgs``). Overrides look like the command line (``"--learning_rate 1e-4
--max_steps=10"``), and are parsed the same way in a notebook, a SLURM job and a test.

Unknown keys fail early with the key, the file and the nearest valid name.

The resolved config is written to ``<run_dir>/<stage>/config.yaml`` before the stage runs, and the stage's
entry point (``python -m srpo.<module> --config <that file>``) parses it with the same parser. Each process
reads its YAML file once and hands the parsed ``StageConfig`` down (``srpo.launch.run_stage`` -> the command;
``parse_entry_point`` -> the stage's ``main(cfg)``).
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import io
import json
import os
import shlex
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import yaml

from srpo import paths
from srpo.configs.base import STAGE_PREFIX, stage_name
from srpo.stages import STAGES, get_stage

PROFILES = ("tiny-cpu", "7b", "32b")
RESERVED_KEYS = {"env"}  # TrlParser exports the YAML's `env:` mapping as environment variables


class ConfigError(ValueError):
    """A recipe or override names an unknown key, or a value that does not parse."""


@dataclass
class StageConfig:
    """The parsed config of one stage. ``args`` is the stage's own dataclass; ``trl`` and ``model`` are TRL's
    training config and ``ModelConfig`` (None for stages without training)."""

    stage: str
    args: object
    run: object
    launch: object
    trl: object | None = None
    model: object | None = None
    values: dict | None = None  # the flat key -> value mapping that was parsed (recipe + overrides)
    source: str = ""

    @property
    def run_dir(self) -> Path:
        return paths.resolve_run_dir(self.run.run_dir)

    @property
    def stage_dir(self) -> Path:
        return paths.stage_dir(self.run.run_dir, self.stage)

    @property
    def profile(self) -> str:
        return self.run.profile

    def input_stages(self) -> tuple[str, ...]:
        """The stages this one reads: the stage's default (``srpo.stages``), or what its Args narrow that to
        (``input_stages()``, e.g. ``stage:X`` sources), plus a ``stage:X`` model to start from."""
        custom = getattr(self.args, "input_stages", None)
        stages = list(custom()) if callable(custom) else list(get_stage(self.stage).inputs)
        model = stage_name(getattr(self.model, "model_name_or_path", None))
        return tuple(dict.fromkeys([*stages, *([model] if model else [])]))


def recipes_dir() -> Path:
    return paths.project_root() / "recipes"


def recipe_path(profile: str, stage: str) -> Path:
    path = recipes_dir() / profile / f"{stage}.yaml"
    if not path.exists():
        known = sorted(p.name for p in recipes_dir().iterdir() if p.is_dir() and p.name != "accelerate")
        raise ConfigError(f"no recipe {path} (profile {profile!r}, stage {stage!r}); profiles: {known}")
    return path


def recipe_value(profile: str, stage: str, key: str):
    """One key of a recipe, read without building TRL's configs (which refuse bf16 on a machine without GPUs,
    such as a cluster's login node)."""
    values = read_yaml_mapping(recipe_path(profile, stage))
    if key not in values:
        raise ConfigError(f"{recipe_path(profile, stage)} has no key '{key}'")
    return values[key]


def field_names(types) -> set[str]:
    return {f.name for t in types for f in fields(t)}


def normalize_overrides(overrides) -> list[str]:
    """``"--a 1 --b=2"``, ``["--a", "1"]`` or ``{"a": 1}`` -> a flat argv list."""
    if overrides is None or overrides == "":
        return []
    if isinstance(overrides, str):
        return shlex.split(overrides)
    if isinstance(overrides, dict):
        argv = []
        for key, value in overrides.items():
            argv.append(f"--{key}")
            if isinstance(value, list | tuple):
                argv.extend(str(v) for v in value)
            else:
                argv.append(json.dumps(value) if isinstance(value, dict) else str(value))
        return argv
    return [str(a) for a in overrides]


def _override_keys(argv: list[str]) -> list[str]:
    return [a[2:].split("=", 1)[0] for a in argv if a.startswith("--")]


def _check_once(keys: list[str], where: str) -> None:
    """A key given twice (``--overrides`` repeated, or one flag twice) is an error, not "the last one wins"."""
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"{where} set {twice} more than once; give each key once")


def check_trainer(trl) -> None:
    """Ranges of the TRL training config that TRL itself lets through (``max_steps <= 0`` silently means
    "train by epochs", a zero batch passes parsing). Raises ``ValueError`` naming the field."""
    from srpo.configs.base import ALL_OR_POSITIVE, NON_NEGATIVE, POSITIVE, check_ranges

    check_ranges(
        trl,
        per_device_train_batch_size=POSITIVE,
        gradient_accumulation_steps=POSITIVE,
        max_steps=ALL_OR_POSITIVE,
        learning_rate=NON_NEGATIVE,
        logging_steps=POSITIVE,
        save_steps=POSITIVE,
        warmup_steps=NON_NEGATIVE,
        weight_decay=NON_NEGATIVE,
        max_grad_norm=NON_NEGATIVE,
    )
    if trl.max_steps == -1:
        check_ranges(trl, num_train_epochs=(lambda v: v > 0, "> 0 when max_steps is -1 (train by epochs)"))
    if hasattr(trl, "num_generations"):  # GRPOConfig
        check_ranges(
            trl,
            num_generations=(lambda v: v >= 2, ">= 2 (advantages are relative within a group)"),
            max_completion_length=POSITIVE,
            temperature=POSITIVE,
            beta=NON_NEGATIVE,
            epsilon=NON_NEGATIVE,
        )


def _check_keys(keys, known: set[str], where: str) -> None:
    for key in keys:
        if key not in known and key not in RESERVED_KEYS:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown key '{key}' in {where}{hint}")


def read_yaml_mapping(path: Path) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a YAML mapping of keys to values")
    return data


def load(stage: str, profile: str = "tiny-cpu", run_dir=None, overrides=None) -> StageConfig:
    """Parse ``recipes/<profile>/<stage>.yaml`` with ``overrides`` for a run in ``run_dir``."""
    get_stage(stage)  # unknown stage names fail here, before the recipe lookup
    recipe = recipe_path(profile, stage)
    run_dir = str(run_dir) if run_dir is not None else f"runs/{profile}/dev"
    from srpo.rehearsal import with_rehearsal  # the CPU rehearsal's rule, a no-op outside `--rehearse`

    _check_once(_override_keys(normalize_overrides(overrides)), f"the overrides for {stage}")
    # The rehearsal's flags come first, so the caller's own flags (checked above) win over them.
    argv = ["--profile", profile, "--run_dir", run_dir, *normalize_overrides(with_rehearsal(stage, overrides))]
    return _parse(stage, recipe, argv, overrides_where=f"the overrides for {stage}")


def load_resolved(stage: str, path: str | os.PathLike, overrides=None) -> StageConfig:
    """Parse a resolved ``<run_dir>/<stage>/config.yaml`` (what entry points do)."""
    path = Path(path)
    argv = normalize_overrides(overrides)
    _check_once(_override_keys(argv), f"the overrides for {path}")
    return _parse(stage, path, argv, overrides_where=f"the overrides for {path}")


def parse_entry_point(stage: str, argv=None, *, prog: str, description: str | None = None, add_arguments=None):
    """The command line every stage's entry point shares (``python -m <module> --config ... [--overrides
    ...]``); ``add_arguments(parser)`` adds a stage's own flags. Returns (the stage config, the arguments)."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", required=True, help=f"the resolved <run_dir>/{stage}/config.yaml (srpo.launch)")
    parser.add_argument(
        "--overrides",
        action="append",
        default=[],
        help="extra overrides, e.g. '--max_steps 5' (repeatable; a key may be set once)",
    )
    if add_arguments is not None:
        add_arguments(parser)
    ns = parser.parse_args(argv)
    ns.overrides = " ".join(ns.overrides)
    try:
        cfg = load_resolved(stage, ns.config, ns.overrides)
    except (ConfigError, FileNotFoundError) as exc:  # a bad path or value: one line, before any work
        parser.exit(2, f"{prog}: error: {exc}\n")
    _hold_lock(cfg)
    return cfg, ns


def _hold_lock(cfg: StageConfig) -> None:
    """The entry point holds the stage folder's lock until it exits (shared with ``srpo.launch`` when that
    started it); ranks other than 0 of a multi-process run leave it to rank 0."""
    import atexit

    if int(os.environ.get("RANK", "0")) != 0:
        return
    lock = paths.StageLock(cfg.run.run_dir, cfg.stage).acquire()
    atexit.register(lock.release)


def _parse(stage: str, yaml_path: Path, argv: list[str], overrides_where: str) -> StageConfig:
    from trl import TrlParser

    spec = get_stage(stage)
    types = spec.dataclass_types()
    known = field_names(types)
    values = read_yaml_mapping(yaml_path)
    _check_keys(values, known, str(yaml_path))
    _check_keys(_override_keys(argv), known, overrides_where)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parsed = _parse_values(TrlParser(types), values, argv)
    except SystemExit as exc:  # argparse exits on a bad value; a notebook must get an exception instead
        reason = (stderr.getvalue().strip().splitlines() or ["(no message)"])[-1]
        raise ConfigError(f"could not parse {yaml_path} with overrides of {_override_keys(argv)}: {reason}") from exc
    except (TypeError, ValueError) as exc:  # values are not echoed: an override could carry a secret
        raise ConfigError(f"invalid value in {yaml_path} or the overrides of {_override_keys(argv)}: {exc}") from exc
    by_type = dict(zip(types, parsed, strict=True))
    trl = _pick(by_type, "SFTConfig", "GRPOConfig")
    if trl is not None:
        try:
            check_trainer(trl)
        except ValueError as exc:
            raise ConfigError(
                f"invalid value in {yaml_path} or the overrides of {_override_keys(argv)}: {exc}"
            ) from exc
    cfg = StageConfig(
        stage=stage,
        args=parsed[0],
        run=_pick(by_type, "RunArgs"),
        launch=_pick(by_type, "LaunchArgs"),
        trl=trl,
        model=_pick(by_type, "ModelConfig"),
        source=str(yaml_path),
    )
    cfg.values = _resolved_values(cfg, values, _override_keys(argv))
    try:
        check_stage_config(cfg)
    except ValueError as exc:
        raise ConfigError(f"invalid value in {yaml_path} or the overrides of {_override_keys(argv)}: {exc}") from exc
    return cfg


def check_stage_config(cfg: StageConfig) -> None:
    """The checks that need more than the config's own fields, run once the config is parsed and before the
    stage does any work: every ``stage:X`` names a stage, and the stage's own check (``srpo.stages.Stage.check``:
    its registries of benchmarks, prompts, question types). Raises ``ValueError`` naming the field."""
    unknown = [s for s in cfg.input_stages() if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage in {[STAGE_PREFIX + s for s in unknown]}; stages: {list(STAGES)}")
    get_stage(cfg.stage).check_config(cfg)


def _parse_values(parser, values: dict, argv: list[str]) -> tuple:
    """What ``TrlParser.parse_args_and_config(["--config", path, *argv])`` does, from the mapping already read
    (so the YAML is parsed once per process): the recipe's ``env:`` mapping becomes environment variables, its
    other keys the parser's defaults, and ``argv`` overrides them."""
    config = dict(values)
    env = config.pop("env", None) or {}
    if not isinstance(env, dict):
        raise ValueError("`env` must be a mapping of variable names to values")
    for key, value in env.items():
        os.environ[key] = str(value)
    parser.set_defaults_with_config(**config)
    return parser.parse_args_into_dataclasses(args=argv)


def _pick(by_type: dict, *names: str):
    return next((obj for t, obj in by_type.items() if t.__name__ in names), None)


def _objects(cfg: StageConfig) -> list:
    return [o for o in (cfg.args, cfg.trl, cfg.model, cfg.run, cfg.launch) if o is not None]


def _resolved_values(cfg: StageConfig, recipe_values: dict, override_keys: list[str]) -> dict:
    """Recipe keys plus overridden keys, with the parsed (typed) values."""
    keys = [*recipe_values, *[k for k in override_keys if k not in recipe_values], "profile", "run_dir"]
    out = {}
    for key in dict.fromkeys(keys):
        if key in RESERVED_KEYS:
            out[key] = recipe_values[key]
            continue
        obj = next(o for o in _objects(cfg) if key in {f.name for f in fields(o)})
        out[key] = _plain(getattr(obj, key))
    return out


def _plain(value):
    if isinstance(value, enum.Enum):  # TRL/transformers enums (several subclass str)
        return value.value
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def save_resolved(cfg: StageConfig) -> Path:
    """Write ``config.yaml`` (re-parseable) and ``config_full.json`` (every field) into the stage folder."""
    out = cfg.stage_dir
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.yaml"
    header = f"# Resolved config of stage '{cfg.stage}' (from {cfg.source}). Entry points read this file.\n"
    body = yaml.safe_dump(cfg.values, sort_keys=False, allow_unicode=True)
    path.write_text(header + body)
    full = {type(o).__name__: _to_dict(o) for o in _objects(cfg)}
    (out / "config_full.json").write_text(json.dumps(full, indent=1, default=str))
    return path


def _to_dict(obj) -> dict:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}


def as_table(cfg: StageConfig) -> list[tuple[str, object]]:
    """The resolved keys as (key, value) rows, for showing in a notebook."""
    return list((cfg.values or {}).items())
