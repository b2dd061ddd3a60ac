"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol, serving scripted replies.

Tests start it, point the ``openai`` client at ``server.base_url`` and script what each request gets:
a reply, an HTTP error (429 with ``Retry-After``, 500, 400, 401), a slow reply (beyond the client's
timeout), or a body that is not JSON at all. It records every request body and Authorization header and
the largest number of requests it was serving at once (to check bounded concurrency).

    with FakeOpenAIServer(lambda request: Reply.content('{"reflection": "..."}')) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    content: str | None = None  # the assistant message text
    body: bytes | None = None  # a raw body instead of a chat completion (malformed HTTP payloads)
    delay_s: float = 0.0
    headers: dict = field(default_factory=dict)
    prompt_tokens: int = 100
    completion_tokens: int = 20
    finish_reason: str = "stop"  # "length" when max_tokens cut the reply

    @classmethod
    def text(cls, content: str, **kw) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def json(cls, obj, **kw) -> Reply:
        return cls(content=json.dumps(obj), **kw)

    @classmethod
    def error(cls, status: int, retry_after: float | None = None, **kw) -> Reply:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return cls(status=status, headers=headers, **kw)

    @classmethod
    def slow(cls, seconds: float, then: Reply) -> Reply:
        return cls(**{**then.__dict__, "delay_s": seconds})


class FakeOpenAIServer:
    """``handler(request_body) -> Reply`` is called once per request, from the server's threads."""

    def __init__(self, handler: Callable[[dict], Reply]):
        self.handler = handler
        self.requests: list[dict] = []
        self.auth_headers: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _enter(self, body: dict, auth: str) -> None:
        with self._lock:
            self.requests.append(body)
            self.auth_headers.append(auth)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _make_handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server._enter(body, self.headers.get("Authorization", ""))
                try:
                    reply = server.handler(body)
                    time.sleep(reply.delay_s)
                    self._send(reply, body.get("model", "fake"))
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and hung up
                    pass
                finally:
                    server._leave()

            def _send(self, reply: Reply, model: str):
                if reply.body is not None:
                    payload = reply.body
                elif reply.status != 200:
                    payload = json.dumps(
                        {"error": {"message": f"scripted {reply.status}", "type": "fake", "code": reply.status}}
                    ).encode()
                else:
                    payload = json.dumps(completion(reply, model)).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def completion(reply: Reply, model: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def user_text(request: dict) -> str:
    """All text of the user messages of a chat request (to find the sample a test scripted)."""
    parts = []
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(c.get("text", "") for c in content or [] if c.get("type") == "text")
    return "\n".join(parts)
