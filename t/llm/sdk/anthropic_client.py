"""The official `anthropic` SDK used the way a user would, pointed at strait.

    python anthropic_client.py BASE_URL SCENARIO...

BASE_URL is what a user gives `Anthropic(base_url=...)` (e.g.
`http://127.0.0.1:9080/anth`; the SDK adds `/v1/messages`). Each scenario
prints one JSON line: what the SDK parsed (content blocks, tool inputs,
stop reasons, usage), or, when the SDK raised, the exception's class,
status and body next to what was read before it. Run by t/llm/sdk.rs
against the mock providers.
"""

import sys

import anthropic
from sdk_common import error_summary, run

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
QUESTION = [{"role": "user", "content": "weather in Paris?"}]


def block(b):
    if b.type == "text":
        return {"type": "text", "text": b.text}
    if b.type == "tool_use":
        return {"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
    if b.type == "thinking":
        return {"type": "thinking", "thinking": b.thinking, "signature": b.signature}
    return {"type": b.type}


def message(m, out):
    out.update(
        model=m.model,
        content=[block(b) for b in m.content],
        stop_reason=m.stop_reason,
        usage={"input": m.usage.input_tokens, "output": m.usage.output_tokens},
    )


def streamed(client, out, limit=100, **kwargs):
    """`messages.stream`: the text as it streams, then the SDK's assembled message."""
    out["streamed_text"] = ""
    with client.messages.stream(max_tokens=limit, **kwargs) as s:
        for piece in s.text_stream:
            out["streamed_text"] += piece
        final = s.get_final_message()
    message(final, out)


def text(client, out):
    m = client.messages.create(
        model="claude-mock", max_tokens=100,
        messages=[{"role": "user", "content": "hello there"}],
    )
    message(m, out)


def stream(client, out):
    streamed(client, out, model="claude-mock", messages=[{"role": "user", "content": "one two"}])


def max_tokens(client, out):
    m = client.messages.create(
        model="claude-mock", max_tokens=2,
        messages=[{"role": "user", "content": "hello there"}],
    )
    message(m, out)


def max_tokens_stream(client, out):
    streamed(
        client, out, limit=2, model="claude-mock",
        messages=[{"role": "user", "content": "hello there"}],
    )


def tools(client, out):
    """A tool call, its result sent back (the assistant content as the SDK
    returned it), and the answer to that."""
    messages = list(QUESTION)
    first = client.messages.create(
        model="tool-caller", max_tokens=100, messages=messages, tools=TOOLS
    )
    out["first"] = {}
    message(first, out["first"])
    messages.append({"role": "assistant", "content": first.content})
    results = [
        {"type": "tool_result", "tool_use_id": b.id, "content": "sunny, 21 C"}
        for b in first.content
        if b.type == "tool_use"
    ]
    messages.append({"role": "user", "content": results})
    second = client.messages.create(
        model="tool-caller", max_tokens=100, messages=messages, tools=TOOLS
    )
    out["second"] = {}
    message(second, out["second"])


def tools_stream(client, out):
    """The SDK assembles `input_json_delta`s into the tool's input."""
    with client.messages.stream(
        model="tool-caller", max_tokens=100, messages=QUESTION, tools=TOOLS
    ) as s:
        out["events"] = sorted({e.type for e in s})
        final = s.get_final_message()
    message(final, out)


def thinking(client, out):
    streamed(
        client, out, model="claude-mock",
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "why?"}],
    )


def rate_limited(client, out):
    client.messages.create(model="fail-429", max_tokens=10, messages=QUESTION)


def overloaded(client, out):
    client.messages.create(model="fail-529", max_tokens=10, messages=QUESTION)


def server_error(client, out):
    client.messages.create(model="fail-500", max_tokens=10, messages=QUESTION)


def broken_stream(client, out):
    streamed(client, out, model="break-mid-stream",
             messages=[{"role": "user", "content": "a b c"}])


if __name__ == "__main__":
    base = sys.argv[1]
    client = anthropic.Anthropic(base_url=base, api_key="sk-client", max_retries=0, timeout=10)
    run(client, globals(), sys.argv[2:], lambda e: error_summary(e, anthropic.APIError))
