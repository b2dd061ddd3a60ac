"""The six stages: notebook, entry-point module, config dataclasses and input stages.

The stage key is the notebook's name without its number; it also names the recipe file
(``recipes/<profile>/<stage>.yaml``) and the stage's folder in the run directory.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

RUN_ARGS = "srpo.configs.base:RunArgs"
LAUNCH_ARGS = "srpo.configs.base:LaunchArgs"


@dataclass(frozen=True)
class Stage:
    key: str
    notebook: str  # notebooks/<notebook>.ipynb
    module: str  # python -m <module> --config <run_dir>/<key>/config.yaml
    dataclasses: tuple[str, ...]  # "module:Class" parsed together by TrlParser
    inputs: tuple[str, ...]  # stages that must have finished (the stage's Args may narrow this)
    # "module:function" called with the parsed StageConfig before the stage does any work: the checks that need
    # the stage's own registries (benchmark, prompt or question-type names), which the plain-data config
    # dataclasses cannot import. It raises ValueError naming the field; srpo.config.load reports it.
    check: str = ""

    def dataclass_types(self) -> tuple[type, ...]:
        return tuple(_import(path) for path in self.dataclasses)

    def check_config(self, cfg) -> None:
        if self.check:
            _import(self.check)(cfg)


def _import(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


STAGES: dict[str, Stage] = {
    s.key: s
    for s in [
        Stage(
            "data_curation",
            "01_data_curation",
            "srpo.data",
            ("srpo.configs.data_curation:CurationArgs", RUN_ARGS, LAUNCH_ARGS),
            (),
            check="srpo.data:check_config",
        ),
        Stage(
            "reflection_generation",
            "02_reflection_generation",
            "srpo.reflection",
            ("srpo.configs.reflection_generation:ReflectionArgs", RUN_ARGS, LAUNCH_ARGS),
            ("data_curation",),
            check="srpo.formats:check_prompt_fields",
        ),
        Stage(
            "cold_start_sft",
            "03_cold_start_sft",
            "srpo.sft",
            ("srpo.configs.cold_start_sft:SFTArgs", "trl:SFTConfig", "trl:ModelConfig", RUN_ARGS, LAUNCH_ARGS),
            ("reflection_generation",),
            check="srpo.formats:check_prompt_fields",
        ),
        Stage(
            "grpo_rl",
            "04_grpo_rl",
            "srpo.grpo",
            ("srpo.configs.grpo_rl:GRPOArgs", "trl:GRPOConfig", "trl:ModelConfig", RUN_ARGS, LAUNCH_ARGS),
            ("data_curation", "cold_start_sft"),
            check="srpo.formats:check_prompt_fields",
        ),
        Stage(
            "benchmarks",
            "05_benchmarks",
            "srpo.bench",
            ("srpo.configs.benchmarks:BenchArgs", RUN_ARGS, LAUNCH_ARGS),
            (),
            check="srpo.bench.stage:check_config",
        ),
        Stage(
            "ablations",
            "06_ablations",
            "srpo.ablations",
            ("srpo.configs.ablations:AblationArgs", RUN_ARGS, LAUNCH_ARGS),
            (),
            check="srpo.ablations.arms:check_config",
        ),
    ]
}

NOTEBOOK_TO_STAGE = {s.notebook: s.key for s in STAGES.values()}


def get_stage(key: str) -> Stage:
    try:
        return STAGES[key]
    except KeyError:
        raise ValueError(f"unknown stage {key!r}; stages are {', '.join(STAGES)}") from None
