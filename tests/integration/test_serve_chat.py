"""Chat completions through the OpenAI Python SDK (sync and async, streaming and not) and LangChain."""
import asyncio

import openai
import pytest

MSG = [{"role": "user", "content": "Tell me a story about a berth."}]


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.v1, api_key="unused")


def test_non_streaming_has_usage_and_served_model(client):
    r = client.chat.completions.create(model="", messages=MSG, max_tokens=8, temperature=0)
    assert r.object == "chat.completion"
    assert r.model == "demo"
    c = r.choices[0]
    assert c.message.role == "assistant" and isinstance(c.message.content, str)
    assert c.finish_reason == "length"
    assert r.usage.completion_tokens == 8
    assert r.usage.prompt_tokens > 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + 8


def test_streaming_shape(client):
    chunks = list(client.chat.completions.create(
        model="x", messages=MSG, max_tokens=6, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])
    finishes = [c.choices[0].finish_reason for c in chunks[:-1] if c.choices]
    assert finishes[-1] == "length" and all(f is None for f in finishes[:-1])


def test_stream_equals_non_stream_greedy(client):
    whole = client.chat.completions.create(model="", messages=MSG, max_tokens=12, temperature=0)
    parts = client.chat.completions.create(model="", messages=MSG, max_tokens=12, temperature=0, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert text == whole.choices[0].message.content


def test_max_completion_tokens_wins(client):
    r = client.chat.completions.create(model="", messages=MSG, max_tokens=9, max_completion_tokens=3,
                                       temperature=0)
    assert r.usage.completion_tokens == 3


def test_n_choices(client):
    r = client.chat.completions.create(model="", messages=MSG, max_tokens=5, n=2, temperature=1.0, seed=3)
    assert sorted(c.index for c in r.choices) == [0, 1]
    assert r.usage.completion_tokens == 10


def test_seeded_sampling_is_reproducible(client):
    a = client.chat.completions.create(model="", messages=MSG, max_tokens=10, temperature=1.0, seed=11)
    b = client.chat.completions.create(model="", messages=MSG, max_tokens=10, temperature=1.0, seed=11)
    assert a.choices[0].message.content == b.choices[0].message.content


def test_logprobs_are_consistent(client):
    r = client.chat.completions.create(model="", messages=MSG, max_tokens=5, temperature=0, logprobs=True,
                                       top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == 5
    for t in content:
        assert len(t.top_logprobs) == 3
        tops = [x.logprob for x in t.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        # greedy: the chosen token is the most likely one
        assert abs(t.logprob - tops[0]) < 1e-4
        assert t.logprob <= 0


def test_async_client(server):
    async def run():
        c = openai.AsyncOpenAI(base_url=server.v1, api_key="unused")
        r = await c.chat.completions.create(model="", messages=MSG, max_tokens=4, temperature=0)
        s = await c.chat.completions.create(model="", messages=MSG, max_tokens=4, temperature=0, stream=True)
        text = "".join([ch.choices[0].delta.content or "" async for ch in s if ch.choices])
        await c.close()
        return r.choices[0].message.content, text

    whole, streamed = asyncio.run(run())
    assert whole == streamed


def test_langchain(server):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=server.v1, api_key="unused", model="demo", temperature=0,
                     max_completion_tokens=5)
    msg = llm.invoke("Hello there")
    assert isinstance(msg.content, str)
    streamed = "".join(chunk.content for chunk in llm.stream("Hello there"))
    assert streamed == msg.content


def test_continuous_usage_stats(server):
    import json

    import httpx

    body = {"messages": MSG, "max_tokens": 5, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    with httpx.stream("POST", server.v1 + "/chat/completions", json=body, timeout=60) as r:
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    assert all(c["usage"] is not None for c in chunks)
    counts = [c["usage"]["completion_tokens"] for c in chunks]
    assert counts == sorted(counts) and counts[-1] == 5
    assert chunks[-1]["choices"] == []
