"""Stage 06, ablations and the paper-vs-ours report (paper §4.3: Tables 1, 3, 6).

* ``ARMS``: the arms as data (``srpo.ablations.arms``);
* run mode (tiny-cpu): every arm is trained and evaluated here (``srpo.ablations.run``);
* aggregate mode (cluster): ``slurm/ablation_arms.sh`` submits one GRPO + benchmarks job chain per arm,
  and this stage collects their run directories (``srpo.ablations.collect``);
* the report, ``<run_dir>/ablations/report.md`` (``srpo.ablations.report``);
* beside the stage, one experiment on a task where reflection has room to help
  (``python -m srpo.ablations.reflection_experiment``, ``make reflection-experiment``).
"""

from srpo.ablations.arms import ARMS, Arm, select_arms

__all__ = ["ARMS", "Arm", "select_arms"]
