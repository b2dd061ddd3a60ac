"""Stage 02 end to end: judge and teacher through a loopback OpenAI-compatible server, and runs killed with
SIGKILL part-way that resume with exactly the expected ids, none lost and none duplicated."""

import json
import os
import signal
import subprocess
import sys
import time
import zlib

import pytest
from openai_fake_server import FakeOpenAIServer, Reply, user_text

from srpo import config, paths
from srpo.data.schema import to_dataset
from srpo.reflection import load_sft_set, pipeline
from srpo.tiny import sevenseg

SECRET = "sk-test-NEVER-WRITTEN-9876543210"
STAGE = "reflection_generation"


def prepare_pool(run_dir, n):
    problems = sevenseg.make_problems(n, seed=sevenseg.SPLIT_SEEDS["sft_pool"])
    to_dataset([p.record() for p in problems]).save_to_disk(str(run_dir / "data_curation" / "sft_pool"))
    paths.write_summary(run_dir, "data_curation", {"sft_pool": n})


def api_overrides(url, **extra):
    flags = {
        "attempt_source": "generator",
        "teacher": "openai",
        "teacher_base_url": url,
        "teacher_model": "teacher-m",
        "teacher_api_key_env": "SRPO_TEST_API_KEY",
        "judge_base_url": url,
        "judge_model": "judge-m",
        "judge_api_key_env": "SRPO_TEST_API_KEY",
        "api_backoff_s": 0.01,
        "api_backoff_max_s": 0.05,
        "api_max_tries": 3,
        "api_timeout_s": 5,
        "teacher_price_input_per_mtok": 1.1,
        "teacher_price_output_per_mtok": 4.4,
        **extra,
    }
    return " ".join(f"--{k} {v}" for k, v in flags.items())


def bucket(request, n):
    return zlib.crc32(user_text(request).encode()) % n


class Teacher:
    """Judge: drops a quarter of the attempts. Teacher: restates the gold for a fifth (rejected), else a real
    reflection. With ``errors``, a third of the samples first get a 500. ``delay_s`` slows every reply."""

    def __init__(self, delay_s=0.0, errors=True):
        self.delay_s, self.errors, self.seen = delay_s, errors, set()

    def __call__(self, request):
        text = user_text(request)
        first_try = text not in self.seen
        self.seen.add(text)
        if self.errors and first_try and bucket(request, 3) == 0:
            return Reply.error(500)
        if request["model"] == "judge-m":
            return Reply.json({"keep": bucket(request, 4) != 0, "reason": "scripted"}, delay_s=self.delay_s)
        gold = user_text(request).split("Ground truth: ")[1].split("\n")[0]
        if bucket(request, 5) == 0:
            return Reply.json({"reflection": f"The correct answer is {gold}."}, delay_s=self.delay_s)
        reply = {"reflection": f"I re-read both digits segment by segment and redid the calculation: {gold}."}
        if "revised_reasoning" in text:  # the two-pass layout asks for the second-round reasoning too
            reply["revised_reasoning"] = f"Reading each segment again, the result is {gold}."
        return Reply.json(reply, delay_s=self.delay_s)


def resolved_config(run_dir, overrides):
    cfg = config.load(STAGE, "tiny-cpu", run_dir, overrides)
    return cfg, config.save_resolved(cfg)


def test_stage_with_judge_and_teacher_over_http(run_dir, monkeypatch):
    monkeypatch.setenv("SRPO_TEST_API_KEY", SECRET)
    prepare_pool(run_dir, 40)  # enough candidates to refill the rejected samples
    with FakeOpenAIServer(Teacher()) as server:
        cfg, _ = resolved_config(run_dir, api_overrides(server.base_url, judge="true", target_size=20, layout="paper"))
        summary = pipeline.main(cfg)
    stage = run_dir / STAGE
    teacher_rows = [json.loads(line) for line in (stage / "teacher.jsonl").read_text().splitlines()]
    judge_rows = [json.loads(line) for line in (stage / "judge.jsonl").read_text().splitlines()]
    selection = json.loads((stage / "selection.json").read_text())
    selected, replaced = selection["ids"], selection["rejected_ids"]
    kept = {r["id"] for r in judge_rows if r["status"] == "accepted" and r["output"]["keep"]}
    assert len(judge_rows) == 80 and set(selected) <= kept and len(selected) == 20
    assert sorted(r["id"] for r in teacher_rows) == sorted(selected + replaced), "every pick has one result"
    accepted = {r["id"] for r in teacher_rows if r["status"] == "accepted"}
    rejected = [r for r in teacher_rows if r["status"] == "rejected"]
    assert rejected and all(r["reason"] == "restates_gold" for r in rejected)
    assert any("server_error" in r["failures"] for r in teacher_rows + judge_rows), "500s were retried"
    # the teacher's rejections were refilled from the same class: full size, 30% correct first attempts
    assert {r["id"] for r in rejected} == set(replaced) and accepted == set(selected)
    sft = load_sft_set(run_dir)
    assert set(sft["id"]) == accepted and summary["sft"]["rows"] == 20 and summary["sft"]["correct"] == 6
    assert summary["teacher"]["rejection_reasons"] == {"restates_gold": len(rejected)}
    assert summary["judge"]["kept"] + summary["judge"]["dropped"] + summary["judge"]["judge_failed"] == 80
    assert summary["teacher"]["prompt_tokens"] > 0 and summary["estimated_cost_usd"] > 0
    assert set(server.auth_headers) == {f"Bearer {SECRET}"}
    for path in run_dir.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), f"the API key leaked into {path}"


def start_stage(config_path, env_key=True):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SRPO_TEST_API_KEY": SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "srpo.reflection", "--config", str(config_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_when(proc, path, min_lines, timeout_s=120):
    """SIGKILL ``proc`` as soon as ``path`` holds ``min_lines`` lines; returns the lines it held then."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        lines = path.read_text().count("\n") if path.exists() else 0
        if lines >= min_lines:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return lines
        if proc.poll() is not None:
            pytest.fail(f"the stage ended before the kill (rc {proc.returncode}):\n{proc.stdout.read()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"{path} never reached {min_lines} lines")


def finish(proc):
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return out


def jsonl_ids(path):
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_killed_teacher_run_resumes_with_exact_ids(run_dir):
    prepare_pool(run_dir, 30)
    handler = Teacher(delay_s=0.3, errors=False)  # every request succeeds, so request counts are exact
    with FakeOpenAIServer(handler) as server:
        _, path = resolved_config(
            run_dir, api_overrides(server.base_url, target_size=20, api_concurrency=2, layout="two_pass")
        )
        teacher_file = run_dir / STAGE / "teacher.jsonl"
        at_kill = kill_when(start_stage(path), teacher_file, min_lines=4)
        assert 4 <= at_kill < 20 and not paths.is_done(run_dir, STAGE)
        requests_before = len(server.requests)
        handler.delay_s = 0.0
        output = finish(start_stage(path))
        requests_after = len(server.requests) - requests_before
    assert SECRET not in output and all(
        SECRET.encode() not in p.read_bytes() for p in run_dir.rglob("*") if p.is_file()
    )
    ids = jsonl_ids(teacher_file)
    selection = json.loads((run_dir / STAGE / "selection.json").read_text())
    picked = selection["ids"] + selection["rejected_ids"]
    assert len(ids) == len(set(ids)) == len(picked) and set(ids) == set(picked), "exactly the picked ids, once each"
    rows = [json.loads(line) for line in teacher_file.read_text().splitlines()]
    assert requests_after == sum(r["tries"] for r in rows[at_kill:]), "the resumed run asked only for the rest"
    summary = paths.read_summary(run_dir, STAGE)["teacher"]
    assert (
        summary["accepted"] == len(selection["ids"]) == 20
        and summary["rejected"] == len(selection["rejected_ids"]) > 0
    )


@pytest.mark.slow
def test_killed_attempt_generation_resumes_with_exact_ids(run_dir, tiny_model_path):
    prepare_pool(run_dir, 24)
    # tiny://random writes no usable attempt; the generator (mixed) fills the set so the stage can finish
    overrides = (
        "--policy_model tiny://random --attempt_source mixed --attempt_chunk_size 2 --attempt_batch_size 2 "
        "--attempt_max_new_tokens 16 --target_size 10"
    )
    _, path = resolved_config(run_dir, overrides)
    attempts_file = run_dir / STAGE / "attempts.jsonl"
    at_kill = kill_when(start_stage(path), attempts_file, min_lines=4)
    assert 4 <= at_kill < 24
    before = attempts_file.read_text().splitlines()[:at_kill]
    finish(start_stage(path))
    ids = jsonl_ids(attempts_file)
    problems = [p.id for p in sevenseg.make_problems(24, seed=sevenseg.SPLIT_SEEDS["sft_pool"])]
    policy_ids = [i for i in ids if i.endswith("#p0")]
    assert sorted(policy_ids) == sorted(f"{pid}#p0" for pid in problems), "exactly one policy attempt per problem"
    assert len(ids) == len(set(ids)) == 3 * 24, "plus one correct and one flawed generator attempt each"
    assert attempts_file.read_text().splitlines()[:at_kill] == before, "stored attempts are kept, not redone"
    assert paths.read_summary(run_dir, STAGE)["attempts"]["policy"]["attempts"] == 24


def test_released_sft_data_is_used_as_is(run_dir):
    """Stage 01 with use_released_data fills sft_pool with the authors' SFT set: stage 02 keeps their targets."""
    target = (
        "<think>Two bars: 3 and 4.</think><answer>\\boxed{8}</answer><reflection>I added wrong: 3 + 4 is 7."
        "</reflection><answer>\\boxed{7}</answer>"
    )
    records = []
    for i, problem in enumerate(sevenseg.make_problems(3, seed=1)):
        meta = {
            "released_target": target,
            "released_system": "You are a reasoning expert.",
            "released_first_answer": "8" if i else "7",
        }
        records.append(
            {
                **problem.record(),
                "source": "srpo_sft_released",
                "answer": "7",
                "answer_type": "integer",
                "options": [],
                "precision": None,
                "metadata": json.dumps(meta),
            }
        )
    to_dataset(records).save_to_disk(str(run_dir / "data_curation" / "sft_pool"))
    paths.write_summary(run_dir, "data_curation", {"sft_pool": 3})
    cfg, _ = resolved_config(run_dir, "")
    summary = pipeline.main(cfg)
    sft = load_sft_set(run_dir)
    assert summary["attempt_source"] == "released" and len(sft) == 3
    assert sft[0]["completion"][0]["content"][0]["text"] == target
    assert sft[0]["prompt"][0]["content"][0]["text"] == "You are a reasoning expert."
    assert sft["first_correct"] == [True, False, False]
