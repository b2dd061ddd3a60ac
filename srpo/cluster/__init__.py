"""Running stages on SLURM: allocation parsing, launch plans and command lines (``plan``), the per-node and
per-rank helpers ``srun`` starts (``node``, ``rank``), the vLLM-server supervisor (``supervise``),
checkpoint-on-preemption (``preemption``) and a distributed smoke test (``check``).

``srpo.launch`` calls ``stage_command`` for every stage whose launcher is not ``local``. Importing this
package is cheap (no torch): the node agent runs it on every node before the real launcher starts.
``python -m srpo.cluster --help`` lists the command-line tools (``plan`` for dry runs, ``check``).
"""

from srpo.cluster.plan import LaunchError, LaunchPlan, build_launch, plan_launch, stage_command
from srpo.cluster.slurm_env import Allocation, SlurmEnvError, expand_hostlist

__all__ = [
    "Allocation",
    "LaunchError",
    "LaunchPlan",
    "SlurmEnvError",
    "build_launch",
    "expand_hostlist",
    "plan_launch",
    "stage_command",
]
