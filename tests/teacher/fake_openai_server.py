"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat/completions protocol, with canned
deterministic answers and faults injected by configuration (for the backend tests).

The answer to a prompt is ``"Rationale <hash>. END of the canned answer"``, ``<hash>`` being the
first 12 hex digits of the SHA-256 of the prompt (the chat messages' contents joined by a blank
line, or the completions ``prompt``). Tokens are whitespace-separated words: ``max_tokens``
truncates the answer (``finish_reason`` ``"length"``) and stop strings cut it as a real server
does. A prompt containing a fault's ``trigger`` gets that fault on its first ``times`` attempts
(every attempt when ``times`` is ``None``) and the canned answer afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """What the server does to a prompt containing ``trigger``.

    ``kind``: ``"status"`` replies with HTTP ``status`` (and ``Retry-After: retry_after`` when
    set); ``"slow"`` waits ``delay_s`` before answering normally; ``"drop"`` closes the socket
    without a reply; ``"no_usage"`` answers without a ``usage`` block.
    """

    trigger: str
    kind: Literal["status", "slow", "drop", "no_usage"]
    times: int | None = 1
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 0.0


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:12]


def canned_answer(prompt: str) -> str:
    return f"Rationale {prompt_hash(prompt)}. END of the canned answer"


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer(...) as server:``; ``server.base_url`` ends in
    ``/v1``. Counts attempts per prompt, the most requests in flight at once, and keeps the
    request bodies and headers it received."""

    def __init__(
        self, faults: tuple[Fault, ...] = (), *, delay_s: float = 0.0, delay_by_hash: bool = False
    ) -> None:
        self.faults = faults
        self.delay_s = delay_s
        self.delay_by_hash = delay_by_hash
        self.attempts: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FakeOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("fake server: " + format, *args)

            def do_POST(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    # ------------------------------------------------------------------ requests
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        if handler.path == "/v1/chat/completions":
            prompt = "\n\n".join(m["content"] for m in body.get("messages", []))
        elif handler.path == "/v1/completions":
            prompt = body.get("prompt", "")
        else:
            self._reply(handler, 404, {"error": {"message": f"no route {handler.path}"}})
            return
        with self._lock:
            self.bodies.append(body)
            self.headers.append(dict(handler.headers))
            self.attempts[prompt] += 1
            attempt = self.attempts[prompt]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler, body, prompt, attempt)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) before the reply
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(
        self, handler: BaseHTTPRequestHandler, body: dict[str, Any], prompt: str, attempt: int
    ) -> None:
        delay = self.delay_s
        if self.delay_by_hash:
            delay *= int(prompt_hash(prompt)[:2], 16) / 255
        omit_usage = False
        for fault in self.faults:
            if fault.trigger not in prompt or (fault.times is not None and attempt > fault.times):
                continue
            if fault.kind == "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                message = {"error": {"message": f"injected {fault.status}", "type": "fault"}}
                self._reply(handler, fault.status, message, headers)
                return
            if fault.kind == "drop":
                handler.close_connection = True
                return
            if fault.kind == "slow":
                delay = max(delay, fault.delay_s)
            if fault.kind == "no_usage":
                omit_usage = True
        if delay:
            time.sleep(delay)
        words = canned_answer(prompt).split(" ")
        finish = "stop"
        if len(words) > body.get("max_tokens", 10_000):
            words, finish = words[: body["max_tokens"]], "length"
        text = " ".join(words)
        for stop in body.get("stop") or []:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if handler.path.endswith("/chat/completions"):
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        reply: dict[str, Any] = {
            "id": f"cmpl-{prompt_hash(prompt)}",
            "model": body["model"],
            "choices": [choice],
        }
        if not omit_usage:
            reply["usage"] = {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": len(words),
                "total_tokens": len(prompt.split()) + len(words),
            }
        self._reply(handler, 200, reply)

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
