"""A teacher behind any OpenAI-style HTTP endpoint: a vLLM or SGLang server, or a hosted API.

Requests go out on a pool of ``max_concurrency`` threads sharing one ``httpx.Client``, so at
most that many are in flight at once. Each attempt has a timeout of ``timeout_s``. Rate limits
(429), request timeouts (408), server errors (5xx), connection failures (refused, reset, closed
without a reply) and client-side timeouts are retried up to ``max_retries`` times, waiting the
server's ``Retry-After`` (or ``retry-after-ms``) when it sends one, else an exponential backoff
with full jitter (``uniform(0, min(backoff_max_s, backoff_base_s * 2**attempt))``). Any other
4xx is not retried. A request that fails for good becomes a result with ``finish_reason``
``"error"``, empty text and the reason in ``error``; the other requests of the batch are not
affected, and nothing is ever replaced by a default text.

Mapping of the shared settings:

- ``api="chat"`` posts ``{base_url}/chat/completions`` with ``prefix_messages + messages``;
  ``api="completions"`` posts ``{base_url}/completions`` with the contents of those messages
  joined by a blank line (no chat template is applied: use it for base models).
- ``DecodingConfig``: ``max_new_tokens`` → ``max_tokens``; greedy (``do_sample=False``) sends
  ``temperature=0`` and ``top_p=1``; ``seed`` is always sent.
- ``stop``: the API takes at most 4 stop strings; the first 4 are sent and any further ones are
  applied here by cutting the text at the earliest match (``finish_reason`` becomes ``"stop"``).
  ``generated_tokens`` is the server's count, i.e. before such a client-side cut.
- ``usage.prompt_tokens`` / ``usage.completion_tokens`` give the token counts; a server that
  sends no usage gives ``-1`` (unknown) for both.
- ``finish_reason``: the server's value as sent (``"stop"``, ``"length"``, or e.g.
  ``"content_filter"``); a missing one is recorded as ``"stop"``.

``base_url`` includes the API version prefix, as with the OpenAI SDK (``http://host:8000/v1``).
The API key comes from the ``api_key`` argument (the pipeline passes it from the Kedro
credentials) or else the ``OPENAI_API_KEY`` environment variable; without one no
``Authorization`` header is sent (local servers). The key is never logged nor described.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from llm_distillation.generation.types import (
    DecodingConfig,
    GenerationRequest,
    GenerationResult,
)

logger = logging.getLogger(__name__)

MAX_API_STOP = 4
"""The most stop strings the OpenAI API accepts in one request."""

RETRY_STATUS = frozenset({408, 429})
"""Retried 4xx statuses (besides every 5xx)."""


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: why, whether to retry, and the server's requested wait."""

    message: str
    retryable: bool
    retry_after_s: float | None = None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait the server asks for, from ``retry-after-ms`` or ``Retry-After`` (seconds or an
    HTTP date), or ``None``."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def apply_client_stops(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest occurrence of any of ``stops`` (the stop string itself is
    dropped, as the API does). Returns the text and whether it was cut."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    if cut < 0:
        return text, False
    return text[:cut], True


def join_contents(messages: Sequence[Mapping[str, str]]) -> str:
    """The plain prompt of the completions API: the message contents, one blank line apart."""
    return "\n\n".join(m["content"] for m in messages)


class OpenAICompatibleBackend:
    """Teacher backend for OpenAI-compatible ``/chat/completions`` or ``/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api: Literal["chat", "completions"] = "chat",
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        name: str = "openai_compatible",
    ) -> None:
        import httpx

        if api not in ("chat", "completions"):
            raise ValueError(f"api must be 'chat' or 'completions', got {api!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api = api
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        key = api_key or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
        )
        self._rng = random.Random()
        self._rng_lock = threading.Lock()

    # ------------------------------------------------------------------ interface
    def generate(
        self, requests: Sequence[GenerationRequest], decoding: DecodingConfig
    ) -> list[GenerationResult]:
        """Complete ``requests`` with at most ``max_concurrency`` in flight; results in order."""
        if not requests:
            return []
        workers = min(self.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai") as pool:
            results = list(pool.map(lambda r: self._complete(r, decoding), requests))
        errors = sum(r.finish_reason == "error" for r in results)
        logger.info(
            "%s: %d requests to %s (%s), %d errors",
            self.name,
            len(results),
            self.model,
            self.api,
            errors,
        )
        return results

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "base_url": self.base_url,
            "model": self.model,
            "api": self.api,
            "max_concurrency": self.max_concurrency,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "backoff_base_s": self.backoff_base_s,
            "backoff_max_s": self.backoff_max_s,
        }

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ one request
    def build_body(self, request: GenerationRequest, decoding: DecodingConfig) -> dict[str, Any]:
        """The JSON body of ``request`` (the first :data:`MAX_API_STOP` stop strings only)."""
        messages = [*request.prefix_messages, *request.messages]
        body: dict[str, Any] = {"model": self.model}
        if self.api == "chat":
            body["messages"] = [{"role": m["role"], "content": m["content"]} for m in messages]
        else:
            body["prompt"] = join_contents(messages)
        body["max_tokens"] = decoding.max_new_tokens
        body["temperature"] = decoding.temperature if decoding.do_sample else 0.0
        body["top_p"] = decoding.top_p if decoding.do_sample else 1.0
        body["seed"] = decoding.seed
        body["n"] = 1
        if request.stop:
            body["stop"] = list(request.stop[:MAX_API_STOP])
        return body

    def _url(self) -> str:
        return f"{self.base_url}/{'chat/completions' if self.api == 'chat' else 'completions'}"

    def _delay(self, attempt: int, failure: _Failure) -> float:
        if failure.retry_after_s is not None:
            return failure.retry_after_s
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
        with self._rng_lock:
            return self._rng.uniform(0.0, ceiling)

    def _complete(self, request: GenerationRequest, decoding: DecodingConfig) -> GenerationResult:
        body = self.build_body(request, decoding)
        url = self._url()
        failure: _Failure | None = None
        for attempt in range(self.max_retries + 1):
            if failure is not None:
                delay = self._delay(attempt - 1, failure)
                logger.warning(
                    "%s: %s attempt %d failed (%s); retrying in %.2fs",
                    self.name,
                    request.key,
                    attempt,
                    failure.message,
                    delay,
                )
                time.sleep(delay)
            outcome = self._attempt(url, body)
            if isinstance(outcome, dict):
                return self._to_result(request, outcome)
            failure = outcome
            if not failure.retryable:
                break
        assert failure is not None
        tries = attempt + 1
        logger.error(
            "%s: %s failed after %d attempt(s): %s", self.name, request.key, tries, failure.message
        )
        return GenerationResult(
            key=request.key,
            text="",
            prompt_tokens=-1,
            generated_tokens=-1,
            finish_reason="error",
            error=f"{failure.message} (after {tries} attempt(s))",
        )

    def _attempt(self, url: str, body: dict[str, Any]) -> dict[str, Any] | _Failure:
        """One HTTP call: the parsed JSON reply, or why it failed."""
        import httpx

        try:
            response = self._client.post(url, json=body)
        except httpx.TimeoutException as err:
            return _Failure(f"timeout after {self.timeout_s}s ({type(err).__name__})", True)
        except httpx.TransportError as err:
            return _Failure(f"connection error ({type(err).__name__}: {err})", True)
        status = response.status_code
        if status >= 400:
            detail = response.text[:300].strip()
            retryable = status in RETRY_STATUS or status >= 500
            return _Failure(
                f"HTTP {status}: {detail}",
                retryable,
                _retry_after(response.headers) if retryable else None,
            )
        try:
            data = response.json()
        except ValueError:
            return _Failure(
                f"HTTP {status} with a body that is not JSON: {response.text[:200]!r}", False
            )
        if not isinstance(data, dict) or not data.get("choices"):
            return _Failure(f"HTTP {status} without choices: {str(data)[:200]}", False)
        return data

    def _to_result(self, request: GenerationRequest, data: dict[str, Any]) -> GenerationResult:
        choice = data["choices"][0]
        if self.api == "chat":
            text = (choice.get("message") or {}).get("content") or ""
        else:
            text = choice.get("text") or ""
        finish = choice.get("finish_reason") or "stop"
        extra_stops = request.stop[MAX_API_STOP:]
        if extra_stops:
            text, cut = apply_client_stops(text, extra_stops)
            if cut:
                finish = "stop"
        usage = data.get("usage") or {}
        return GenerationResult(
            key=request.key,
            text=text,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            generated_tokens=_count(usage.get("completion_tokens")),
            finish_reason=finish,
        )


def _count(value: Any) -> int:
    """A token count from the usage block, ``-1`` when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int):
        return -1
    return value
