"""Fields every stage shares (where the run lives, how the stage's process is launched), the checks of a
field's value (``check_ranges``), and the notations config values share (``stage:X``, ``NAME=VALUE`` lists).
Plain data: nothing here (or anywhere in ``srpo.configs``) imports a stage's package; a check that needs a
stage's registry runs where the stage starts (``srpo.stages.Stage.check``)."""

from __future__ import annotations

from dataclasses import dataclass, field

LAUNCHERS = ("local", "accelerate", "auto")


def check_ranges(obj, **rules) -> None:
    """Raise ``ValueError`` naming the first field of ``obj`` whose value breaks its rule.

    A rule is ``(test, text)``: ``check_ranges(args, max_steps=(lambda v: v > 0, "> 0"))``. The shorthands
    ``POSITIVE``, ``NON_NEGATIVE``, ``ALL_OR_POSITIVE`` (-1 = all) and ``FRACTION`` cover most counts and rates."""
    import math

    for name, (test, text) in rules.items():
        value = getattr(obj, name)
        bad_number = isinstance(value, float) and not math.isfinite(value)
        if value is not None and (bad_number or not test(value)):
            raise ValueError(f"{name} must be {text}, got {value!r}")


PLACEMENTS = ("system", "user", "none")  # where a prompt's instructions go (srpo.formats.build_messages)
POSITIVE = (lambda v: v > 0, "> 0")
NON_NEGATIVE = (lambda v: v >= 0, ">= 0")
ALL_OR_POSITIVE = (lambda v: v == -1 or v > 0, "-1 (all) or > 0")
FRACTION = (lambda v: 0 <= v <= 1, "in [0, 1]")


def one_of(allowed) -> tuple:
    """The rule of a field that takes one of a few names, for ``check_ranges``:
    ``check_ranges(args, backend=one_of(BACKENDS))`` raises "backend must be one of hf, vllm, got 'x'".

    >>> check_ranges(type("A", (), {"mode": "ran"})(), mode=one_of(("run", "aggregate")))
    Traceback (most recent call last):
    ...
    ValueError: mode must be one of run, aggregate, got 'ran'
    """
    allowed = tuple(allowed)
    return (lambda v: v in allowed, "one of " + ", ".join(map(str, allowed)))


# ------------------------------------------------------------------------------------- value notations
STAGE_PREFIX = "stage:"  # a source written stage:X is stage X's output in this run (a model: <run_dir>/X/final)


def stage_name(source) -> str | None:
    """``"stage:cold_start_sft"`` -> ``"cold_start_sft"``; any other source (a folder, a Hub id, tiny://...) ->
    None. The folder it stands for: ``srpo.paths.resolve_model``.

    >>> stage_name("stage:grpo_rl"), stage_name("Qwen/Qwen2.5-VL-7B-Instruct")
    ('grpo_rl', None)
    """
    source = str(source or "")
    return source[len(STAGE_PREFIX) :] if source.startswith(STAGE_PREFIX) else None


def split_pair(item, what: str, *, sep: str = "=", default: str | None = None, error=ValueError) -> tuple[str, str]:
    """``"base=tiny://instruct"`` -> ``("base", "tiny://instruct")`` (both stripped). Without ``sep`` or with
    an empty side it raises ``error`` naming ``what`` and the item, unless ``default`` stands in for the value.

    >>> split_pair("math:", "rl_mix", sep=":", default="1")
    ('math', '1')
    """
    name, found, value = str(item).partition(sep)
    name, value = name.strip(), value.strip()
    if not value and default is not None:
        value = default
    if not name or not value or (not found and default is None):
        raise error(f"{what}: {item!r} is not NAME{sep}VALUE")
    return name, value


def parse_pairs(items, what: str, *, sep: str = "=", default: str | None = None, error=ValueError) -> dict[str, str]:
    """The one parser of ``NAME=VALUE`` lists in configs and command lines: ``["base=tiny://instruct",
    ...]`` -> ``{"base": "tiny://instruct"}`` in the order given; a bad item or a name given twice raises
    ``error`` naming ``what`` and the item (see ``split_pair`` for ``sep`` and ``default``).

    >>> parse_pairs(["base=tiny://instruct", "sft = stage:cold_start_sft"], "models")
    {'base': 'tiny://instruct', 'sft': 'stage:cold_start_sft'}
    >>> parse_pairs(["a=1", "a=2"], "models")
    Traceback (most recent call last):
    ...
    ValueError: models: 'a' is listed twice; give each name once
    """
    out: dict[str, str] = {}
    for item in items or []:
        name, value = split_pair(item, what, sep=sep, default=default, error=error)
        if name in out:
            raise error(f"{what}: {name!r} is listed twice; give each name once")
        out[name] = value
    return out


@dataclass
class RunArgs:
    """Where a run lives; set by ``srpo.config.load`` from the notebook's parameters, not by recipes."""

    profile: str = field(default="tiny-cpu", metadata={"help": "Recipe profile: tiny-cpu, 7b or 32b."})
    run_dir: str = field(
        default="runs/tiny-cpu/dev", metadata={"help": "Run directory; relative paths are relative to the repo root."}
    )


@dataclass
class LaunchArgs:
    """How ``srpo.launch`` starts the stage's entry point (command lines built in ``srpo.cluster``).

    > Parameters that control the launcher

    * ``local``: ``python -m <module> --config <resolved>`` as one plain process (any single-process stage).
    * ``accelerate``: ``accelerate launch`` with ``accelerate_config``, ``gpus_per_node`` processes on every
      node; inside a SLURM job ``srun`` starts one launcher per node (7b, 32b). Outside SLURM: this machine.
    * ``auto``: ``local`` outside a SLURM job, ``accelerate`` inside one (tiny-cpu training stages, so that
      ``sbatch slurm/grpo_32b.sh --profile tiny-cpu`` spreads CPU ranks over the allocation's nodes).
    """

    launcher: str = field(default="local", metadata={"help": "local | accelerate | auto"})
    accelerate_config: str = field(
        default="",
        metadata={"help": "accelerate config file (recipes/accelerate/*.yaml) for launcher=accelerate|auto."},
    )
    gpus_per_node: int = field(
        default=0,
        metadata={
            "help": "Processes per node for launcher=accelerate|auto; 0 = the GPUs SLURM gave the job per node."
        },
    )
    vllm_server_nodes: int = field(
        default=0,
        metadata={"help": "Nodes held back for `trl vllm-serve` (GRPO vllm_mode=server): 0 or 1; 0 = none."},
    )
    torch_threads: int = field(
        default=0,
        metadata={
            "help": "torch.set_num_threads in the stage process (a fixed count keeps a seed's numbers "
            "the same under load); 0 = auto: the launcher's OMP_NUM_THREADS, else the free cores."
        },
    )

    def __post_init__(self):
        check_ranges(self, torch_threads=NON_NEGATIVE, launcher=one_of(LAUNCHERS))
        if self.gpus_per_node < 0:
            raise ValueError(f"gpus_per_node must be >= 0 (0 = from the SLURM allocation), got {self.gpus_per_node}")
        if self.vllm_server_nodes not in (0, 1):
            raise ValueError(
                f"vllm_server_nodes must be 0 or 1 (`trl vllm-serve` runs on one node), got {self.vllm_server_nodes}"
            )
        if self.launcher != "local" and self.accelerate_config and not self.accelerate_config.endswith(".yaml"):
            raise ValueError(f"accelerate_config must be an accelerate .yaml file, got {self.accelerate_config!r}")
