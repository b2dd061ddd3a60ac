"""An OpenAI-compatible chat client for the teacher and the judge, built for thousands of requests.

It talks to any server that speaks the chat-completions protocol through the ``openai`` package:
OpenAI itself (o4-mini, the paper's teacher), DeepSeek (the paper's judge) or a vLLM server
(``vllm serve Qwen/Qwen2.5-VL-72B-Instruct``). What it adds around the plain client:

* bounded concurrency: at most ``concurrency`` requests in flight (a thread pool; the HTTP client is
  thread-safe), and only a small window of requests is even built, so 100K images are never in memory;
* a per-request timeout, and retries with exponential backoff and jitter on 429 (honouring
  ``Retry-After``), 5xx, timeouts, dropped connections and output that fails validation; a sample that
  still fails after ``max_tries`` ends *rejected* with the reason of its last try, never silently lost;
* results appended to a ``JsonlStore`` as they arrive, so a killed run resumes where it stopped;
* token accounting, summed from the store (so it survives resumes) and priced in USD as an estimate.

API keys come only from the environment variable the recipe names; the key is handed to the client and
appears in no message, log line or file.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from srpo import progress


class ApiFatal(RuntimeError):
    """An error that every further request would repeat (bad key, unknown model): stop the run."""


@dataclass
class ApiSettings:
    model: str
    base_url: str
    api_key_env: str
    concurrency: int = 16
    timeout_s: float = 120.0
    max_tries: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    max_tokens: int = 4096
    temperature: float | None = None
    json_mode: bool = True
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0


def read_api_key(env_name: str) -> str:
    """The key in ``$env_name``; ``''`` as a name means the server needs none (a local vLLM server)."""
    if not env_name:
        return "EMPTY"
    key = os.environ.get(env_name, "")
    if not key:
        raise ApiFatal(
            f"the environment variable {env_name} (named in the recipe) is not set; export it with "
            f"your API key, or set the recipe's *_api_key_env to '' for a server without keys"
        )
    return key


class ChatClient:
    """One chat-completions endpoint. ``complete`` makes exactly one HTTP request (no hidden retries)."""

    def __init__(self, settings: ApiSettings):
        import openai

        self.settings = settings
        self._client = openai.OpenAI(
            api_key=read_api_key(settings.api_key_env),
            base_url=settings.base_url,
            timeout=settings.timeout_s,
            max_retries=0,
        )

    def complete(self, messages: list) -> tuple[str, dict, str | None]:
        """Reply text, token usage and finish reason; raises the ``openai`` error of a failed request."""
        s = self.settings
        extra = {} if s.temperature is None else {"temperature": s.temperature}
        if s.json_mode:
            extra["response_format"] = {"type": "json_object"}
        reply = self._client.chat.completions.create(
            model=s.model, messages=messages, max_completion_tokens=s.max_tokens, **extra
        )
        usage = reply.usage
        tokens = {
            "prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
            "completion_tokens": getattr(usage, "completion_tokens", 0) or 0,
        }
        choices = reply.choices or []
        text = (choices[0].message.content or "") if choices else ""
        return text, tokens, choices[0].finish_reason if choices else None


def classify_error(exc: BaseException, api_key_env: str) -> tuple[str, float | None]:
    """(reason, server-requested delay) for a failed request; raises ``ApiFatal`` for errors that repeat."""
    import openai

    if isinstance(exc, json.JSONDecodeError):  # a 200 whose body is not JSON (a proxy's HTML page, a cut body)
        return "malformed_response", None
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", None
    if isinstance(exc, openai.APIConnectionError):
        return "connection_error", None
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        raise ApiFatal(f"the server refused the key in ${api_key_env} ({exc.status_code}); check that variable")
    if isinstance(exc, openai.NotFoundError):
        raise ApiFatal(f"the server does not know this model or path (404): {exc.message}")
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited", _retry_after(exc)
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return "server_error", _retry_after(exc)
        if exc.status_code in (408, 409):  # request timeout, conflict: worth another try (as openai's own retries)
            return "timeout" if exc.status_code == 408 else "conflict", _retry_after(exc)
        return "bad_request", None  # the request itself is wrong (e.g. too long): another try would repeat it
    if isinstance(exc, openai.APIError):  # e.g. a 200 whose body is not a chat completion
        return "api_error", None
    raise exc


def _retry_after(exc) -> float | None:
    try:
        return float(exc.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None


def backoff_delay(tries: int, settings: ApiSettings, hint: float | None, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [0.5, 1] x base * 2^(tries-1), capped; a server hint wins."""
    if hint is not None:
        return min(max(hint, 0.0), settings.backoff_max_s)
    return min(settings.backoff_s * 2 ** (tries - 1), settings.backoff_max_s) * rng.uniform(0.5, 1.0)


# A validator turns reply text into (output, None) or (None, rejection reason).
Validator = Callable[[str], tuple[dict | None, str | None]]


def request_one(client: ChatClient, key: str, messages: list, validate: Validator) -> dict:
    """Try one sample until it validates or ``max_tries`` is used up; returns its result row."""
    s = client.settings
    rng = random.Random(key)
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    failures: list[str] = []
    start = time.time()
    for tries in range(1, s.max_tries + 1):
        hint = None
        try:
            text, tokens, finish = client.complete(messages)
        except Exception as exc:  # noqa: BLE001 - classify_error re-raises what it does not know
            reason, hint = classify_error(exc, s.api_key_env)
        else:
            usage = {k: usage[k] + tokens[k] for k in usage}
            output, reason = validate(text) if text.strip() else (None, "empty_response")
            if reason is None:
                return _row(key, "accepted", None, output, tries, failures, usage, start)
            if finish == "length":  # cut off by max_tokens (o-series models spend them on hidden reasoning)
                reason = "truncated"
        failures.append(reason)
        if reason == "bad_request" or tries == s.max_tries:
            break
        time.sleep(backoff_delay(tries, s, hint, rng))
    return _row(key, "rejected", failures[-1], None, len(failures), failures, usage, start)


def _row(key, status, reason, output, tries, failures, usage, start) -> dict:
    return {
        "id": key,
        "status": status,
        "reason": reason,
        "output": output,
        "tries": tries,
        "failures": failures,
        "usage": usage,
        "seconds": round(time.time() - start, 3),
    }


def run_requests(
    client: ChatClient,
    keys: Iterable[str],
    build_messages: Callable[[str], list],
    validate_for: Callable[[str], Validator],
    store,
    *,
    label: str = "requests",
    log_every: int = 100,
) -> None:
    """Send every key not yet in ``store`` with at most ``concurrency`` in flight, appending results."""
    todo = [k for k in keys if k not in store]
    if not todo:
        return
    window = client.settings.concurrency
    pending: dict = {}
    done = 0
    lines = progress.Lines(label, len(todo), every=log_every)
    with ThreadPoolExecutor(max_workers=window, thread_name_prefix=label) as pool:
        it = iter(todo)
        try:
            while True:
                while len(pending) < window and (key := next(it, None)) is not None:
                    fut = pool.submit(request_one, client, key, build_messages(key), validate_for(key))
                    pending[fut] = key
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    pending.pop(fut)
                    store.append(fut.result())  # ApiFatal propagates from here and stops the run
                    done += 1
                    lines.update(done)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def usage_summary(rows: list[dict], settings: ApiSettings) -> dict:
    """Tokens, estimated USD, outcomes and retry reasons over result rows."""
    prompt = sum(r["usage"]["prompt_tokens"] for r in rows)
    completion = sum(r["usage"]["completion_tokens"] for r in rows)
    cost = prompt / 1e6 * settings.price_input_per_mtok + completion / 1e6 * settings.price_output_per_mtok
    return {
        "model": settings.model,
        "requests": sum(len(r["failures"]) + (r["status"] == "accepted") for r in rows),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "estimated_cost_usd": round(cost, 4),
        "accepted": sum(r["status"] == "accepted" for r in rows),
        "rejected": sum(r["status"] == "rejected" for r in rows),
        "rejection_reasons": dict(Counter(r["reason"] for r in rows if r["status"] == "rejected")),
        "failed_tries_by_reason": dict(Counter(f for r in rows for f in r["failures"])),
    }
