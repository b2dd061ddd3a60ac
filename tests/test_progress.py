"""Progress of long stages (srpo.progress): concise lines in logs, a bar in a live kernel, no raw trainer dicts."""

import io
import os
import sys

import pytest

from srpo import progress


def test_lines_every_n_steps_with_rate_and_eta(capsys):
    lines = progress.Lines("attempts", total=100, every=25, seconds=1e9)
    for n in range(0, 101):
        lines.update(n)
    out = capsys.readouterr().out.splitlines()
    assert [progress.parse_line(line)[1] for line in out] == [0, 25, 50, 75, 100]
    assert all("ETA" in line for line in out[1:]), out


def test_track_yields_everything_and_ends_at_the_total(capsys):
    assert list(progress.track(range(7), "teacher", every=3)) == list(range(7))
    counts = [progress.parse_line(line)[1:3] for line in capsys.readouterr().out.splitlines()]
    assert counts[0] == (0, 7) and counts[-1] == (7, 7)


def test_stream_echo_prints_lines_unless_live(capsys):
    echo = progress.StreamEcho(live=False)
    echo("[progress] grpo_rl 5/10 50% | 1.00 s/it | 0:05 elapsed | ETA 0:05 | loss 0.1\n")
    echo("plain line\n")
    assert capsys.readouterr().out == (
        "[progress] grpo_rl 5/10 50% | 1.00 s/it | 0:05 elapsed | ETA 0:05 | loss 0.1\nplain line\n"
    )


def test_stream_echo_drives_a_bar_when_live(capsys):
    echo = progress.StreamEcho(live=True)
    echo(progress.format_line("grpo_rl", 2, 10, 2.0, {"loss": 0.5}) + "\n")
    echo(progress.format_line("grpo_rl", 6, 10, 6.0, {"loss": 0.25}) + "\n")
    echo("other output\n")
    bar = echo.bars["grpo_rl"]
    assert (bar.n, bar.total) == (6, 10) and "loss 0.25" in bar.postfix
    echo.close()
    out = capsys.readouterr().out
    assert out == "other output\n", "progress lines become the bar, not printed text"


def test_papermill_runs_get_lines(monkeypatch):
    monkeypatch.setenv(progress.ENV, "lines")
    assert progress.live_display() is False
    monkeypatch.setenv(progress.ENV, "bars")
    assert progress.live_display() is True


@pytest.mark.slow
def test_trainer_prints_progress_lines_not_raw_dicts(tmp_path):
    """A real transformers Trainer with disable_tqdm (as the recipes set it) prints ``{'loss': ...}`` dicts
    through its PrinterCallback; ``progress.install`` replaces them by one progress line per log step."""
    import torch
    from transformers import Trainer, TrainingArguments

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(2, 1)

        def forward(self, x, labels=None):
            return {"loss": ((self.w(x).squeeze(-1) - labels) ** 2).mean()}

    data = [{"x": torch.randn(2), "labels": torch.tensor(1.0)} for _ in range(12)]
    args = TrainingArguments(
        output_dir=str(tmp_path / "grpo_rl" / "checkpoints"),
        max_steps=6,
        logging_steps=2,
        per_device_train_batch_size=2,
        disable_tqdm=True,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
    )
    trainer = Trainer(model=Tiny(), args=args, train_dataset=data)
    progress.install(trainer, "grpo_rl")
    buffer, saved = io.StringIO(), sys.stdout
    sys.stdout = buffer
    try:
        trainer.train()
    finally:
        sys.stdout = saved
    out = buffer.getvalue()
    assert "{'loss'" not in out and "'train_runtime'" not in out, out
    steps = [progress.parse_line(line) for line in out.splitlines() if progress.parse_line(line)]
    assert [s[1] for s in steps] == [0, 2, 4, 6] and all(s[2] == 6 for s in steps), out
    assert "loss" in steps[-1][3]


@pytest.mark.slow
def test_sft_stage_shows_progress_lines_and_no_raw_dicts(tmp_path, capsys, tiny_model_path, monkeypatch):
    """What a notebook cell (or papermill) shows of a training stage: progress lines with an ETA, no raw dicts."""
    from srpo.data.__main__ import main as curate
    from srpo.launch import prepare_stage, run_stage
    from srpo.reflection.pipeline import main as reflect

    monkeypatch.setenv(progress.ENV, "lines")
    run_dir = tmp_path / "run"
    for stage, main, overrides in [
        ("data_curation", curate, "--sft_pool_size 16 --rl_train_size 16"),
        ("reflection_generation", reflect, "--attempt_source generator --target_size 16"),
    ]:
        cfg, _ = prepare_stage(stage, "tiny-cpu", run_dir, overrides)
        main(cfg)
    capsys.readouterr()
    run_stage(
        "cold_start_sft",
        "tiny-cpu",
        run_dir,
        "--model_name_or_path tiny://random --max_steps 6 --logging_steps 2 --eval_samples 0 --save_steps 1000",
    )
    shown = capsys.readouterr().out
    log = (run_dir / "cold_start_sft" / "logs" / "stage.log").read_text()
    for text in (shown, log):
        assert "{'loss'" not in text and "'train_runtime'" not in text, text
        steps = [p for p in map(progress.parse_line, text.splitlines()) if p and p[0] == "cold_start_sft"]
        assert [s[1] for s in steps] == [0, 2, 4, 6], text
    assert "ETA" in shown


@pytest.mark.slow
def test_in_a_live_kernel_progress_lines_become_a_bar_and_a_plot(tmp_path):
    """A stage's output streamed into a Jupyter kernel (what ``run_stage`` does in JupyterLab): the progress lines
    become a tqdm widget and a loss/reward plot updated in place; other lines stay text."""
    import nbformat
    from nbclient import NotebookClient

    stage = (
        "from srpo import progress\\n"
        "print('starting', flush=True)\\n"
        "for i in range(0, 21, 5):\\n"
        "    print(progress.format_line('grpo_rl', i, 20, i * 0.5 + 0.01, {'loss': 1 / (i + 1), 'reward': i / 20}),"
        " flush=True)\\n"
    )
    cell = (
        "import sys\nfrom pathlib import Path\nfrom srpo import launch\n"
        f"rc, _, _ = launch.stream_subprocess([sys.executable, '-c', \"{stage}\"], Path(r'{tmp_path}') / 'log')\n"
        "assert rc == 0"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    env_before = os.environ.get(progress.ENV)
    os.environ[progress.ENV] = "bars"  # the kernel inherits it: as in JupyterLab, not papermill
    try:
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        os.environ.pop(progress.ENV) if env_before is None else os.environ.__setitem__(progress.ENV, env_before)
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "starting" in text and "[progress]" not in text, text
    data = [o.get("data", {}) for o in outputs if o.output_type == "display_data"]
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data), "no tqdm widget"
    plots = [d for d in data if "image/png" in d]
    assert len(plots) == 1, ("one plot, updated in place", [list(d) for d in data])


def test_quiet_loops_print_nothing(capsys):
    lines = progress.Lines("rl_train/synthetic", total=10, every=1, quiet_s=60)
    for n in range(11):
        lines.update(n)
    assert capsys.readouterr().out == ""


def test_a_librarys_tqdm_bar_becomes_a_line_per_tenth(tmp_path, capsys, monkeypatch):
    """vLLM-style tqdm output of a stage (one bar per benchmark call) reaches a papermill notebook as a progress
    line per tenth, not as hundreds of bar updates (nor as nothing, as the noise filter left it); a bar that is
    over within ``TQDM_QUIET_S`` seconds (loading weights) stays silent."""
    from srpo.launch import stream_subprocess

    monkeypatch.setenv(progress.ENV, "lines")
    code = (
        "import sys\n"
        "from tqdm import tqdm\n"
        "for i in tqdm(range(50), desc='Loading weights', mininterval=0):\n    pass\n"
        "for n in range(201):  # vLLM's bar, 0.5 s per prompt: its updates as a pipe splits them\n"
        "    s = n // 2\n"
        "    sys.stderr.write(f'\\rProcessed prompts: {n // 2:3d}%|#| {n}/200 [{s // 60:02d}:{s % 60:02d}<00:10, 2it/s]')\n"
        "sys.stderr.write('\\n')  # tqdm's close\n"
        "print('done')"
    )
    rc, _, _ = stream_subprocess([sys.executable, "-c", code], tmp_path / "log")
    out = capsys.readouterr().out.splitlines()
    shown = [progress.parse_line(line) for line in out if progress.parse_line(line)]
    assert rc == 0 and "done" in out
    assert {p[0] for p in shown} == {"Processed_prompts"}, out
    assert [p[1] for p in shown] == [20, 40, 60, 80, 100, 120, 140, 160, 180, 200], out  # from 10 s on, per tenth
