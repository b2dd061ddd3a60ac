"""Running stages on SLURM: allocation parsing and the one line each rank logs (``slurm_env``, ``log_rank``),
launch plans and command lines (``plan``: ``srun ... bash -c 'exec accelerate launch ... -m <stage>'``), the
vLLM-server supervisor (``supervise``), checkpoint-on-preemption (``preemption``) and a distributed smoke test
(``check``).

``srpo.launch`` calls ``stage_command`` for every stage whose launcher is not ``local``. Importing this
package is cheap (no torch): every stage entry point imports it on every rank to call ``log_rank``.
``python -m srpo.cluster --help`` lists the command-line tools (``plan`` for dry runs, ``check``).
"""

from srpo.cluster.plan import LaunchError, LaunchPlan, build_launch, plan_launch, stage_command
from srpo.cluster.slurm_env import Allocation, SlurmEnvError, expand_hostlist, log_rank

__all__ = [
    "Allocation",
    "LaunchError",
    "LaunchPlan",
    "SlurmEnvError",
    "build_launch",
    "expand_hostlist",
    "log_rank",
    "plan_launch",
    "stage_command",
]
