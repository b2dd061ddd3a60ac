"""The teacher client against a real OpenAI-compatible HTTP server on loopback (tests/openai_fake_server.py):
429s, 500s, slow responses beyond the timeout, malformed JSON, empty and gold-restating reflections.
Every sample must end accepted, or rejected with the reason of its last try, exactly once in the store."""

import re
import threading
from collections import Counter

import pytest
from openai_fake_server import FakeOpenAIServer, Reply, user_text

from srpo.reflection.client import ApiFatal, ApiSettings, ChatClient, run_requests, usage_summary
from srpo.reflection.store import JsonlStore
from srpo.reflection.teacher import validate_reply

SECRET = "sk-test-DO-NOT-LEAK-0123456789"
TIMEOUT_S, SLOW_S = 1.0, 2.5  # a slow reply takes well beyond the timeout; a normal one (ms) well within it
GOOD = {"reflection": "I misread the left digit: its lower segment is lit, so it is 8 and not 0. Then 8 + 5 = 13."}


def ok(**kw):
    return Reply.json(GOOD, **kw)


# key -> (reply for try n, expected status, expected reason, expected number of tries)
SCRIPTS = {
    "ok": (lambda n: ok(), "accepted", None, 1),
    "fenced": (lambda n: Reply.text("```json\n" + __import__("json").dumps(GOOD) + "\n```"), "accepted", None, 1),
    "r429": (lambda n: Reply.error(429, retry_after=0) if n <= 2 else ok(), "accepted", None, 3),
    "r500": (lambda n: Reply.error(500) if n == 1 else ok(), "accepted", None, 2),
    "slow_once": (lambda n: Reply.slow(SLOW_S, ok()) if n == 1 else ok(), "accepted", None, 2),
    "bad_json_once": (lambda n: Reply.text('{"reflection": "unterminated') if n == 1 else ok(), "accepted", None, 2),
    "html_body_once": (lambda n: Reply(body=b"<html>502 proxy</html>") if n == 1 else ok(), "accepted", None, 2),
    "empty_content_once": (lambda n: Reply.text("") if n == 1 else ok(), "accepted", None, 2),
    "slow_always": (lambda n: Reply.slow(SLOW_S, ok()), "rejected", "timeout", 3),
    "r429_always": (lambda n: Reply.error(429, retry_after=0), "rejected", "rate_limited", 3),
    "r500_always": (lambda n: Reply.error(503), "rejected", "server_error", 3),
    "bad_json": (lambda n: Reply.text("Here is my reflection: it was wrong."), "rejected", "invalid_json", 3),
    "schema": (lambda n: Reply.json({"answer": "13"}), "rejected", "schema", 3),
    "empty_reflection": (lambda n: Reply.json({"reflection": "   "}), "rejected", "empty_reflection", 3),
    "restates_gold": (
        lambda n: Reply.json({"reflection": "The correct answer is 13."}),
        "rejected",
        "restates_gold",
        3,
    ),
    "tags": (
        lambda n: Reply.json({"reflection": "<think>redo</think> I misread the left digit as 0."}),
        "rejected",
        "contains_tags",
        3,
    ),
    "bad_request": (lambda n: Reply.error(400), "rejected", "bad_request", 1),
    "truncated": (
        lambda n: Reply.text('{"reflection": "I misread', finish_reason="length"),
        "rejected",
        "truncated",
        3,
    ),
}


class ScriptedTeacher:
    """Answers each request by its sample key ("[key]" in the user text) and its try number."""

    def __init__(self, scripts):
        self.scripts, self.tries, self.lock = scripts, Counter(), threading.Lock()

    def __call__(self, request):
        key = re.search(r"\[(\w+)\]", user_text(request)).group(1)
        with self.lock:
            self.tries[key] += 1
            n = self.tries[key]
        return self.scripts[key][0](n)


def settings(server, **kw):
    base = dict(
        model="teacher-test",
        base_url=server.base_url,
        api_key_env="SRPO_TEST_API_KEY",
        concurrency=4,
        timeout_s=5.0,
        max_tries=3,
        backoff_s=0.01,
        backoff_max_s=0.05,
    )
    return ApiSettings(**{**base, **kw})


def messages(key):
    return [{"role": "user", "content": [{"type": "text", "text": f"[{key}] What is 8 + 5?"}]}]


def validator(key):
    return lambda text: validate_reply(text, gold="13", layout="paper")


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("SRPO_TEST_API_KEY", SECRET)


def test_every_sample_ends_accepted_or_rejected_with_its_reason(tmp_path):
    handler = ScriptedTeacher(SCRIPTS)
    store = JsonlStore(tmp_path / "teacher.jsonl")
    with FakeOpenAIServer(handler) as server:
        client = ChatClient(settings(server, timeout_s=TIMEOUT_S))
        run_requests(client, list(SCRIPTS), messages, validator, store, label="test")
    lines = (tmp_path / "teacher.jsonl").read_text().splitlines()
    assert len(lines) == len(SCRIPTS) and len(store) == len(SCRIPTS), "each sample stored exactly once"
    for key, (_, status, reason, tries) in SCRIPTS.items():
        row = store.get(key)
        assert (row["status"], row["reason"], row["tries"]) == (status, reason, tries), key
        assert handler.tries[key] == tries, f"{key}: the server saw {handler.tries[key]} requests"
    assert store.get("ok")["output"] == GOOD
    assert store.get("r429")["failures"] == ["rate_limited", "rate_limited"]
    assert store.get("slow_once")["failures"] == ["timeout"]
    assert store.get("html_body_once")["failures"] == ["malformed_response"]
    assert store.get("empty_content_once")["failures"] == ["empty_response"]
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers), "the key from the env var is sent"
    summary = usage_summary(store.rows(), client.settings)
    assert summary["accepted"] + summary["rejected"] == len(SCRIPTS)
    assert summary["rejection_reasons"] == Counter(r for _, s, r, _ in SCRIPTS.values() if s == "rejected")
    assert SECRET not in (tmp_path / "teacher.jsonl").read_text()


def test_concurrency_is_bounded_and_used(tmp_path):
    with FakeOpenAIServer(lambda request: ok(delay_s=0.15)) as server:
        run_requests(
            ChatClient(settings(server, concurrency=3)),
            [f"s{i}" for i in range(12)],
            messages,
            validator,
            JsonlStore(tmp_path / "t.jsonl"),
        )
    assert server.max_in_flight == 3, f"at most 3 requests in flight, and all 3 used; saw {server.max_in_flight}"


def test_usage_and_cost_are_counted_over_retries(tmp_path):
    scripts = {
        "a": (
            lambda n: (
                Reply.text("no json", prompt_tokens=1000, completion_tokens=100)
                if n == 1
                else ok(prompt_tokens=1000, completion_tokens=100)
            ),
            "accepted",
            None,
            2,
        )
    }
    store = JsonlStore(tmp_path / "t.jsonl")
    with FakeOpenAIServer(ScriptedTeacher(scripts)) as server:
        s = settings(server, price_input_per_mtok=1.0, price_output_per_mtok=4.0)
        run_requests(ChatClient(s), ["a"], messages, validator, store)
    summary = usage_summary(store.rows(), s)
    assert (summary["prompt_tokens"], summary["completion_tokens"], summary["requests"]) == (2000, 200, 2)
    assert summary["estimated_cost_usd"] == pytest.approx(2000 / 1e6 * 1.0 + 200 / 1e6 * 4.0)


def test_a_refused_key_stops_the_run_naming_the_variable_not_the_key(tmp_path):
    store = JsonlStore(tmp_path / "t.jsonl")
    with (
        FakeOpenAIServer(lambda request: Reply.error(401)) as server,
        pytest.raises(ApiFatal, match="SRPO_TEST") as err,
    ):
        run_requests(ChatClient(settings(server)), ["a", "b"], messages, validator, store)
    assert SECRET not in str(err.value) and len(store) == 0


def test_a_missing_key_variable_fails_before_any_request(monkeypatch, tmp_path):
    monkeypatch.delenv("SRPO_TEST_API_KEY")
    with FakeOpenAIServer(lambda request: ok()) as server:
        with pytest.raises(ApiFatal, match="SRPO_TEST_API_KEY.*not set"):
            ChatClient(settings(server))
        assert server.requests == []


def test_results_already_stored_are_not_requested_again(tmp_path):
    store = JsonlStore(tmp_path / "t.jsonl")
    with FakeOpenAIServer(lambda request: ok()) as server:
        client = ChatClient(settings(server))
        run_requests(client, ["a", "b"], messages, validator, store)
        run_requests(client, ["a", "b", "c"], messages, validator, JsonlStore(tmp_path / "t.jsonl"))
        assert len(server.requests) == 3
    assert sorted(r["id"] for r in JsonlStore(tmp_path / "t.jsonl").rows()) == ["a", "b", "c"]
