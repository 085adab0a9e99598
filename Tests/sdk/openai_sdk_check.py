#!/usr/bin/env python3
"""Compatibility check of a running Switchyard node against the official `openai` Python SDK.

Run by the Swift integration tests while a node is up, with a route alias that routes to the
mock provider (`switchyard mock-provider`, see docs/design/contracts.md).

Environment:
  SWITCHYARD_BASE_URL  data-plane base URL including /v1, e.g. http://127.0.0.1:7701/v1
  SWITCHYARD_KEY       tenant API key (sk-sy-...)
  SWITCHYARD_MODEL     route alias that routes to the mock provider

Output: one line per check ("ok <name>" / "FAIL <name>: reason"), then "N passed, M failed".
Exit status: 0 when all checks pass, 1 when any fails, 2 on bad usage (missing environment).
Optional arguments: names of checks to run (default: all).
"""

import json
import sys

import openai
from openai import OpenAI

from checklib import API_KEY, BASE_URL, MODEL, PROMPT_MODEL, CheckFailed, check, expect, expect_eq, main

TIMEOUT = 20
MAX_RETRIES = 0

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
            },
            "required": ["city", "days"],
        },
    },
}
EXPECTED_TOOL_ARGS = {"city": "mock", "days": 1}




def mock_reply(prompt):
    return f"mock reply to: {prompt}"


def make_client(api_key=None):
    return OpenAI(
        base_url=BASE_URL,
        api_key=API_KEY if api_key is None else api_key,
        max_retries=MAX_RETRIES,
        timeout=TIMEOUT,
    )


def user(text):
    return [{"role": "user", "content": text}]




# 1. Non-streaming chat + Switchyard response headers.


@check("chat_basic")
def chat_basic():
    client = make_client()
    prompt = "hello switchyard"
    resp = client.chat.completions.create(model=MODEL, messages=user(prompt))
    expect(len(resp.choices) >= 1, "no choices in response")
    choice = resp.choices[0]
    expect_eq(choice.message.content, mock_reply(prompt), "choices[0].message.content")
    expect_eq(choice.finish_reason, "stop", "finish_reason")
    expect(resp.usage is not None, "usage missing")
    expect(resp.usage.prompt_tokens > 0, f"usage.prompt_tokens not > 0: {resp.usage.prompt_tokens!r}")
    expect(
        resp.usage.completion_tokens > 0,
        f"usage.completion_tokens not > 0: {resp.usage.completion_tokens!r}",
    )


@check("chat_headers")
def chat_headers():
    client = make_client()
    prompt = "hello switchyard"
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=user(prompt))
    headers = raw.headers
    expect_eq(headers.get("x-switchyard-route"), MODEL, "header x-switchyard-route")
    expect_eq(headers.get("x-switchyard-attempts"), "1", "header x-switchyard-attempts")
    trace_id = headers.get("x-switchyard-trace-id")
    expect(bool(trace_id and trace_id.strip()), f"header x-switchyard-trace-id empty or missing: {trace_id!r}")
    completion = raw.parse()
    expect_eq(completion.choices[0].message.content, mock_reply(prompt), "parsed content")


# 2. Streaming chat with include_usage.


@check("stream_include_usage")
def stream_include_usage():
    client = make_client()
    prompt = "stream this reply please"
    chunks = []
    with client.chat.completions.create(
        model=MODEL,
        messages=user(prompt),
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        for chunk in stream:
            chunks.append(chunk)
    expect(len(chunks) > 0, "no chunks received")
    text = ""
    content_chunks = 0
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                text += choice.delta.content
                content_chunks += 1
    expect_eq(text, mock_reply(prompt), "concatenated delta content")
    expect(content_chunks > 1, f"expected more than one content chunk, got {content_chunks}")
    last = chunks[-1]
    expect(last.usage is not None, "last chunk has no usage")
    expect(
        last.usage.completion_tokens > 0,
        f"last chunk usage.completion_tokens not > 0: {last.usage.completion_tokens!r}",
    )
    expect_eq(list(last.choices), [], "last chunk choices")


# 3. Streaming chat without include_usage: no usage anywhere.


@check("stream_no_usage")
def stream_no_usage():
    client = make_client()
    prompt = "no usage in this stream"
    chunks = []
    with client.chat.completions.create(model=MODEL, messages=user(prompt), stream=True) as stream:
        for chunk in stream:
            chunks.append(chunk)
    expect(len(chunks) > 0, "no chunks received")
    with_usage = [i for i, c in enumerate(chunks) if c.usage is not None]
    expect(not with_usage, f"chunks at indexes {with_usage} carry usage")
    text = "".join(
        c.delta.content
        for chunk in chunks
        for c in chunk.choices
        if c.delta is not None and c.delta.content
    )
    expect_eq(text, mock_reply(prompt), "concatenated delta content")


# 4. Tool calling (non-streaming) + follow-up with the tool result.


@check("tool_call")
def tool_call():
    client = make_client()
    messages = user("what is the weather in mock city?")
    resp = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    expect(len(resp.choices) >= 1, "no choices in response")
    choice = resp.choices[0]
    expect_eq(choice.finish_reason, "tool_calls", "finish_reason")
    tool_calls = choice.message.tool_calls
    expect(bool(tool_calls), f"message.tool_calls empty: {tool_calls!r}")
    call = tool_calls[0]
    expect_eq(call.function.name, "get_weather", "tool_calls[0].function.name")
    try:
        args = json.loads(call.function.arguments)
    except (TypeError, ValueError) as e:
        raise CheckFailed(f"tool arguments are not JSON: {call.function.arguments!r} ({e})")
    expect_eq(args, EXPECTED_TOOL_ARGS, "tool_calls[0].function.arguments")
    expect(bool(call.id), f"tool call id empty: {call.id!r}")

    follow_up = messages + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    resp2 = client.chat.completions.create(model=MODEL, messages=follow_up, tools=[WEATHER_TOOL])
    expect(len(resp2.choices) >= 1, "follow-up: no choices in response")
    content = resp2.choices[0].message.content
    expect(
        isinstance(content, str) and content != "",
        f"follow-up: expected non-empty text content, got {content!r}",
    )
    expect(
        not resp2.choices[0].message.tool_calls,
        f"follow-up: unexpected tool_calls {resp2.choices[0].message.tool_calls!r}",
    )


# 5. Tool calling with streaming.


@check("tool_call_stream")
def tool_call_stream():
    client = make_client()
    calls = {}  # index -> {"id", "name", "arguments"}
    finish_reasons = []
    with client.chat.completions.create(
        model=MODEL,
        messages=user("what is the weather in mock city?"),
        tools=[WEATHER_TOOL],
        stream=True,
    ) as stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.finish_reason:
                    finish_reasons.append(choice.finish_reason)
                delta = choice.delta
                if delta is None or not delta.tool_calls:
                    continue
                for tc in delta.tool_calls:
                    entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    if tc.id:
                        entry["id"] = tc.id
                    if tc.function is not None:
                        if tc.function.name:
                            entry["name"] += tc.function.name
                        if tc.function.arguments:
                            entry["arguments"] += tc.function.arguments
    expect(bool(calls), "no tool_call deltas received")
    first = calls[min(calls)]
    expect_eq(first["name"], "get_weather", "streamed function name")
    try:
        args = json.loads(first["arguments"])
    except ValueError as e:
        raise CheckFailed(f"streamed arguments are not JSON: {first['arguments']!r} ({e})")
    expect_eq(args, EXPECTED_TOOL_ARGS, "streamed function arguments")
    expect("tool_calls" in finish_reasons, f"finish_reason tool_calls not seen: {finish_reasons!r}")


# 6. Errors.


@check("error_bad_key")
def error_bad_key():
    client = make_client(api_key="sk-sy-definitely-not-a-valid-key")
    try:
        client.chat.completions.create(model=MODEL, messages=user("hello switchyard"))
    except openai.AuthenticationError as e:
        expect_eq(e.status_code, 401, "status code")
        return
    except openai.APIStatusError as e:
        raise CheckFailed(f"expected AuthenticationError (401), got {type(e).__name__} ({e.status_code})")
    raise CheckFailed("expected AuthenticationError, request succeeded")


@check("error_unknown_model")
def error_unknown_model():
    client = make_client()
    try:
        client.chat.completions.create(model="no-such-route", messages=user("hello switchyard"))
    except openai.NotFoundError as e:
        expect_eq(e.status_code, 404, "status code")
        # The SDK unwraps the envelope: e.body is the inner "error" object, e.code its code.
        expect(isinstance(e.body, dict), f"error body is not an object: {e.body!r}")
        expect_eq(e.body.get("code"), "model_not_found", "error.code")
        expect_eq(e.code, "model_not_found", "exception code")
        try:
            envelope = e.response.json()
        except ValueError:
            raise CheckFailed(f"error response is not JSON: {e.response.text!r}")
        expect(
            isinstance(envelope, dict) and isinstance(envelope.get("error"), dict),
            f"error response is not an OpenAI error envelope: {envelope!r}",
        )
        expect_eq(envelope["error"].get("code"), "model_not_found", "envelope error.code")
        expect(bool(envelope["error"].get("message")), "envelope error.message empty")
        return
    except openai.APIStatusError as e:
        raise CheckFailed(f"expected NotFoundError (404), got {type(e).__name__} ({e.status_code})")
    raise CheckFailed("expected NotFoundError, request succeeded")


# 7. A Switchyard prompt: variables as a JSON string, the only form typed metadata allows.


@check("prompt_variables")
def prompt_variables():
    client = make_client()
    raw = client.chat.completions.with_raw_response.create(
        model=PROMPT_MODEL,
        messages=[],
        metadata={"prompt_variables": json.dumps({"customer": "Ada"})},
    )
    expect_eq(raw.headers.get("x-switchyard-prompt"), "sdk-prompt@1", "header x-switchyard-prompt")
    expect_eq(raw.parse().choices[0].message.content, mock_reply("Question from Ada"), "rendered user template")
    try:
        client.chat.completions.create(model=PROMPT_MODEL, messages=[], metadata={"prompt_variables": "{}"})
    except openai.BadRequestError as error:
        expect_eq(error.code, "missing_prompt_variable", "error code")
        expect_eq(error.param, "metadata.prompt_variables.customer", "error param")
    else:
        raise CheckFailed("a missing prompt variable was not refused")


# 8. Models.


@check("models_list")
def models_list():
    client = make_client()
    ids = [m.id for m in client.models.list()]
    expect(MODEL in ids, f"{MODEL!r} not in models list {ids!r}")



if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
