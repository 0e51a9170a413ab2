"""What agent loops ask of the server beyond the loops of test_agent_loops.py, through the OpenAI SDK
against `berth serve` on the demo model: enforced tool choice (named and required) with no stray
text beside the call, n = 2 with tools, include_usage, max_completion_tokens, parallel_tool_calls
false, and every message shape clients send back (text parts in every role, developer, content
beside tool_calls, reasoning_content echoed, name, tool results as lists) reaching the prompt.

Enforced calls come from the model itself (the grammar makes random weights write a valid call);
the loops use the test-only scripted model (docs/api.md) as test_agent_loops.py does."""
import json

import openai
import pytest

from serve_harness import http
from test_agent_loops import FINAL, QUESTION, RUN, SYSTEM, TOOLS, Scripted, call, response_block

MODEL = "demo"
ENUM_TOOLS = [  # arguments with few instances, so random weights finish a call quickly
    {"type": "function", "function": {
        "name": "get_weather", "description": "The weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo"]}},
                       "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "The local time of a city.",
        "parameters": {"type": "object", "properties": {"utc_offset": {"enum": [0, 1, 2]}},
                       "required": ["utc_offset"], "additionalProperties": False}}},
]


def token_id(server, text):
    ids = http.post(server.base + "/tokenize", json={"prompt": text}, timeout=30).json()["tokens"]
    assert len(ids) == 1, f"{text!r} should be one token, got {ids}"
    return ids[0]


def collect_stream(stream):
    """Streamed chunks joined per choice as clients join them; the usage chunk, if any."""
    choices, usage = {}, None
    for chunk in stream:
        if chunk.usage is not None:
            assert not chunk.choices
            usage = chunk.usage
        for ch in chunk.choices:
            c = choices.setdefault(ch.index, {"content": "", "calls": {}, "finish": None, "ids": set()})
            c["content"] += ch.delta.content or ""
            for tc in ch.delta.tool_calls or []:
                got = c["calls"].setdefault(tc.index, {"name": "", "arguments": ""})
                if tc.id:
                    c["ids"].add(tc.id)
                got["name"] += tc.function.name or ""
                got["arguments"] += tc.function.arguments or ""
            if ch.finish_reason:
                c["finish"] = ch.finish_reason
    return choices, usage


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("choice", ["named", "required"])
def test_enforced_tool_choice_has_no_stray_content(server, choice, stream):
    """Thinking left to the model (Qwen3's default), <think> banned and "\\n\\n" favoured: the enforced
    call must still be the first thing written, so content is null, as vLLM's (a bug once gave
    "\\n\\n" before the call). n = 2 with tools, parallel_tool_calls false, include_usage streamed."""
    client = openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0)
    tc = "required" if choice == "required" else {"type": "function", "function": {"name": "get_time"}}
    bias = {str(token_id(server, "<think>")): -100, str(token_id(server, "\n\n")): 100}
    args = dict(model=MODEL, messages=[{"role": "user", "content": QUESTION}], tools=ENUM_TOOLS, tool_choice=tc,
                n=2, seed=5, temperature=1.0, max_completion_tokens=60, logit_bias=bias,
                parallel_tool_calls=False)  # random weights would go on adding calls until cut
    if not stream:
        r = client.chat.completions.create(**args)
        choices = [(ch.message.content, [c.function.model_dump() for c in ch.message.tool_calls],
                    {c.id for c in ch.message.tool_calls}, ch.finish_reason) for ch in r.choices]
        completion_tokens = r.usage.completion_tokens
    else:
        got, usage = collect_stream(client.chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}))
        assert sorted(got) == [0, 1]
        choices = [(c["content"] or None, list(c["calls"].values()), c["ids"], c["finish"]) for c in got.values()]
        assert usage is not None, "include_usage: no usage chunk"
        completion_tokens = usage.completion_tokens
    assert len(choices) == 2
    ids = set()
    for content, calls, call_ids, finish in choices:
        assert content is None, f"stray content beside the enforced call: {content!r}"
        assert finish == "tool_calls"
        assert len(calls) == 1
        for c in calls:
            assert c["name"] in ("get_weather", "get_time") and (choice == "required" or c["name"] == "get_time")
            json.loads(c["arguments"])
        assert len(call_ids) == len(calls)
        ids |= call_ids
    assert len(ids) == sum(len(c[1]) for c in choices), "call ids must be unique across choices"
    assert 0 < completion_tokens <= 2 * 60


def sdk_ask(client, stream, **args):
    """One completion through the SDK: create, or the stream helper (which accumulates the deltas
    per choice into a ChatCompletion), with include_usage when streamed."""
    if not stream:
        return client.chat.completions.create(**args)
    with client.chat.completions.stream(**args, stream_options={"include_usage": True}) as st:
        for _ in st:
            pass
        final = st.get_final_completion()
    assert final.usage is not None and final.usage.completion_tokens > 0, "include_usage: no usage"
    return final


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_required_single_call_then_answer(start_server, tmp_path, stream):
    """tool_choice required with parallel_tool_calls false and max_completion_tokens: the model's call
    (here scripted, in the byte form the grammar enforces, so a grammar that disagreed with the
    template's form would fail the request) is the only output; then an answer under auto."""
    s = Scripted(start_server, tmp_path, [call("get_weather", city="Paris"), FINAL])
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    first = sdk_ask(client, stream, model=MODEL, messages=messages, tools=TOOLS, tool_choice="required",
                    parallel_tool_calls=False, max_completion_tokens=100)
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert not msg.content
    assert [(c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls] == [
        ("get_weather", {"city": "Paris"})]
    messages.append(msg.model_dump())
    messages.append({"role": "tool", "tool_call_id": msg.tool_calls[0].id,
                     "content": RUN["get_weather"](json.loads(msg.tool_calls[0].function.arguments))})
    final = sdk_ask(client, stream, model=MODEL, messages=messages, tools=TOOLS, max_completion_tokens=100)
    assert final.choices[0].message.content == FINAL and final.choices[0].finish_reason == "stop"
    prompts = s.finished()
    assert response_block("sunny in Paris") in prompts[1]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_parallel_tool_calls_false_reports_one_call(start_server, tmp_path, stream):
    """The model would write two calls; with parallel_tool_calls false the response ends after the
    first (one call reported), and the loop goes on with its result."""
    two = call("get_weather", city="Paris") + "\n" + call("get_time", city="Paris", utc_offset=1)
    s = Scripted(start_server, tmp_path, [two, FINAL])
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    first = sdk_ask(client, stream, model=MODEL, messages=messages, tools=TOOLS, parallel_tool_calls=False,
                    max_tokens=100)
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in msg.tool_calls] == ["get_weather"] and not msg.content
    messages += [msg.model_dump(), {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "sunny"}]
    final = sdk_ask(client, stream, model=MODEL, messages=messages, tools=TOOLS, parallel_tool_calls=False,
                    max_tokens=100)
    assert final.choices[0].message.content == FINAL
    prompts = s.finished()
    # The second call was never generated, so it is nowhere in the history.
    assert '"get_time"' not in prompts[1].split("<|im_start|>assistant")[-2]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_n2_with_tools_each_choice_its_own_call(start_server, tmp_path, stream):
    s = Scripted(start_server, tmp_path, [call("get_weather", city="Paris")])
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
    args = dict(model=MODEL, messages=[{"role": "user", "content": QUESTION}], tools=TOOLS, n=2, max_tokens=100)
    if not stream:
        r = client.chat.completions.create(**args)
        got = [([c.function.model_dump() for c in ch.message.tool_calls], {c.id for c in ch.message.tool_calls},
                ch.finish_reason, ch.message.content) for ch in r.choices]
        tokens = r.usage.completion_tokens
    else:
        by_index, usage = collect_stream(client.chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}))
        assert sorted(by_index) == [0, 1]
        got = [(list(c["calls"].values()), c["ids"], c["finish"], c["content"] or None) for c in by_index.values()]
        tokens = usage.completion_tokens
    assert len(got) == 2
    for calls, _, finish, content in got:
        assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Paris"})]
        assert finish == "tool_calls" and content is None
    assert len(got[0][1] | got[1][1]) == 2, "each choice's call has its own id"
    one = len(http.post(s.server.base + "/tokenize", json={"prompt": call("get_weather", city="Paris")},
                        timeout=30).json()["tokens"]) + 1  # and the end-of-sequence token
    assert tokens == 2 * one
    s.finished()


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_max_completion_tokens_cuts_a_call_into_content(start_server, tmp_path, stream):
    """A call cut by max_completion_tokens is no call: its text is content and finish_reason is
    length (vLLM's hermes parser gives the text back the same way)."""
    s = Scripted(start_server, tmp_path, [call("get_weather", city="Paris")])
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
    args = dict(model=MODEL, messages=[{"role": "user", "content": QUESTION}], tools=TOOLS, max_completion_tokens=6)
    if not stream:
        r = client.chat.completions.create(**args)
        content, calls, finish, tokens = (r.choices[0].message.content, r.choices[0].message.tool_calls,
                                          r.choices[0].finish_reason, r.usage.completion_tokens)
    else:
        by_index, usage = collect_stream(client.chat.completions.create(
            **args, stream=True, stream_options={"include_usage": True}))
        c = by_index[0]
        content, calls, finish, tokens = c["content"], c["calls"], c["finish"], usage.completion_tokens
    assert finish == "length" and tokens == 6 and not calls
    assert content and call("get_weather", city="Paris").startswith(content)
    s.finished()


# ---- message shapes sent back ---------------------------------------------------------------------

def parts(*texts):
    return [{"type": "text", "text": t} for t in texts]


SHAPED = [
    {"role": "system", "content": parts("You answer questions", "about cities.")},
    {"role": "developer", "content": parts("Be brief.")},
    {"role": "user", "content": parts("What is the weather", "in Paris?"), "name": "ann"},
    # content beside the calls, the reasoning echoed back (some clients do), a name, text parts
    {"role": "assistant", "content": parts("Let me look."), "name": "bot",
     "reasoning_content": "The user wants the weather.",
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": parts("sunny", "22 C")},
    {"role": "assistant", "content": "It is sunny.", "reasoning": "Answer now."},
    {"role": "user", "content": "And the time?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_2", "type": "function", "function": {
        "name": "get_time", "arguments": '{"city": "Paris", "utc_offset": 1}'}}]},
    {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_every_message_shape_reaches_the_prompt(start_server, tmp_path, stream):
    s = Scripted(start_server, tmp_path, [FINAL])
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
    r = sdk_ask(client, stream, model=MODEL, messages=SHAPED, tools=TOOLS, max_tokens=50)
    assert r.choices[0].message.content == FINAL
    (prompt,) = s.finished()
    # Qwen3's template: the system and developer texts, parts joined with "\n"; the assistant's text
    # before its call; both results; the turns in order.
    want = ["<|im_start|>system\nYou answer questions\nabout cities.",
            "<|im_start|>system\nBe brief.<|im_end|>",
            "<|im_start|>user\nWhat is the weather\nin Paris?<|im_end|>",
            "<|im_start|>assistant\nLet me look.\n" + call("get_weather", city="Paris") + "<|im_end|>",
            response_block("sunny\n22 C"),
            "<|im_start|>assistant\nIt is sunny.<|im_end|>",
            call("get_time", city="Paris", utc_offset=1) + "<|im_end|>",
            response_block("12:00") + "<|im_end|>\n<|im_start|>assistant\n"]
    at = 0
    for w in want:
        i = prompt.find(w, at)
        assert i >= 0, f"{w!r} missing (in order) from the rendered prompt:\n{prompt}"
        at = i + len(w)


# ---- a thinking model's turns ---------------------------------------------------------------------

THINKING = ["<think>\nThe user wants the weather first.\n</think>\n\n" + call("get_weather", city="Paris"),
            "<think>\nNow the time.\n</think>\n\n" + call("get_time", city="Paris", utc_offset=1),
            "<think>\nI have both.\n</think>\n\n" + FINAL]


@pytest.mark.parametrize("client", ["strands", "langchain", "openai"])
def test_thinking_model_loop(start_server, tmp_path, client):
    """Qwen3 thinks before each call and before the answer: the reasoning is never content (nor a
    call), each client's loop goes on, and the final content is the answer alone. The history is
    rendered as Qwen3's template renders it (older turns' reasoning dropped; whatever a client sends
    back of it is accepted)."""
    from test_agent_loops import check_sequential_prompts, langchain_tools, chat_openai, weather, local_time

    s = Scripted(start_server, tmp_path, THINKING)
    if client == "strands":
        from strands import Agent
        from strands import tool as strands_tool
        from strands.models.openai import OpenAIModel

        @strands_tool
        def get_weather(city: str) -> str:
            """The weather of a city."""
            return weather(city)

        @strands_tool
        def get_time(city: str, utc_offset: int) -> str:
            """The local time of a city."""
            return local_time(city, utc_offset)

        model = OpenAIModel(client_args={"base_url": s.v1, "api_key": "unused", "max_retries": 0},
                            model_id=MODEL, params={"max_tokens": 100})
        agent = Agent(model=model, tools=[get_weather, get_time], system_prompt=SYSTEM, callback_handler=None)
        result = agent(QUESTION)
        texts = [b["text"] for b in result.message["content"] if "text" in b]
        assert [t.strip() for t in texts] == [FINAL]
    elif client == "langchain":
        from langchain.agents import create_agent
        from langchain_core.messages import AIMessageChunk

        agent = create_agent(model=chat_openai(s), tools=langchain_tools([]), system_prompt=SYSTEM)
        by_id = {}
        for chunk, _ in agent.stream({"messages": [{"role": "user", "content": QUESTION}]}, stream_mode="messages"):
            if isinstance(chunk, AIMessageChunk):
                by_id[chunk.id] = chunk if chunk.id not in by_id else by_id[chunk.id] + chunk
        streamed = list(by_id.values())
        assert [m.content for m in streamed] == ["", "", FINAL]
        assert [[c["name"] for c in m.tool_calls] for m in streamed] == [["get_weather"], ["get_time"], []]
    else:
        sdk = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
        for want in ("get_weather", "get_time"):
            r = sdk_ask(sdk, True, model=MODEL, messages=messages, tools=TOOLS, max_tokens=100)
            msg = r.choices[0].message
            assert not msg.content and [c.function.name for c in msg.tool_calls] == [want]
            # Sent back with the reasoning the SDK kept (an extra field), as some clients do.
            assert getattr(msg, "reasoning_content", None), msg
            messages.append(msg.model_dump())
            messages.append({"role": "tool", "tool_call_id": msg.tool_calls[0].id,
                             "content": RUN[want](json.loads(msg.tool_calls[0].function.arguments))})
        r = sdk_ask(sdk, False, model=MODEL, messages=messages, tools=TOOLS, max_tokens=100)
        assert r.choices[0].message.content == FINAL
        assert r.choices[0].message.reasoning_content == "\nI have both.\n"
    check_sequential_prompts(s.finished())
