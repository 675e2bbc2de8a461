"""The OpenAI-compatible backend against a real local HTTP server with injected faults."""

from __future__ import annotations

import logging

import pytest

from llm_distillation.generation.types import DecodingConfig, GenerationRequest
from llm_distillation.teacher.backends import create_backend
from llm_distillation.teacher.backends.openai_backend import (
    OpenAICompatibleBackend,
    _retry_after,
    apply_client_stops,
)

from .fake_openai_server import FakeOpenAIServer, Fault, canned_answer

GREEDY = DecodingConfig(max_new_tokens=64, seed=3)


def request(key: str, content: str, stop: tuple[str, ...] = ()) -> GenerationRequest:
    return GenerationRequest(
        key=key,
        messages=({"role": "user", "content": content},),
        prefix_messages=({"role": "system", "content": "Explain the answer."},),
        stop=stop,
    )


def prompt_of(content: str) -> str:
    return f"Explain the answer.\n\n{content}"


def backend(server: FakeOpenAIServer, **options: object) -> OpenAICompatibleBackend:
    settings: dict[str, object] = {
        "timeout_s": 2.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
    }
    settings.update(options)
    return OpenAICompatibleBackend(server.base_url, "teacher-model", **settings)  # type: ignore[arg-type]


def test_chat_success_maps_text_usage_and_finish_reason() -> None:
    with FakeOpenAIServer() as server:
        teacher = backend(server, api_key="sk-secret")
        [result] = teacher.generate([request("q1/positive_rationale/0", "Why?")], GREEDY)
        teacher.close()
    assert result.key == "q1/positive_rationale/0"
    assert result.text == canned_answer(prompt_of("Why?"))
    assert result.finish_reason == "stop"
    assert result.error is None
    assert result.prompt_tokens == len(prompt_of("Why?").split())
    assert result.generated_tokens == len(result.text.split())
    [body] = server.bodies
    assert body["messages"] == [
        {"role": "system", "content": "Explain the answer."},
        {"role": "user", "content": "Why?"},
    ]
    assert body["model"] == "teacher-model"
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.0 and body["top_p"] == 1.0 and body["seed"] == 3
    assert server.headers[0]["Authorization"] == "Bearer sk-secret"
    described = teacher.describe()
    assert described["base_url"] == server.base_url
    assert described["model"] == "teacher-model" and described["api"] == "chat"
    assert "sk-secret" not in repr(described)


def test_completions_api_sends_the_joined_prompt() -> None:
    with FakeOpenAIServer() as server:
        teacher = backend(server, api="completions")
        [result] = teacher.generate([request("a/critique/1", "Q: sky?")], GREEDY)
        teacher.close()
    assert server.bodies[0]["prompt"] == prompt_of("Q: sky?")
    assert result.text == canned_answer(prompt_of("Q: sky?"))


def test_sampling_settings_are_sent_when_sampling() -> None:
    with FakeOpenAIServer() as server:
        teacher = backend(server)
        decoding = DecodingConfig(max_new_tokens=10, do_sample=True, temperature=0.7, top_p=0.9)
        teacher.generate([request("k", "x")], decoding)
        teacher.close()
    body = server.bodies[0]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 10)


def test_length_finish_reason_and_missing_usage() -> None:
    faults = (Fault("NOUSAGE", "no_usage", times=None),)
    with FakeOpenAIServer(faults) as server:
        teacher = backend(server)
        short, no_usage = teacher.generate(
            [request("a", "long one"), request("b", "NOUSAGE")], DecodingConfig(max_new_tokens=2)
        )
        teacher.close()
    assert short.finish_reason == "length"
    assert short.text == " ".join(canned_answer(prompt_of("long one")).split()[:2])
    assert short.generated_tokens == 2
    assert (no_usage.prompt_tokens, no_usage.generated_tokens) == (-1, -1)
    assert no_usage.finish_reason == "length"


def test_only_four_stops_go_to_the_server_and_the_rest_apply_here() -> None:
    stops = ("@1", "@2", "@3", "@4", "END")
    with FakeOpenAIServer() as server:
        teacher = backend(server)
        [result] = teacher.generate([request("k", "stops", stop=stops)], GREEDY)
        teacher.close()
    assert server.bodies[0]["stop"] == ["@1", "@2", "@3", "@4"]
    assert result.text == canned_answer(prompt_of("stops")).split("END")[0]
    assert result.finish_reason == "stop"


def test_retry_after_headers() -> None:
    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert _retry_after({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}) == 0.0
    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({}) is None


def test_apply_client_stops_cuts_at_the_earliest_match() -> None:
    assert apply_client_stops("a b. c\nd", ["\n", "."]) == ("a b", True)
    assert apply_client_stops("abc", ["x", ""]) == ("abc", False)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("FLAKY", "status", times=2, status=429, retry_after="0.1"),
        Fault("FLAKY", "status", times=2, status=500),
        Fault("FLAKY", "status", times=1, status=503),
        Fault("FLAKY", "slow", times=1, delay_s=3.0),
        Fault("FLAKY", "drop", times=2),
    ],
    ids=["429-retry-after", "500", "503", "slow", "dropped"],
)
def test_transient_faults_are_retried_until_success(
    fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeOpenAIServer((fault,)) as server:
        teacher = backend(server, timeout_s=1.0 if fault.kind == "slow" else 5.0)
        with caplog.at_level(logging.WARNING):
            results = teacher.generate(
                [request("ok", "plain"), request("flaky", "FLAKY one")], GREEDY
            )
        teacher.close()
    ok, flaky = results
    assert ok.finish_reason == "stop" and ok.error is None
    assert flaky.finish_reason == "stop" and flaky.error is None
    assert flaky.text == canned_answer(prompt_of("FLAKY one"))
    assert server.attempts[prompt_of("FLAKY one")] == fault.times + 1
    assert server.attempts[prompt_of("plain")] == 1
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == fault.times
    if fault.retry_after:
        assert all("retrying in 0.10s" in m for m in retries)


def test_persistent_500_becomes_an_error_row_after_max_retries() -> None:
    faults = (Fault("BROKEN", "status", times=None, status=500),)
    with FakeOpenAIServer(faults) as server:
        teacher = backend(server, max_retries=2)
        results = teacher.generate(
            [request("a", "fine a"), request("b", "BROKEN"), request("c", "fine c")], GREEDY
        )
        teacher.close()
    a, b, c = results
    assert b.finish_reason == "error" and b.text == ""
    assert "HTTP 500" in (b.error or "") and "3 attempt" in (b.error or "")
    assert server.attempts[prompt_of("BROKEN")] == 3
    assert a.text == canned_answer(prompt_of("fine a")) and a.finish_reason == "stop"
    assert c.text == canned_answer(prompt_of("fine c")) and c.finish_reason == "stop"


def test_400_is_not_retried() -> None:
    faults = (Fault("BAD", "status", times=None, status=400),)
    with FakeOpenAIServer(faults) as server:
        teacher = backend(server)
        [result] = teacher.generate([request("bad", "BAD request")], GREEDY)
        teacher.close()
    assert result.finish_reason == "error"
    assert "HTTP 400" in (result.error or "") and "injected 400" in (result.error or "")
    assert server.attempts[prompt_of("BAD request")] == 1


def test_connection_refused_ends_as_error_row() -> None:
    with FakeOpenAIServer() as server:
        url = server.base_url
    teacher = OpenAICompatibleBackend(url, "m", max_retries=1, backoff_base_s=0.01)
    [result] = teacher.generate([request("k", "x")], GREEDY)
    teacher.close()
    assert result.finish_reason == "error"
    assert "connection error" in (result.error or "")


def test_concurrency_bound_and_order() -> None:
    with FakeOpenAIServer(delay_s=0.05, delay_by_hash=True) as server:
        teacher = backend(server, max_concurrency=3)
        requests = [request(f"ex{i}/positive_rationale/0", f"question {i}") for i in range(24)]
        results = teacher.generate(requests, GREEDY)
        teacher.close()
    assert 1 <= server.max_in_flight <= 3
    assert [r.key for r in results] == [r.key for r in requests]
    assert [r.text for r in results] == [
        canned_answer(prompt_of(f"question {i}")) for i in range(24)
    ]


def test_created_by_name() -> None:
    teacher = create_backend("openai_compatible", base_url="http://127.0.0.1:9/v1/", model="m")
    assert isinstance(teacher, OpenAICompatibleBackend)
    assert teacher.describe()["base_url"] == "http://127.0.0.1:9/v1"
    assert teacher.generate([], GREEDY) == []
    teacher.close()
