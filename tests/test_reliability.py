"""Faults a cluster user meets (kill -9, bad overrides, two runs at once, torn files) and what the project does:
append-only logs that survive a kill, validation before anything in a stage folder is touched, summaries that
must parse to count, one run per stage folder, strict weight loading on resume. The kill/resume runs of the
training stages themselves are in test_training.py (slow)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from srpo import config, jsonl, paths
from srpo.launch import prepare_stage

# --------------------------------------------------------------------------- append-only JSONL (srpo.jsonl)


def test_writer_cuts_a_torn_tail_and_skips_logged_keys(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": 1, "v": "a"}\n{"step": 2, "v": "b"}\n{"step": 3, "v": "c')  # kill mid-write
    writer = jsonl.JsonlWriter(path, key="step")
    assert writer.torn and 3 not in writer and 2 in writer
    written = writer.append([{"step": 2, "v": "again"}, {"step": 3, "v": "c"}, {"step": 4, "v": "d"}])
    assert [r["step"] for r in written] == [3, 4]
    rows, skipped = jsonl.read_rows(path)
    assert skipped == 0 and [(r["step"], r["v"]) for r in rows] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_reader_skips_and_counts_a_torn_last_line_only(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    assert jsonl.read_rows(path) == ([{"a": 1}, {"a": 2}], 1)
    path.write_text('{"a": 1}\n{"a": 2')  # unterminated but parseable: still torn (the newline never came)
    assert jsonl.read_rows(path) == ([{"a": 1}], 1)
    path.write_text('{"a": 1}\nnot json\n{"a": 3}\n')  # a kill cannot do this: say where
    with pytest.raises(jsonl.JsonlError, match=r"log.jsonl:2 .*delete the file"):
        jsonl.read_rows(path)
    assert jsonl.read_rows(path, lenient=True) == ([{"a": 1}, {"a": 3}], 1)
    assert jsonl.read_rows(tmp_path / "missing.jsonl") == ([], 0)


def test_grpo_completion_log_writes_each_step_once_after_a_resume(tmp_path):
    """Fault 2: after a resume GRPO logged step 10 twice, and a line torn by the kill stayed glued to the
    next one, which crashed notebook 04's reader."""
    from srpo.grpo import CompletionLog

    path = tmp_path / "completions.jsonl"
    grade = {"total": 1.0, "first_correct": True, "final_correct": True}
    CompletionLog(path, every=5)(10, None, ["a", "b"], [grade, grade])
    with open(path, "a") as f:
        f.write('{"step": 15, "sample": 0, "completion": "half')  # killed while writing step 15
    resumed = CompletionLog(path, every=5)  # the resumed run re-does steps 10 and 15 after checkpoint-5
    resumed(10, None, ["x", "y"], [grade, grade])
    resumed(15, None, ["c", "d"], [grade, grade])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["step"], r["completion"]) for r in rows] == [(10, "a"), (10, "b"), (15, "c"), (15, "d")]
    with open(path, "a") as f:
        f.write('{"step": 20, "sam')
    frame = _completions_table(tmp_path, path)  # notebook 04's table: the torn last line is skipped
    assert list(frame["step"]) == [10, 15]


def _completions_table(tmp_path, log):
    from srpo.training.plots import completions_early_late

    run_dir = tmp_path / "run"
    (run_dir / "grpo_rl").mkdir(parents=True)
    (run_dir / "grpo_rl" / "completions.jsonl").write_bytes(log.read_bytes())
    return completions_early_late(run_dir, n=1)


def test_reflection_store_and_generation_cache_share_the_writer(tmp_path):
    from srpo.bench.cache import GenerationCache
    from srpo.reflection.store import JsonlStore

    store_path = tmp_path / "teacher.jsonl"
    store_path.write_text('{"id": "a", "v": 1}\n{"id": "b", "v"')
    store = JsonlStore(store_path)
    store.append([{"id": "a", "v": 9}, {"id": "b", "v": 2}])
    assert store.dropped_partial and [(r["id"], r["v"]) for r in jsonl.read_jsonl(store_path)] == [("a", 1), ("b", 2)]

    cache_path = tmp_path / "cache.jsonl"
    cache_path.write_text('{"key": "k1", "text": "one"}\n{"key": "k2", "te')
    cache = GenerationCache(cache_path)
    assert cache.get("k1")["text"] == "one" and cache.get("k2") is None
    cache.put_many([{"key": "k2", "text": "two"}])
    assert GenerationCache(cache_path).get("k2")["text"] == "two"
    assert jsonl.read_rows(cache_path) == ([{"key": "k1", "text": "one"}, {"key": "k2", "text": "two"}], 0)


# --------------------------------------------------------------------------- validate before touching anything


def _finished(run_dir, stage, **extra):
    """A finished stage: summary.json plus an output and a checkpoint that must survive a refused start."""
    stage_dir = paths.stage_dir(run_dir, stage)
    (stage_dir / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (stage_dir / "checkpoints" / "checkpoint-3" / "trainer_state.json").write_text("{}")
    (stage_dir / "final").mkdir()
    (stage_dir / "final" / "config.json").write_text("{}")
    (stage_dir / "config.yaml").write_text("# the finished run's config\n")
    paths.write_summary(run_dir, stage, {"steps": 3, **extra})
    return {p.relative_to(stage_dir): p.read_bytes() for p in stage_dir.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("stage", "override", "key"),
    [
        ("grpo_rl", "--max_steps -5", "max_steps"),
        ("grpo_rl", "--max_steps 0", "max_steps"),
        ("grpo_rl", "--per_device_train_batch_size 0", "per_device_train_batch_size"),
        ("grpo_rl", "--num_generations 1", "num_generations"),
        ("grpo_rl", "--eval_samples -5", "eval_samples"),
        ("grpo_rl", "--learning_rate -1e-4", "learning_rate"),
        ("cold_start_sft", "--eval_samples -5", "eval_samples"),
        ("cold_start_sft", "--max_steps -2", "max_steps"),
        ("cold_start_sft", "--num_train_epochs 0", "num_train_epochs"),
        ("cold_start_sft", "--save_steps 0", "save_steps"),
        ("reflection_generation", "--target_size -10", "target_size"),
        ("reflection_generation", "--attempt_temperature -1", "attempt_temperature"),
        ("data_curation", "--rl_train_size -1", "rl_train_size"),
        ("benchmarks", "--max_new_tokens 0", "max_new_tokens"),
        ("ablations", "--grpo_max_steps 0", "grpo_max_steps"),
    ],
)
def test_bad_counts_are_refused_before_a_finished_stage_is_touched(tmp_path, stage, override, key):
    """Faults 3 and 4: `--max_steps -5` on a finished GRPO deleted its summary, moved its checkpoints aside and
    started thousands of steps; `--target_size -10` passed. Now the value is refused, naming the key, and every
    file of the finished stage is byte-for-byte what it was."""
    for done in ("data_curation", "reflection_generation", "cold_start_sft"):
        if done != stage:
            paths.write_summary(tmp_path, done, {})
    before = _finished(tmp_path, stage)
    with pytest.raises(config.ConfigError, match=key):
        prepare_stage(stage, "tiny-cpu", tmp_path, override)
    stage_dir = paths.stage_dir(tmp_path, stage)
    after = {p.relative_to(stage_dir): p.read_bytes() for p in stage_dir.rglob("*") if p.is_file()}
    assert after == before and paths.is_done(tmp_path, stage)


def test_a_good_start_keeps_the_finished_summary_until_the_new_run_replaces_it(tmp_path):
    paths.write_summary(tmp_path, "reflection_generation", {})
    _finished(tmp_path, "cold_start_sft", marker="old")
    prepare_stage("cold_start_sft", "tiny-cpu", tmp_path, "--max_steps 5")
    assert paths.read_summary(tmp_path, "cold_start_sft")["marker"] == "old"


def test_outputs_are_swapped_in_whole(tmp_path):
    final, new = tmp_path / "final", tmp_path / "final.new"
    final.mkdir()
    (final / "model.safetensors").write_text("old")
    (tmp_path / "final.old").mkdir()  # left by a run killed mid-swap
    new.mkdir()
    (new / "model.safetensors").write_text("new")
    paths.replace_dir(new, final)
    assert (final / "model.safetensors").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]


def test_an_override_given_twice_is_an_error_and_repeated_flags_merge(tmp_path, capsys):
    """Fault 7: `--overrides` given twice silently kept the last one."""
    paths.write_summary(tmp_path, "reflection_generation", {})
    _, resolved = prepare_stage("cold_start_sft", "tiny-cpu", tmp_path)
    with pytest.raises(config.ConfigError, match=r"\['max_steps'\] more than once"):
        config.load("cold_start_sft", "tiny-cpu", tmp_path, "--max_steps 5 --max_steps 6")
    argv = ["--config", str(resolved), "--overrides", "--max_steps 5", "--overrides", "--max_steps 6"]
    with pytest.raises(SystemExit) as exited:  # the entry point's one-line error
        config.parse_entry_point("cold_start_sft", argv, prog="test")
    assert exited.value.code == 2 and "more than once" in capsys.readouterr().err
    argv = ["--config", str(resolved), "--overrides", "--max_steps 5", "--overrides", "--learning_rate 0.5"]
    cfg, _ = config.parse_entry_point("cold_start_sft", argv, prog="test")
    assert (cfg.trl.max_steps, cfg.trl.learning_rate) == (5, 0.5)
    paths.StageLock(tmp_path, "cold_start_sft").release()


def test_the_skip_message_names_a_flag_that_exists(tmp_path, monkeypatch, capsys):
    """Fault 7: `python -m srpo run --resume` said "--force to re-run", a flag that does not exist."""
    import shutil

    from srpo import runner
    from srpo.__main__ import main

    monkeypatch.setenv("SRPO_HOME", str(tmp_path))
    (tmp_path / "notebooks").mkdir()
    shutil.copy(Path(__file__).parents[1] / "notebooks" / "01_data_curation.ipynb", tmp_path / "notebooks")
    run_dir = paths.default_run_dir("tiny-cpu", "main")
    paths.write_summary(run_dir, "data_curation", {})
    (run_dir / "notebooks").mkdir(parents=True)
    (run_dir / "notebooks" / "01_data_curation.ipynb").write_text("{}")
    runner.run_notebooks("tiny-cpu", "main", "01", resume=True)
    message = capsys.readouterr().out
    assert "skipped" in message
    flags = [w.strip("()") for w in message.split() if w.startswith(("--", "(--"))]
    assert flags, message
    for flag in flags:  # every flag the message names is one `python -m srpo run` accepts
        with pytest.raises(FileNotFoundError, match="no notebooks match"):  # not argparse's SystemExit(2)
            main(["run", flag, "--stages", "99"])


# --------------------------------------------------------------------------- finished means readable


def test_a_torn_or_foreign_summary_is_not_finished_and_names_the_file(tmp_path):
    """Fault 5: a corrupt summary.json counted as finished and reading it raised a bare JSONDecodeError."""
    paths.write_summary(tmp_path, "cold_start_sft", {"steps": 3})
    assert paths.is_done(tmp_path, "cold_start_sft")
    path = paths.stage_dir(tmp_path, "cold_start_sft") / paths.SUMMARY
    path.write_text('{"steps": 3, "loss')
    assert not paths.is_done(tmp_path, "cold_start_sft")
    with pytest.raises(paths.SummaryUnreadable, match=rf"{path}.*not valid JSON.*Re-run the stage"):
        paths.read_summary(tmp_path, "cold_start_sft")
    path.write_text(json.dumps({"stage": "grpo_rl", "steps": 3}))  # copied from another stage
    assert not paths.is_done(tmp_path, "cold_start_sft")
    with pytest.raises(paths.SummaryUnreadable, match="does not name the stage 'cold_start_sft'"):
        paths.read_summary(tmp_path, "cold_start_sft")
    paths.write_summary(tmp_path, "data_curation", {})
    with pytest.raises(paths.StageNotReady, match=r"cold_start_sft/summary.json does not name"):  # readers refuse
        prepare_stage("grpo_rl", "tiny-cpu", tmp_path)


# --------------------------------------------------------------------------- one run per stage folder

HOLD = """
import sys, time
from srpo import paths
lock = paths.StageLock(sys.argv[1], "reflection_generation").acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_run_is_refused_while_the_first_lives_and_a_dead_holder_is_taken_over(tmp_path):
    """Fault 6: two runs of stage 02 on one run directory both wrote every row."""
    paths.write_summary(tmp_path, "data_curation", {})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "held"
        config_yaml = paths.stage_dir(tmp_path, "reflection_generation") / "config.yaml"
        with pytest.raises(paths.StageBusy, match=rf"pid {proc.pid} on host .*delete .*\.lock"):
            prepare_stage("reflection_generation", "tiny-cpu", tmp_path)
        assert not config_yaml.exists()  # refused before writing anything
    finally:
        proc.send_signal(signal.SIGKILL)  # the holder dies without releasing: a stale lock
        proc.wait()
    lock = paths.StageLock(tmp_path, "reflection_generation")
    assert json.loads(lock.path.read_text())["pid"] == proc.pid
    prepare_stage("reflection_generation", "tiny-cpu", tmp_path)  # takes the stale lock over, then releases
    assert not lock.path.exists()
    with lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        child = paths.StageLock(tmp_path, "reflection_generation")
        os.environ.update(lock.env())  # what srpo.launch passes to the entry point it starts
        try:
            child.acquire()  # shared with the parent, not refused
            assert not child.owned
        finally:
            os.environ.pop(paths.LOCK_ENV)
    assert not lock.path.exists()


def test_a_lock_from_another_host_is_refused_unless_it_is_this_slurm_jobs(tmp_path, monkeypatch):
    lock = paths.StageLock(tmp_path, "grpo_rl")
    lock.path.parent.mkdir(parents=True)
    holder = {"host": "node-17", "pid": 4242, "token": "t", "since": "then", "slurm_job": "99"}
    lock.path.write_text(json.dumps(holder))
    with pytest.raises(paths.StageBusy, match=r"pid 4242 on host node-17.*delete"):
        lock.acquire()
    assert json.loads(lock.path.read_text())["host"] == "node-17"  # left as it was
    monkeypatch.setenv("SLURM_JOB_ID", "99")  # the requeued attempt of that job, on another node
    with lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


# --------------------------------------------------------------------------- resume loads the weights strictly


def test_checkpoint_weights_load_under_the_saved_names_and_mismatches_fail(tmp_path, tiny_model_path):
    """Fault 1 at the unit level: the file save_pretrained writes (legacy Qwen2.5-VL names) loads into the model;
    a plain non-strict load_state_dict (what the Trainer did) loads nothing. A missing key fails loudly."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForImageTextToText

    from srpo import training

    trained = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    trained.save_pretrained(tmp_path / "ckpt")
    fresh = AutoModelForImageTextToText.from_pretrained(tiny_model_path)
    saved = load_file(tmp_path / "ckpt" / "model.safetensors")
    assert len(fresh.load_state_dict(saved, strict=False).missing_keys) > 0  # the Trainer's own path
    training.load_checkpoint_weights(fresh, tmp_path / "ckpt")
    for (name, a), b in zip(trained.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    saved.pop(next(k for k in saved if "layers.0" in k))
    save_file(saved, tmp_path / "ckpt" / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(training.CheckpointMismatch, match=r"ckpt: 1 model weights missing"):
        training.load_checkpoint_weights(fresh, tmp_path / "ckpt")


# --------------------------------------------------------------------------- bad inputs: a clear error or a quarantined row


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buf, "PNG")
    return buf.getvalue()


def _training_set(folder, rows: dict):
    from datasets import Dataset, Features, Image, Sequence, Value

    features = Features({k: Sequence(Image()) if k == "images" else Value("string") for k in rows})
    Dataset.from_dict(rows, features=features).save_to_disk(str(folder))
    return str(folder)


def test_training_sets_quarantine_corrupt_images_and_empty_gold_before_training(tmp_path):
    """A corrupt image used to crash SFT or GRPO at the step that met it (after hours on a cluster); an empty
    gold answer was trained on with a reward of 0. Now each such row is left out before the first step and
    listed with its reason."""
    from types import SimpleNamespace

    from srpo.grpo import load_prompts
    from srpo.sft import load_sft_dataset

    good, corrupt = {"bytes": _png(), "path": None}, {"bytes": b"\x89PNG\r\n\x1a\n not an image", "path": None}
    folder = _training_set(
        tmp_path / "sft_set",
        {
            "id": ["a", "b", "c"],
            "prompt": ["q"] * 3,
            "completion": ["x", "y", " "],
            "images": [[good], [corrupt], [good]],
        },
    )
    args = SimpleNamespace(dataset=folder, max_samples=-1)
    dataset, quarantined = load_sft_dataset(args, tmp_path, tmp_path / "sft")
    assert len(dataset) == 1 and quarantined == 2 and dataset[0]["completion"] == "x"
    rows = jsonl.read_jsonl(tmp_path / "sft" / "quarantine.jsonl")
    assert [(r["index"], r["reason"]) for r in rows] == [(1, "image_unreadable"), (2, "missing_completion")]

    folder = _training_set(
        tmp_path / "rl",
        {
            "id": ["p", "q"],
            "question": ["1+1?", "2+2?"],
            "answer": ["2", ""],
            "options": ["", ""],
            "answer_type": ["integer"] * 2,
            "precision": ["", ""],
            "images": [[good], [good]],
        },
    )
    args = SimpleNamespace(dataset=folder, max_prompts=-1, prompt="srpo_rl", prompt_placement="system")
    dataset, quarantined = load_prompts(args, tmp_path, tmp_path / "grpo")
    assert list(dataset["id"]) == ["p"] and quarantined == 1
    assert jsonl.read_jsonl(tmp_path / "grpo" / "quarantine.jsonl")[0]["reason"] == "missing_answer"


def test_an_empty_or_wholly_unusable_training_set_is_a_clear_error(tmp_path):
    from types import SimpleNamespace

    from srpo.sft import load_sft_dataset

    empty = _training_set(tmp_path / "empty", {"prompt": [], "completion": [], "images": []})
    with pytest.raises(ValueError, match=r"SFT dataset .*empty.* cannot be loaded as a dataset .*rebuild it"):
        load_sft_dataset(SimpleNamespace(dataset=empty, max_samples=-1), tmp_path, tmp_path / "sft")
    blank = _training_set(tmp_path / "blank", {"prompt": ["q"], "completion": [""], "images": [[]]})
    with pytest.raises(ValueError, match=r"none of its 1 rows is usable \(missing_completion"):
        load_sft_dataset(SimpleNamespace(dataset=blank, max_samples=-1), tmp_path, tmp_path / "sft")


def test_stage_02_refuses_an_empty_pool_naming_the_split(tmp_path):
    from datasets import Dataset

    from srpo.data import schema, split_dir
    from srpo.reflection.pipeline import load_pool

    empty = Dataset.from_dict({name: [] for name in schema.FEATURES}, features=schema.FEATURES)
    empty.save_to_disk(str(split_dir(tmp_path, "sft_pool")))
    with pytest.raises(ValueError, match="split 'sft_pool' of stage 01: .* cannot be loaded .*rebuild it"):
        load_pool(tmp_path, 0)


def test_a_benchmark_row_missing_a_field_or_its_gold_is_named(tmp_path):
    import dataclasses

    from srpo.bench.base import BenchmarkError
    from srpo.bench.registry import get_benchmark

    def bench(rows):
        return dataclasses.replace(get_benchmark("mathvista"), load_rows=lambda split, limit=None: rows)

    row = {
        "pid": "7",
        "question": "How many?",
        "question_type": "free_form",
        "answer_type": "integer",
        "answer": "3",
        "decoded_image": None,
    }
    assert bench([row]).records("testmini")[0]["answer"] == "3"
    records = bench([row, {k: v for k, v in row.items() if k != "pid"}, {**row, "answer": " "}]).records("testmini")
    assert [r["id"] for r in records] == ["7"]  # the split goes on
    (missing, empty) = records.quarantined
    assert missing["row"] == 1 and "column 'pid' is missing" in missing["reason"]
    assert empty["row"] == 2 and "id '7': the gold answer is empty" in empty["reason"]
    with pytest.raises(
        BenchmarkError, match=r"mathvista:testmini: no usable row; row 0: id '7': the gold answer is empty"
    ):
        bench([{**row, "answer": " "}]).records("testmini")


def test_a_failed_notebook_rerun_leaves_the_finished_report(tmp_path, monkeypatch):
    """A re-run of a finished stage whose notebook fails (a bad override) used to overwrite the stage's executed
    notebook with the failed one, which `--resume` then kept. The report is swapped in only on success."""
    import papermill as pm

    from srpo import runner

    monkeypatch.setattr(paths, "default_run_dir", lambda profile, name: tmp_path)
    monkeypatch.setattr(runner, "write_html", lambda executed: executed)
    report = tmp_path / "notebooks" / "01_data_curation.ipynb"
    report.parent.mkdir(parents=True)
    report.write_text('{"finished": true}')

    def failing(source, output, **kwargs):
        Path(output).write_text('{"failed": true}')
        raise RuntimeError("ConfigError: bad override")

    monkeypatch.setattr(pm, "execute_notebook", failing)
    with pytest.raises(RuntimeError, match="bad override"):
        runner.run_notebooks(stages="01")
    assert report.read_text() == '{"finished": true}'
    assert report.with_suffix(".failed.ipynb").read_text() == '{"failed": true}'

    monkeypatch.setattr(pm, "execute_notebook", lambda source, output, **kw: Path(output).write_text('{"new": 1}'))
    runner.run_notebooks(stages="01")
    assert report.read_text() == '{"new": 1}' and not report.with_suffix(".failed.ipynb").exists()


def test_the_fit_check_sizes_the_attempt_engine_for_its_max_model_len(tmp_path):
    """The first-attempt vLLM engine was sized for the model's 128K context, ignoring attempt_max_model_len, and
    told users on smaller GPUs to change attempt_tensor_parallel_size to a token count."""
    from srpo.cluster import fit
    from srpo.cluster.plan import plan_launch

    cfg = config.load("reflection_generation", "7b", tmp_path / "run")
    estimates, _ = fit.stage_estimates(cfg, "7b", plan_launch(cfg.launch, None, {}))
    (engine,) = [e for e in estimates if "first-attempt" in e.role]
    assert f"{cfg.args.attempt_max_model_len} tokens" in engine.role and "128000" not in engine.role
