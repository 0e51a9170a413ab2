"""Agent loops end to end through real clients: Strands Agents, LangChain (ChatOpenAI.bind_tools and the
prebuilt agent) and the OpenAI SDK, each running its own loop against `berth serve` on the demo model.

A random model calls no tools, so the server runs with the test-only scripted model
(--test-scripted-outputs): each request's output is the next line of a file, in the Qwen3/Hermes
`<tool_call>` format, tokenized and streamed through the real tokenizer, detokenizer, output parser,
SSE and HTTP. The second and later requests carry the tool calls and tool results back the way each
client sends them (content null or absent, text parts, several tool messages in a row); the server
logs each request's rendered prompt, and the tests check that the results reached the model."""
import json

import openai
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool as langchain_tool
from langchain_openai import ChatOpenAI
from strands import Agent
from strands import tool as strands_tool
from strands.models.openai import OpenAIModel

from serve_harness import wait_for

MODEL = "demo"
SYSTEM = "You answer questions about cities."
QUESTION = "What is the weather and the local time in Paris?"
FINAL = "It is sunny in Paris and the local time is 12:00."


def call(name, **args):
    """The text Qwen3 emits for one tool call."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


def response_block(text):
    """How Qwen3's template shows one tool result to the model."""
    return "\n<tool_response>\n" + text + "\n</tool_response>"


class Scripted:
    """A server whose "model" says `outputs`, one per request, and what each request rendered."""

    def __init__(self, start_server, tmp_path, outputs):
        path = tmp_path / "outputs.jsonl"
        path.write_text("".join(json.dumps(o) + "\n" for o in outputs), encoding="utf-8")
        self.outputs = outputs
        self.server = start_server("--test-scripted-outputs", path)
        self.v1 = self.server.v1

    def prompts(self):
        out = []
        for line in list(self.server.log):
            if "test-scripted-outputs: {" in line:
                out.append(json.loads(line.split("test-scripted-outputs: ", 1)[1])["prompts"][0])
        return out

    def finished(self):
        """Every output was taken (one request each) and no request failed; the rendered prompts."""
        assert wait_for(lambda: len(self.prompts()) == len(self.outputs)), self.server.text()
        assert "no output left" not in self.server.text()
        return self.prompts()


def weather(city):
    return f"sunny in {city}"


def local_time(city, utc_offset):
    return f"12:00 in {city} (UTC+{utc_offset})"


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "The weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "The local time of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "utc_offset": {"type": "integer"}},
                       "required": ["city", "utc_offset"]}}},
]
RUN = {"get_weather": lambda a: weather(**a), "get_time": lambda a: local_time(**a)}
# The loop every client runs: tool 1, then tool 2, then the answer.
SEQUENTIAL = [call("get_weather", city="Paris"), call("get_time", city="Paris", utc_offset=1), FINAL]


def check_sequential_prompts(prompts):
    """The second request carries the first call and its result; the third carries both."""
    assert len(prompts) == 3
    first, second, third = prompts
    assert QUESTION in first and "<tool_response>" not in first
    assert second.startswith(first)  # the history is re-sent unchanged
    assert call("get_weather", city="Paris") + "<|im_end|>" in second
    assert response_block(weather("Paris")) in second
    assert third.startswith(second)
    assert call("get_time", city="Paris", utc_offset=1) + "<|im_end|>" in third
    assert response_block(local_time("Paris", 1)) in third


# ---- Strands Agents ---------------------------------------------------------------------------


def test_strands_agent_two_tools(start_server, tmp_path):
    ran = []

    @strands_tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        ran.append(("get_weather", city))
        return weather(city)

    @strands_tool
    def get_time(city: str, utc_offset: int) -> str:
        """The local time of a city."""
        ran.append(("get_time", city, utc_offset))
        return local_time(city, utc_offset)

    s = Scripted(start_server, tmp_path, SEQUENTIAL)
    model = OpenAIModel(client_args={"base_url": s.v1, "api_key": "unused", "max_retries": 0},
                        model_id=MODEL, params={"max_tokens": 100})
    agent = Agent(model=model, tools=[get_weather, get_time], system_prompt=SYSTEM, callback_handler=None)
    result = agent(QUESTION)
    assert str(result).strip() == FINAL
    assert ran == [("get_weather", "Paris"), ("get_time", "Paris", 1)]
    prompts = s.finished()
    check_sequential_prompts(prompts)
    assert prompts[0].startswith("<|im_start|>system\n" + SYSTEM + "\n\n# Tools")


# ---- LangChain ----------------------------------------------------------------------------------


def langchain_tools(ran):
    @langchain_tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        ran.append(("get_weather", city))
        return weather(city)

    @langchain_tool
    def get_time(city: str, utc_offset: int) -> str:
        """The local time of a city."""
        ran.append(("get_time", city, utc_offset))
        return local_time(city, utc_offset)

    return [get_weather, get_time]


def chat_openai(s):
    return ChatOpenAI(model=MODEL, base_url=s.v1, api_key="unused", max_retries=0, max_tokens=100)


@pytest.mark.parametrize("streaming", [False, True], ids=["invoke", "stream"])
def test_langchain_bind_tools_round_trip(start_server, tmp_path, streaming):
    ran = []
    tools = langchain_tools(ran)
    by_name = {t.name: t for t in tools}
    s = Scripted(start_server, tmp_path, SEQUENTIAL)
    llm = chat_openai(s).bind_tools(tools)

    def ask(messages):
        if not streaming:
            return llm.invoke(messages)
        whole = None
        for chunk in llm.stream(messages):
            whole = chunk if whole is None else whole + chunk
        return whole

    messages = [SystemMessage(SYSTEM), HumanMessage(QUESTION)]
    for want in [("get_weather", {"city": "Paris"}), ("get_time", {"city": "Paris", "utc_offset": 1})]:
        ai = ask(messages)
        assert isinstance(ai, AIMessage)
        assert [(c["name"], c["args"]) for c in ai.tool_calls] == [want]
        if streaming:  # the chunks' tool_call_chunks assembled into one call with the whole arguments
            assert len(ai.tool_call_chunks) == 1
            assert json.loads(ai.tool_call_chunks[0]["args"]) == want[1]
        messages.append(ai)
        for c in ai.tool_calls:
            messages.append(ToolMessage(by_name[c["name"]].invoke(c["args"]), tool_call_id=c["id"]))
    final = ask(messages)
    assert final.content == FINAL and not final.tool_calls
    assert ran == [("get_weather", "Paris"), ("get_time", "Paris", 1)]
    check_sequential_prompts(s.finished())


@pytest.mark.parametrize("streaming", [False, True], ids=["invoke", "stream"])
def test_langchain_prebuilt_agent(start_server, tmp_path, streaming):
    ran = []
    s = Scripted(start_server, tmp_path, SEQUENTIAL)
    agent = create_agent(model=chat_openai(s), tools=langchain_tools(ran), system_prompt=SYSTEM)
    question = {"messages": [{"role": "user", "content": QUESTION}]}
    if not streaming:
        result = agent.invoke(question)
        assert result["messages"][-1].content == FINAL
    else:
        by_id = {}  # the model's streamed messages, assembled per message id
        for chunk, meta in agent.stream(question, stream_mode="messages"):
            if isinstance(chunk, AIMessageChunk):
                by_id[chunk.id] = chunk if chunk.id not in by_id else by_id[chunk.id] + chunk
        streamed = list(by_id.values())
        assert len(streamed) == 3
        assert [[(c["name"], c["args"]) for c in m.tool_calls] for m in streamed] == [
            [("get_weather", {"city": "Paris"})], [("get_time", {"city": "Paris", "utc_offset": 1})], []]
        assert streamed[-1].content == FINAL
    assert ran == [("get_weather", "Paris"), ("get_time", "Paris", 1)]
    check_sequential_prompts(s.finished())


# ---- OpenAI SDK -------------------------------------------------------------------------------

PARALLEL = [call("get_weather", city="Paris") + "\n" + call("get_time", city="Paris", utc_offset=1), FINAL]


@pytest.mark.parametrize("streaming", [False, True], ids=["create", "stream"])
def test_openai_sdk_parallel_calls_loop(start_server, tmp_path, streaming):
    s = Scripted(start_server, tmp_path, PARALLEL)
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]

    def ask():
        if not streaming:
            return client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, max_tokens=100)
        with client.chat.completions.stream(model=MODEL, messages=messages, tools=TOOLS, max_tokens=100) as st:
            for _ in st:
                pass
            return st.get_final_completion()

    first = ask()
    msg = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    # Not streamed: null. Streamed: the SDK joins the deltas' content, "" when the role delta carries
    # "content": "" as vLLM's does.
    assert msg.content is None if not streaming else not msg.content
    assert [(c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Paris", "utc_offset": 1})]
    assert len({c.id for c in msg.tool_calls}) == 2
    # Sent back as the SDK returns it: content null, refusal null and whatever else it carries.
    messages.append(msg.model_dump())
    for c in msg.tool_calls:
        messages.append({"role": "tool", "tool_call_id": c.id,
                         "content": RUN[c.function.name](json.loads(c.function.arguments))})
    final = ask()
    assert final.choices[0].message.content == FINAL
    assert final.choices[0].finish_reason == "stop"
    prompts = s.finished()
    # Both results in one user turn, in order, after the assistant turn that made both calls.
    assert (call("get_weather", city="Paris") + "\n" + call("get_time", city="Paris", utc_offset=1)
            + "<|im_end|>\n<|im_start|>user" + response_block(weather("Paris"))
            + response_block(local_time("Paris", 1)) + "<|im_end|>\n<|im_start|>assistant\n") in prompts[1]
