#!/usr/bin/env python3
"""Compatibility check of a running Switchyard node against the official `anthropic` Python SDK.

Run by the Swift integration tests while a node is up, against `POST /v1/messages`, with a route
alias served by the mock provider in any wire format (OpenAI, Anthropic or Gemini upstream): the
node translates, so the SDK must not be able to tell.

Environment:
  SWITCHYARD_BASE_URL  data-plane base URL without /v1, e.g. http://127.0.0.1:7701
  SWITCHYARD_KEY       tenant API key (sk-sy-...), sent as x-api-key
  SWITCHYARD_MODEL     route alias

Output: one line per check ("ok <name>" / "FAIL <name>: reason"), then "N passed, M failed".
Exit status: 0 when all checks pass, 1 when any fails, 2 on bad usage (missing environment).
"""

import sys

import anthropic
from anthropic import Anthropic

from checklib import API_KEY, BASE_URL, MODEL, PROMPT_MODEL, CheckFailed, check, expect, expect_eq, main

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the weather forecast for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}
EXPECTED_TOOL_INPUT = {"city": "mock", "days": 1}




def make_client(api_key=None):
    return Anthropic(base_url=BASE_URL, api_key=API_KEY if api_key is None else api_key, max_retries=0, timeout=20)


def user(text):
    return [{"role": "user", "content": text}]




@check("messages_basic")
def messages_basic():
    prompt = "hello switchyard"
    message = make_client().messages.create(model=MODEL, max_tokens=256, messages=user(prompt), system="be brief")
    expect_eq(message.type, "message", "type")
    expect_eq(message.role, "assistant", "role")
    expect_eq(message.model, MODEL, "model (the alias the client asked for)")
    expect_eq([block.type for block in message.content], ["text"], "content block types")
    expect_eq(message.content[0].text, f"mock reply to: {prompt}", "content[0].text")
    expect_eq(message.stop_reason, "end_turn", "stop_reason")
    expect(message.usage.input_tokens > 0, f"usage.input_tokens not > 0: {message.usage.input_tokens}")
    expect(message.usage.output_tokens > 0, f"usage.output_tokens not > 0: {message.usage.output_tokens}")


@check("messages_headers")
def messages_headers():
    raw = make_client().messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=user("hi"))
    expect_eq(raw.headers.get("x-switchyard-route"), MODEL, "header x-switchyard-route")
    expect(bool(raw.headers.get("x-switchyard-trace-id")), "header x-switchyard-trace-id missing")
    expect_eq(raw.parse().content[0].text, "mock reply to: hi", "parsed content")


@check("prompt_variables")
def prompt_variables():
    # `metadata` is typed with `user_id` only; the variables travel as an extra field.
    raw = make_client().messages.with_raw_response.create(
        model=PROMPT_MODEL,
        max_tokens=64,
        messages=user("hi"),
        extra_body={"metadata": {"user_id": "u-1", "prompt_variables": {"customer": "Ada"}}},
    )
    expect_eq(raw.headers.get("x-switchyard-prompt"), "sdk-prompt@1", "header x-switchyard-prompt")
    # The template is the last user turn (providers that need alternating roles merge it with "hi").
    text = raw.parse().content[0].text
    expect(text.startswith("mock reply to: ") and text.endswith("Question from Ada"), f"rendered user template: {text!r}")


@check("messages_stream")
def messages_stream():
    prompt = "stream this reply please"
    event_types = []
    with make_client().messages.stream(model=MODEL, max_tokens=256, messages=user(prompt)) as stream:
        for event in stream:
            event_types.append(event.type)
        final = stream.get_final_message()
    text = "".join(block.text for block in final.content if block.type == "text")
    expect_eq(text, f"mock reply to: {prompt}", "streamed text")
    expect_eq(event_types[0], "message_start", "first event")
    expect(event_types.count("text") > 1, f"expected several text deltas, got {event_types.count('text')}")
    expect_eq(final.stop_reason, "end_turn", "stop_reason")
    expect(final.usage.output_tokens > 0, f"usage.output_tokens not > 0: {final.usage.output_tokens}")


@check("tool_use")
def tool_use():
    client = make_client()
    messages = user("what is the weather in mock city?")
    message = client.messages.create(model=MODEL, max_tokens=256, messages=messages, tools=[WEATHER_TOOL])
    expect_eq(message.stop_reason, "tool_use", "stop_reason")
    blocks = [block for block in message.content if block.type == "tool_use"]
    expect_eq(len(blocks), 1, "tool_use blocks")
    block = blocks[0]
    expect_eq(block.name, "get_weather", "tool name")
    expect_eq(block.input, EXPECTED_TOOL_INPUT, "tool input")
    expect(bool(block.id), "tool_use id empty")

    follow_up = messages + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ]
    answer = client.messages.create(model=MODEL, max_tokens=256, messages=follow_up, tools=[WEATHER_TOOL])
    expect_eq(answer.stop_reason, "end_turn", "follow-up stop_reason")
    texts = [b.text for b in answer.content if b.type == "text"]
    expect(texts and texts[0] != "", f"follow-up: expected text, got {answer.content!r}")


@check("tool_use_stream")
def tool_use_stream():
    partials = []
    with make_client().messages.stream(
        model=MODEL, max_tokens=256, messages=user("what is the weather in mock city?"), tools=[WEATHER_TOOL]
    ) as stream:
        for event in stream:
            if event.type == "input_json":
                partials.append(event.partial_json)
        final = stream.get_final_message()
    expect_eq(final.stop_reason, "tool_use", "stop_reason")
    blocks = [block for block in final.content if block.type == "tool_use"]
    expect_eq(len(blocks), 1, "tool_use blocks")
    expect_eq(blocks[0].input, EXPECTED_TOOL_INPUT, "streamed tool input")
    expect(len(partials) >= 1, "no input_json deltas")


@check("error_bad_key")
def error_bad_key():
    try:
        make_client(api_key="sk-sy-AAAAAAAA-not-a-real-key-000000000000").messages.create(
            model=MODEL, max_tokens=16, messages=user("x")
        )
    except anthropic.AuthenticationError as e:
        expect_eq(e.status_code, 401, "status")
        expect_eq(e.body.get("type"), "error", "body.type")
        expect_eq(e.body.get("error", {}).get("type"), "authentication_error", "error.type")
        return
    raise CheckFailed("no AuthenticationError")


@check("error_unknown_model")
def error_unknown_model():
    try:
        make_client().messages.create(model="no-such-route", max_tokens=16, messages=user("x"))
    except anthropic.NotFoundError as e:
        expect_eq(e.status_code, 404, "status")
        expect_eq(e.body.get("error", {}).get("type"), "not_found_error", "error.type")
        return
    raise CheckFailed("no NotFoundError")


@check("error_bad_request")
def error_bad_request():
    try:
        make_client().messages.create(model=MODEL, max_tokens=16, messages=[])
    except anthropic.BadRequestError as e:
        expect_eq(e.status_code, 400, "status")
        expect_eq(e.body.get("error", {}).get("type"), "invalid_request_error", "error.type")
        return
    raise CheckFailed("no BadRequestError")



if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
