"""What CI checks after `make main` (``python -m srpo check``), the machine-speed figure and the thread settings
each stage prints: on hand-made notebooks and small computations, not on a full run (CI runs that)."""

import json
import re
import shutil

import nbformat
import pytest

from srpo import paths, threads
from srpo.runner import check_run, select_notebooks
from srpo.stages import NOTEBOOK_TO_STAGE


def finished_run(tmp_path):
    """A run directory as `make main` leaves it: executed notebooks with HTML, summaries, the report."""
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    for nb_path in select_notebooks("01-06"):
        nb = nbformat.read(nb_path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                cell.execution_count, cell.outputs = i + 1, []
        nbformat.write(nb, run / "notebooks" / nb_path.name)
        (run / "notebooks" / nb_path.name).with_suffix(".html").write_text("<html></html>")
        stage = NOTEBOOK_TO_STAGE[nb_path.stem]
        paths.write_summary(run, stage, {"stage": stage})
    (run / "ablations" / "report.md").write_text("# report\n## 2. Ablations: a miniature Table 3\n")
    return run


def test_check_passes_a_finished_run_and_names_each_problem(tmp_path):
    run = finished_run(tmp_path)
    assert check_run(run) == []
    executed = run / "notebooks" / "04_grpo_rl.ipynb"
    nb = nbformat.read(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[2].outputs = [nbformat.v4.new_output("error", ename="StageFailed", evalue="grpo_rl exited 1", traceback=[])]
    code[3].execution_count = None  # papermill stopped before it
    nbformat.write(nb, executed)
    (run / "notebooks" / "06_ablations.html").unlink()
    (run / "ablations" / "report.md").write_text("# report\n")
    shutil.rmtree(run / "benchmarks")
    problems = "\n".join(check_run(run))
    assert "04_grpo_rl.ipynb: cell" in problems and "StageFailed" in problems and "not executed" in problems
    assert "06_ablations.html: missing" in problems and "report.md" in problems and "benchmarks:" in problems
    assert len(check_run(run, "01-03")) == 0  # only the selected stages are checked


def test_check_command_exit_status(tmp_path, monkeypatch):
    from srpo.__main__ import main

    run = finished_run(tmp_path)
    monkeypatch.setattr(paths, "default_run_dir", lambda profile, name: run)
    assert main(["check"]) == 0
    (run / "notebooks" / "01_data_curation.ipynb").unlink()
    assert main(["check"]) == 1


def test_reference_computation_is_timed_and_restores_threads():
    import torch

    from srpo.speed import reference_seconds

    before = torch.get_num_threads()
    seconds = reference_seconds(steps=3)
    assert 0 < seconds < 30 and torch.get_num_threads() == before


def test_openmp_waits_passively_in_every_srpo_process():
    """Set by ``import srpo`` before torch loads; a stage subprocess inherits it (measured effect: README)."""
    import os
    import subprocess
    import sys

    code = "import srpo, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"


@pytest.mark.parametrize(
    "requested, free, launcher, expected",
    [(2, 1, None, 2), (1, 2, None, 1), (0, 1, None, 1), (0, None, None, 2), (0, 2, "1", 1)],
)
def test_thread_choice_is_fixed_when_set_and_follows_free_cores_when_auto(
    requested, free, launcher, expected, monkeypatch, capsys
):
    """A fixed ``torch_threads`` never changes with the load (numbers stay the same); 0 follows the free cores,
    or the launcher's OMP_NUM_THREADS; the stage prints what it chose."""
    import torch

    monkeypatch.setattr(threads, "free_cores", lambda window_s=0.5: free)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    if launcher:
        monkeypatch.setenv("OMP_NUM_THREADS", launcher)
        torch.set_num_threads(int(launcher))
    else:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    previous = torch.get_num_threads()
    try:
        assert threads.configure(requested) == expected == torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
    line = capsys.readouterr().out
    assert f"threads: torch {expected}" in line and "OMP_WAIT_POLICY" in line
    if free is not None and free < expected:
        assert "expect a proportional slowdown" in line


def test_resumed_stages_keep_their_time(tmp_path, monkeypatch):
    """`make main` again skips finished stages; run_timings.json keeps their seconds instead of dropping them."""
    from srpo import runner

    run = finished_run(tmp_path)
    (run / "run_timings.json").write_text(json.dumps({"seconds": {"01_data_curation": 9.0}}))
    monkeypatch.setattr(paths, "default_run_dir", lambda profile, name: run)
    monkeypatch.setattr("srpo.speed.reference_seconds", lambda: 1.0)
    record = runner.run_notebooks(stages="01", resume=True)
    assert record["seconds"] == {"01_data_curation": 9.0} and record["reference_seconds"] == 1.0


@pytest.mark.parametrize(
    "override, message",
    [
        ("grpo=--max_steps 5", "unknown stage 'grpo'"),  # a typo was dropped and the stage ran its recipe
        ("ablations=--seedz 1", "unknown key 'seedz'"),
        ("ablations=--one_seed_arms nosuch", "unknown ablation arms ['nosuch']"),
        ("ablations=--seeds -1 2", "seeds must be >= 0"),
    ],
)
def test_run_refuses_a_bad_override_before_any_notebook(override, message, tmp_path, monkeypatch, capsys):
    from srpo import runner
    from srpo.__main__ import main

    monkeypatch.setattr(paths, "default_run_dir", lambda profile, name: tmp_path / "run")
    monkeypatch.setattr(runner, "run_notebooks", lambda *a, **k: pytest.fail("a notebook started"))
    with pytest.raises(SystemExit, match=re.escape(message)):
        main(["run", "--override", override])
    assert not (tmp_path / "run").exists()


def test_a_bad_stage_selection_or_profile_writes_nothing(tmp_path, monkeypatch):
    from srpo import config, runner

    monkeypatch.setattr(paths, "default_run_dir", lambda profile, name: tmp_path / "run")
    with pytest.raises(ValueError, match="cannot read stage selection"):
        runner.run_notebooks(stages="1-6x")
    with pytest.raises(config.ConfigError, match="profiles:"):
        runner.run_notebooks(profile="nosuch")
    assert not (tmp_path / "run").exists()


def test_a_config_error_is_one_line_and_exit_status_2(tmp_path, capsys, monkeypatch):
    from srpo import __main__ as cli_module

    monkeypatch.setattr(
        "sys.argv", ["srpo", "stage", "ablations", "--run-dir", str(tmp_path / "r"), "--overrides", "--seeds 0 0"]
    )
    assert cli_module.cli() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "seeds must be distinct" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "argv, says",
    [
        (["stage", "nosuchstage", "--run-dir", "{tmp}"], "unknown stage 'nosuchstage'"),
        (["stage", "grpo_rl", "--run-dir", "{tmp}"], "grpo_rl"),  # its inputs are not there yet
        (["run", "--stages", "09", "--run-name", "never-made"], "no notebooks match"),
    ],
)
def test_user_errors_are_one_line_and_exit_status_2(argv, says, tmp_path, capsys, monkeypatch):
    from srpo import __main__ as cli_module

    monkeypatch.setattr("sys.argv", ["srpo", *(a.replace("{tmp}", str(tmp_path / "r")) for a in argv)])
    assert cli_module.cli() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "Traceback" not in err


def test_the_srpo_command_is_the_one_line_error_entry_point():
    import tomllib

    from srpo.paths import project_root

    scripts = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["srpo"] == "srpo.__main__:cli"


@pytest.mark.parametrize("module", ["srpo.data", "srpo.sft", "srpo.grpo", "srpo.bench"])
def test_stage_entry_points_refuse_a_missing_config_in_one_line(module, tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", module, "--config", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "missing.yaml" in done.stderr and "Traceback" not in done.stderr
