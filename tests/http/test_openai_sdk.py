"""The OpenAI Python SDK against the fake server: sync and async, streaming and not, include_usage,
n, stop, max_tokens, completions, and errors surfacing as the SDK's exception types."""
import asyncio

import openai
import pytest

MESSAGES = [{"role": "system", "content": "x"}, {"role": "user", "content": "the quick brown fox"}]


def client(server, prefix="/v1"):
    return openai.OpenAI(base_url=server.base + prefix, api_key="unused", max_retries=0)


def test_sync_chat(server):
    r = client(server).chat.completions.create(model="", messages=MESSAGES)
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "the quick brown fox"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "fake-model"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (5, 4, 9)


def test_sync_chat_through_sagemaker_base_url(server):
    c = client(server, "/endpoints/my-endpoint/openai/v1")
    r = c.chat.completions.create(model="", messages=MESSAGES, max_completion_tokens=2)
    assert r.choices[0].message.content == "the quick"
    assert r.choices[0].finish_reason == "length"


def test_n_and_stop(server):
    r = client(server).chat.completions.create(model="m", messages=MESSAGES, n=2, stop=["brown"])
    assert [c.index for c in r.choices] == [0, 1]
    assert all(c.message.content == "the quick " for c in r.choices)
    assert r.usage.completion_tokens == 6


def test_sync_stream_with_usage(server):
    stream = client(server).chat.completions.create(
        model="", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "the quick brown fox"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert all(c.usage is None for c in chunks[:-1])


def test_sync_stream_without_usage_has_no_usage_chunk(server):
    chunks = list(client(server).chat.completions.create(model="", messages=MESSAGES, stream=True))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_continuous_usage_stats(server):
    chunks = list(client(server).chat.completions.create(
        model="", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True, "continuous_usage_stats": True}))
    counts = [c.usage.completion_tokens for c in chunks if c.choices and c.choices[0].delta.content]
    assert counts == [1, 2, 3, 4]


def test_completions_text_and_token_ids(server):
    c = client(server)
    r = c.completions.create(model="", prompt="alpha beta gamma", max_tokens=2)
    assert r.object == "text_completion" and r.choices[0].text == "alpha beta"
    assert r.choices[0].finish_reason == "length"
    r = c.completions.create(model="", prompt=[7, 8])
    assert r.choices[0].text == "t7 t8"
    r = c.completions.create(model="", prompt="alpha beta", echo=True)
    assert r.choices[0].text.startswith("alpha beta")
    chunks = list(c.completions.create(model="", prompt="a b c", stream=True,
                                       stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == "a b c"
    assert chunks[-1].usage.total_tokens == 6


def test_errors_become_sdk_exceptions(server):
    c = client(server)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="", messages=MESSAGES, temperature=9)
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.NotFoundError):
        client(server, "/endpoints/nope/openai/v1").chat.completions.create(model="", messages=MESSAGES)


def test_models_list(server):
    assert [m.id for m in client(server).models.list()] == ["fake-model"]


def test_async_chat_and_stream(server):
    async def run():
        c = openai.AsyncOpenAI(base_url=server.base + "/v1", api_key="unused", max_retries=0)
        plain, stream = await asyncio.gather(
            c.chat.completions.create(model="", messages=MESSAGES),
            c.chat.completions.create(model="", messages=MESSAGES, stream=True,
                                      stream_options={"include_usage": True}))
        parts, usage = [], None
        async for ch in stream:
            if ch.choices:
                parts.append(ch.choices[0].delta.content or "")
            usage = ch.usage or usage
        await c.close()
        return plain, "".join(parts), usage

    plain, text, usage = asyncio.run(run())
    assert plain.choices[0].message.content == "the quick brown fox"
    assert text == "the quick brown fox"
    assert usage.prompt_tokens == 5 and usage.completion_tokens == 4


def test_async_concurrent_streams(start_server):
    s = start_server("--delay-ms", "20")

    async def one(c, words):
        out = []
        stream = await c.chat.completions.create(
            model="", messages=[{"role": "user", "content": words}], stream=True)
        async for ch in stream:
            out.append(ch.choices[0].delta.content or "")
        return "".join(out)

    async def run():
        c = openai.AsyncOpenAI(base_url=s.base + "/v1", api_key="unused", max_retries=0)
        prompts = [" ".join(f"w{i}x{k}" for k in range(i + 1)) for i in range(12)]
        got = await asyncio.gather(*(one(c, p) for p in prompts))
        await c.close()
        return prompts, got

    prompts, got = asyncio.run(run())
    assert got == prompts
