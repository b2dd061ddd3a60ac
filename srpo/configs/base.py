"""Fields every stage shares: where the run lives, and how the stage's process is launched."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunArgs:
    """Where a run lives; set by ``srpo.config.load`` from the notebook's parameters, not by recipes."""

    profile: str = field(default="tiny-cpu", metadata={"help": "Recipe profile: tiny-cpu, 7b or 32b."})
    run_dir: str = field(
        default="runs/tiny-cpu/dev", metadata={"help": "Run directory; relative paths are relative to the repo root."}
    )


@dataclass
class LaunchArgs:
    """How ``srpo.launch`` starts the stage's entry point.

    > Parameters that control the launcher

    ``local`` runs ``python -m <module> --config <resolved>`` as one process (tiny-cpu, and any
    single-process stage); ``accelerate`` wraps it in ``accelerate launch`` with a DeepSpeed config, over
    every node of the SLURM allocation (7b, 32b).
    """

    launcher: str = field(default="local", metadata={"help": "local | accelerate"})
    accelerate_config: str = field(
        default="", metadata={"help": "accelerate config file (recipes/accelerate/*.yaml) for launcher=accelerate."}
    )
    gpus_per_node: int = field(default=8, metadata={"help": "Processes per node for launcher=accelerate."})
    vllm_server_nodes: int = field(
        default=0, metadata={"help": "Nodes held back for `trl vllm-serve` (GRPO server mode); 0 = none."}
    )
    torch_threads: int = field(
        default=0, metadata={"help": "torch.set_num_threads in the stage process; 0 = default."}
    )

    def __post_init__(self):
        if self.launcher not in ("local", "accelerate"):
            raise ValueError(f"launcher must be 'local' or 'accelerate', got {self.launcher!r}")
