"""The official `openai` SDK used the way a user would, pointed at strait.

    python openai_client.py BASE_URL SCENARIO...

BASE_URL is what a user gives `OpenAI(base_url=...)` (e.g.
`http://127.0.0.1:9080/oa/v1`). Each scenario prints one JSON line: what the
SDK parsed (text, tool calls with parsed arguments, finish reasons, usage;
listed models; embedding vectors as the SDK decoded them),
or, when the SDK raised, the exception's class, status and body next to what
was read before it. Run by t/llm/sdk.rs against the mock providers.
"""

import json
import sys

import openai
from sdk_common import error_summary, run

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
QUESTION = [{"role": "user", "content": "weather in Paris?"}]


def usage(u):
    if u is None:
        return None
    return {"prompt": u.prompt_tokens, "completion": u.completion_tokens, "total": u.total_tokens}


def calls(message):
    return [
        {"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)}
        for c in message.tool_calls or []
    ]


def completion(r, out):
    choice = r.choices[0]
    out.update(
        model=r.model,
        text=choice.message.content,
        tool_calls=calls(choice.message),
        finish_reason=choice.finish_reason,
        usage=usage(r.usage),
    )


def streamed(client, out, **kwargs):
    """`create(stream=True)` read chunk by chunk, as most users do."""
    out.update(text="", finish_reason=None, usage=None)
    stream = client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kwargs
    )
    for chunk in stream:
        if chunk.usage is not None:
            out["usage"] = usage(chunk.usage)
        for choice in chunk.choices:
            if choice.delta.role:
                out["role"] = choice.delta.role
            if choice.delta.content:
                out["text"] += choice.delta.content
            if choice.finish_reason:
                out["finish_reason"] = choice.finish_reason


def text(client, out):
    r = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello there"}]
    )
    completion(r, out)


def stream(client, out):
    streamed(client, out, model="m", messages=[{"role": "user", "content": "one two"}])


def length(client, out):
    r = client.chat.completions.create(
        model="m", max_tokens=2, messages=[{"role": "user", "content": "hello there"}]
    )
    completion(r, out)


def length_stream(client, out):
    streamed(
        client, out, model="m", max_tokens=2,
        messages=[{"role": "user", "content": "hello there"}],
    )


def tools(client, out):
    """A tool call, its result sent back (the assistant message as the SDK
    returned it), and the answer to that."""
    messages = list(QUESTION)
    first = client.chat.completions.create(model="tool-caller", messages=messages, tools=TOOLS)
    out["first"] = {}
    completion(first, out["first"])
    message = first.choices[0].message
    messages.append(message)
    for call in message.tool_calls or []:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"})
    second = client.chat.completions.create(model="tool-caller", messages=messages, tools=TOOLS)
    out["second"] = {}
    completion(second, out["second"])


def tools_stream(client, out):
    """The SDK's own stream helper assembles the tool call."""
    with client.chat.completions.stream(
        model="tool-caller", messages=QUESTION, tools=TOOLS,
        stream_options={"include_usage": True},
    ) as s:
        out["events"] = sorted({e.type for e in s})
        final = s.get_final_completion()
    completion(final, out)


def rate_limited(client, out):
    client.chat.completions.create(model="fail-429", messages=QUESTION)


def overloaded(client, out):
    client.chat.completions.create(model="fail-529", messages=QUESTION)


def server_error(client, out):
    client.chat.completions.create(model="fail-500", messages=QUESTION)


def broken_stream(client, out):
    streamed(client, out, model="break-mid-stream", messages=[{"role": "user", "content": "a b c"}])


def model_summary(m):
    return {"id": m.id, "object": m.object, "created": m.created, "owned_by": m.owned_by}


def models(client, out):
    listed = [model_summary(m) for m in client.models.list()]
    out["list"] = listed
    if listed:
        out["one"] = model_summary(client.models.retrieve(listed[0]["id"]))


def missing_model(client, out):
    client.models.retrieve("no-such-model")


def embedding_summary(r, out):
    out.update(
        model=r.model,
        vectors=[e.embedding for e in sorted(r.data, key=lambda e: e.index)],
        usage={"prompt": r.usage.prompt_tokens, "total": r.usage.total_tokens},
    )


def embeddings(client, out):
    """The SDK's default: it asks for base64 and decodes the vectors."""
    embedding_summary(client.embeddings.create(model="m", input=["hello", "hi there"]), out)


def embeddings_float(client, out):
    r = client.embeddings.create(model="m", input="hello", encoding_format="float", dimensions=4)
    embedding_summary(r, out)


def embeddings_tokens(client, out):
    embedding_summary(client.embeddings.create(model="m", input=[[1, 2, 3]]), out)


if __name__ == "__main__":
    base = sys.argv[1]
    client = openai.OpenAI(base_url=base, api_key="sk-client", max_retries=0, timeout=10)
    run(client, globals(), sys.argv[2:], lambda e: error_summary(e, openai.APIError))
