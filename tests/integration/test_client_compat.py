"""What users of vLLM or a SageMaker endpoint do through their clients once only the base URL points at
berth, beyond the agent loops and structured outputs of the sibling tests: the OpenAI SDK's streaming
helper (typed events, get_final_completion, strict pydantic tools), LangChain's with_structured_output
methods streamed and with include_raw, ChatOpenAI's streamed usage and .batch(), the legacy
completions through LangChain's OpenAI LLM and the SDK, a conversation past the context (the SDK's
BadRequestError and LangChain's ContextOverflowError), the request fields newer clients send
(ignored where harmless, a 400 naming the field where berth cannot honour them), and the SDK's
retry of a 429.

The demo model has random weights, so outputs that must parse are constrained (bounded schemas, strict
tools, tool_choice required) or scripted (the test-only scripted model, docs/api.md)."""
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import openai
import pytest
from langchain_core.exceptions import ContextOverflowError
from langchain_openai import ChatOpenAI
from langchain_openai import OpenAI as LangChainOpenAI
from pydantic import BaseModel

from serve_harness import http

EXTRA = {"chat_template_kwargs": {"enable_thinking": False}}
MESSAGES = [{"role": "user", "content": "Weather in Oslo?"}]
LONG = "word " * 1100  # past the demo model's 1024-token context


class Weather(BaseModel):
    sky: Literal["sunny", "cloudy", "rain"]
    windy: bool


class GetWeather(BaseModel):
    city: Literal["Paris", "Oslo"]


def sdk(server, **kw):
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, **kw)


def chat_model(server, **kw):
    return ChatOpenAI(base_url=server.v1, api_key="unused", model="demo", max_retries=0,
                      extra_body=EXTRA, **kw)


# ---- the SDK's streaming helper ---------------------------------------------------------------

def test_sdk_stream_helper_with_response_format(server):
    """content.delta events add up to the text; content.done and the final completion carry the
    parsed model instance."""
    with sdk(server).chat.completions.stream(model="demo", messages=MESSAGES, response_format=Weather,
                                             max_tokens=40, seed=1, extra_body=EXTRA) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    deltas = "".join(e.delta for e in events if e.type == "content.delta")
    done = [e for e in events if e.type == "content.done"]
    assert len(done) == 1 and isinstance(done[0].parsed, Weather)
    message = final.choices[0].message
    assert message.content == deltas == done[0].content
    assert message.parsed == done[0].parsed == Weather.model_validate_json(deltas)
    assert final.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "GetWeather"}}],
                         ids=["required", "named"])
def test_sdk_stream_helper_with_a_strict_pydantic_tool(server, tool_choice):
    """openai.pydantic_function_tool makes a strict tool; the helper's argument events and the final
    completion's parsed_arguments are the pydantic instance."""
    tool = openai.pydantic_function_tool(GetWeather)
    assert tool["function"]["strict"] is True
    with sdk(server).chat.completions.stream(model="demo", messages=MESSAGES, tools=[tool],
                                             tool_choice=tool_choice, parallel_tool_calls=False,
                                             max_tokens=40, seed=2, extra_body=EXTRA) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    args = "".join(e.arguments_delta for e in events if e.type == "tool_calls.function.arguments.delta")
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert len(done) == 1 and done[0].name == "GetWeather" and done[0].arguments == args
    assert isinstance(done[0].parsed_arguments, GetWeather)
    choice = final.choices[0]
    # The role chunk carries "content": "" as vLLM's (berth-bench reads it as the first token's
    # chunk), so the helper's joined message has "" where the whole answer has null.
    assert choice.finish_reason == "tool_calls" and choice.message.content == ""
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.function.arguments == args
    assert call.function.parsed_arguments == done[0].parsed_arguments


# ---- LangChain ---------------------------------------------------------------------------------

def test_langchain_structured_output_json_schema_streamed_and_raw(server):
    llm = chat_model(server, max_tokens=40, seed=3)
    structured = llm.with_structured_output(Weather, method="json_schema")
    parts = list(structured.stream("Weather in Oslo?"))
    assert parts and isinstance(parts[-1], Weather)
    raw = llm.with_structured_output(Weather, method="json_schema", include_raw=True).invoke("Weather?")
    assert raw["parsing_error"] is None and isinstance(raw["parsed"], Weather)
    assert raw["parsed"] == Weather.model_validate_json(raw["raw"].content)
    assert raw["raw"].usage_metadata["output_tokens"] >= 1


def test_langchain_structured_output_function_calling(server):
    """method=function_calling with strict=True: a named tool_choice and a strict tool, so the model's
    call is the object; include_raw shows the call itself."""
    llm = chat_model(server, max_tokens=80, seed=4)
    out = llm.with_structured_output(Weather, method="function_calling", strict=True,
                                     include_raw=True).invoke("Weather?")
    assert out["parsing_error"] is None and isinstance(out["parsed"], Weather)
    (call,) = out["raw"].tool_calls
    assert call["name"] == "Weather" and Weather(**call["args"]) == out["parsed"]
    streamed = list(llm.with_structured_output(Weather, method="function_calling", strict=True)
                    .stream("Weather?"))
    assert streamed and isinstance(streamed[-1], Weather)


def test_langchain_structured_output_json_mode(start_server, tmp_path):
    """json_mode sends response_format json_object and parses the content as the object; the
    scripted model says a JSON answer (random weights would write any JSON object), streamed and not.
    The script is held to the constraint like a sampled output, so it is compact JSON, the only form
    json_object allows."""
    answer = {"sky": "rain", "windy": True}
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text((json.dumps(json.dumps(answer, separators=(",", ":"))) + "\n") * 2)
    s = start_server("--test-scripted-outputs", outputs)
    llm = chat_model(s, max_tokens=40)
    out = llm.with_structured_output(Weather, method="json_mode", include_raw=True).invoke("JSON please")
    assert out["parsing_error"] is None and out["parsed"] == Weather(**answer)
    assert json.loads(out["raw"].content) == answer
    streamed = list(llm.with_structured_output(Weather, method="json_mode").stream("JSON please"))
    assert streamed[-1] == Weather(**answer)
    assert "no output left" not in s.text()


def test_langchain_streamed_usage_and_batch(server):
    llm = chat_model(server, max_tokens=3, streaming=True, stream_usage=True)
    chunks = list(llm.stream("Hi"))
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert len(usage) == 1 and usage[0]["output_tokens"] == 3
    assert usage[0]["total_tokens"] == usage[0]["input_tokens"] + 3
    assert llm.invoke("Hi").usage_metadata["output_tokens"] == 3
    answers = chat_model(server, max_tokens=3, temperature=0).batch(["one", "two", "three", "one"])
    assert len(answers) == 4 and all(a.usage_metadata["output_tokens"] == 3 for a in answers)
    assert answers[0].content == answers[3].content  # greedy, same prompt, run concurrently


def test_langchain_completions_llm(server):
    llm = LangChainOpenAI(base_url=server.v1, api_key="unused", model="demo", max_tokens=3,
                          temperature=0, max_retries=0)
    text = llm.invoke("Hello")
    assert text and "".join(llm.stream("Hello")) == text
    assert llm.batch(["Hello", "Bye", "Hello"])[::2] == [text, text]


# ---- legacy completions ------------------------------------------------------------------------

def test_sdk_completions_logprobs_text_offset_streamed(server):
    """text_offset counts from the start of the completion in every chunk, as in the whole answer."""
    c = sdk(server)
    whole = c.completions.create(model="demo", prompt="Hello", max_tokens=4, temperature=0, logprobs=1)
    lp = whole.choices[0].logprobs
    assert lp.text_offset == [sum(len(t.encode()) for t in lp.tokens[:i]) for i in range(4)]
    offsets, tokens = [], []
    for ch in c.completions.create(model="demo", prompt="Hello", max_tokens=4, temperature=0,
                                   logprobs=1, stream=True):
        if ch.choices and ch.choices[0].logprobs:
            offsets += ch.choices[0].logprobs.text_offset
            tokens += ch.choices[0].logprobs.tokens
    assert tokens == lp.tokens and offsets == lp.text_offset


@pytest.mark.parametrize("extra,param", [({"suffix": "end"}, "suffix")])
def test_sdk_completions_unsupported_options(server, extra, param):
    with pytest.raises(openai.BadRequestError) as e:
        sdk(server).completions.create(model="demo", prompt="Hello", max_tokens=2, **extra)
    assert e.value.param == param and e.value.code == "invalid_value" and param in e.value.message


# ---- past the context --------------------------------------------------------------------------

@pytest.mark.parametrize("content,max_tokens", [(LONG, 2), ("Hi", 5000)], ids=["prompt", "max_tokens"])
def test_context_overflow_through_the_sdk_and_langchain(server, content, max_tokens):
    """A prompt past the context, or max_tokens past what is left of it (as vLLM and OpenAI do, not
    cut short): a 400 naming the limit; LangChain raises its ContextOverflowError, which its
    summarization middleware recovers from."""
    with pytest.raises(openai.BadRequestError) as e:
        sdk(server).chat.completions.create(model="demo", messages=[{"role": "user", "content": content}],
                                            max_tokens=max_tokens)
    assert e.value.code == "context_length_exceeded" and e.value.param == "messages"
    assert "maximum context length is 1024 tokens" in e.value.message
    with pytest.raises(ContextOverflowError):
        chat_model(server, max_tokens=max_tokens).invoke(content)


# ---- fields newer clients send -----------------------------------------------------------------

IGNORED = {"store": True, "metadata": {"app": "x"}, "service_tier": "auto", "user": "u-1",
           "prediction": {"type": "content", "content": "a guess"}, "reasoning_effort": "low",
           "modalities": ["text"], "verbosity": "low", "prompt_cache_key": "k", "safety_identifier": "s",
           "parallel_tool_calls": False, "audio": None, "functions": None}


def test_harmless_new_fields_are_ignored(server):
    r = sdk(server).chat.completions.create(model="demo", messages=MESSAGES, max_tokens=2, temperature=0,
                                            extra_body=IGNORED)
    plain = sdk(server).chat.completions.create(model="demo", messages=MESSAGES, max_tokens=2, temperature=0)
    assert r.choices[0].message.content == plain.choices[0].message.content


@pytest.mark.parametrize("field,value,param", [
    ("functions", [{"name": "f", "parameters": {"type": "object"}}], "functions"),
    ("function_call", "auto", "function_call"),
    ("audio", {"voice": "alloy", "format": "wav"}, "audio"),
    ("modalities", ["text", "audio"], "modalities[1]"),
    ("modalities", "text", "modalities"),
    ("web_search_options", {}, "web_search_options"),
    ("stream_options", {"include_usage": True}, "stream_options"),
])
def test_fields_berth_cannot_honour_are_named(server, field, value, param):
    with pytest.raises(openai.BadRequestError) as e:
        sdk(server).chat.completions.create(model="demo", messages=MESSAGES, max_tokens=2,
                                            extra_body={field: value})
    assert e.value.param == param and e.value.type == "invalid_request_error", e.value.body
    assert field in e.value.message


# ---- the SDK's retries -------------------------------------------------------------------------

def test_sdk_retries_a_429_after_retry_after(start_server):
    """One running and one waiting sequence: concurrent requests past those are 429 with
    Retry-After: 1, and the SDK (its default 2 retries, more here) waits and gets through."""
    s = start_server("--max-num-seqs", "1", "--max-waiting", "1")
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=30)  # a slow CI machine

    def ask(i):
        raw = client.chat.completions.with_raw_response.create(
            model="demo", messages=[{"role": "user", "content": f"Hi {i}"}], max_tokens=30,
            extra_body={"ignore_eos": True})
        return raw.retries_taken, raw.parse().usage.completion_tokens

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(ask, range(6)))
    assert [n for _, n in results] == [30] * 6
    assert any(r > 0 for r, _ in results), results  # some were refused, then retried
