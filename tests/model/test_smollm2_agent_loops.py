"""Agent loops on a real chat model from a GGUF file (SmolLM2-135M-Instruct, its own tokenizer and
ChatML template from the metadata; the template shows neither tools nor tool calls, so berth parses
calls in the default hermes format): Strands Agents (streamed, its default), LangChain's prebuilt
agent and the OpenAI SDK run their loops against `berth serve --model FILE.gguf`.

The Strands and LangChain loops use the test-only scripted model (docs/api.md) for the calls; the
OpenAI SDK loop is the model's own: tool_choice required makes SmolLM2 write a valid call (the
grammar), and then it answers from the result. Here rather than in tests/integration: a 135M model
is too slow for the sanitizer pass, and these loops run the same server code as the demo model's
(tests/integration/test_agent_loops.py, test_agent_requests.py), which the sanitizers do cover."""
import json
from pathlib import Path

import openai
import pytest
from langchain.agents import create_agent
from langchain_core.tools import tool as langchain_tool
from langchain_openai import ChatOpenAI
from strands import Agent
from strands import tool as strands_tool
from strands.models.openai import OpenAIModel

from berth_process import BerthServer, need, wait_for

ROOT = Path(__file__).resolve().parents[2]
GGUF = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
QUESTION = "What is the weather and the local time in Paris?"
FINAL = "It is sunny in Paris and the local time is 12:00."


def call(name, **args):
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


SEQUENTIAL = [call("get_weather", city="Paris"), call("get_time", city="Paris", utc_offset=1), FINAL]


@pytest.fixture
def scripted(tmp_path):
    need(GGUF, "the SmolLM2 GGUF (tools/fetch_data.sh)")
    started = []

    def start(outputs):
        path = tmp_path / "outputs.jsonl"
        path.write_text("".join(json.dumps(o) + "\n" for o in outputs), encoding="utf-8")
        s = BerthServer(GGUF, "--backend", "cpu", "--max-model-len", "1024", "--test-scripted-outputs", path)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def prompts(server, n):
    """The n rendered prompts the scripted requests logged (every output taken, none failed)."""
    def logged():
        return [json.loads(line.split("test-scripted-outputs: ", 1)[1])["prompts"][0]
                for line in list(server.log) if "test-scripted-outputs: {" in line]
    assert wait_for(lambda: len(logged()) == n), server.text()
    assert "no output left" not in server.text()
    return logged()


def check_chatml_prompts(got):
    """SmolLM2's template: each request re-sends the history unchanged, the tool results as
    `tool` turns (the calls themselves are not rendered by this template: empty assistant turns)."""
    assert len(got) == 3
    assert got[1].startswith(got[0][:-len("<|im_start|>assistant\n")])
    assert "<|im_start|>tool\nsunny in Paris<|im_end|>" in got[1]
    assert got[2].startswith(got[1][:-len("<|im_start|>assistant\n")])
    assert "<|im_start|>tool\n12:00 in Paris (UTC+1)<|im_end|>" in got[2]


def test_strands_agent_streamed(scripted):
    ran = []

    @strands_tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        ran.append("get_weather")
        return f"sunny in {city}"

    @strands_tool
    def get_time(city: str, utc_offset: int) -> str:
        """The local time of a city."""
        ran.append("get_time")
        return f"12:00 in {city} (UTC+{utc_offset})"

    s = scripted(SEQUENTIAL)
    model = OpenAIModel(client_args={"base_url": s.v1, "api_key": "unused", "max_retries": 0},
                        model_id="smollm2", params={"max_tokens": 100})
    agent = Agent(model=model, tools=[get_weather, get_time], system_prompt="Be brief.", callback_handler=None)
    assert str(agent(QUESTION)).strip() == FINAL
    assert ran == ["get_weather", "get_time"]
    got = prompts(s, 3)
    check_chatml_prompts(got)
    assert got[0].startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n" + QUESTION)


def test_langchain_agent_streamed(scripted):
    """Streamed (ChatOpenAI(streaming=True)); not streamed is the demo model's test_agent_loops.py."""
    ran = []

    @langchain_tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        ran.append("get_weather")
        return f"sunny in {city}"

    @langchain_tool
    def get_time(city: str, utc_offset: int) -> str:
        """The local time of a city."""
        ran.append("get_time")
        return f"12:00 in {city} (UTC+{utc_offset})"

    s = scripted(SEQUENTIAL)
    llm = ChatOpenAI(model="smollm2", base_url=s.v1, api_key="unused", max_retries=0, max_tokens=100,
                     streaming=True)
    agent = create_agent(model=llm, tools=[get_weather, get_time], system_prompt="Be brief.")
    result = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})
    assert result["messages"][-1].content == FINAL
    assert ran == ["get_weather", "get_time"]
    check_chatml_prompts(prompts(s, 3))


def test_openai_sdk_loop_of_the_model_itself():
    """No script: tool_choice required makes SmolLM2 call get_weather (a valid call, streamed), the
    result goes back, and under auto the model answers in text (or calls again, also valid)."""
    need(GGUF, "the SmolLM2 GGUF (tools/fetch_data.sh)")
    s = BerthServer(GGUF, "--backend", "cpu", "--max-model-len", "1024")
    try:
        client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
        tools = [{"type": "function", "function": {
            "name": "get_weather", "description": "The weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                           "required": ["city"], "additionalProperties": False}}}]
        messages = [{"role": "user", "content": "What is the weather in Paris?"}]
        with client.chat.completions.stream(model="smollm2", messages=messages, tools=tools, tool_choice="required",
                                            parallel_tool_calls=False, temperature=0, max_tokens=60,
                                            stream_options={"include_usage": True}) as st:
            for _ in st:
                pass
            first = st.get_final_completion()
        msg = first.choices[0].message
        assert first.choices[0].finish_reason == "tool_calls", first
        assert not msg.content and len(msg.tool_calls) == 1
        assert msg.tool_calls[0].function.name == "get_weather"
        args = json.loads(msg.tool_calls[0].function.arguments)
        assert isinstance(args.get("city"), str)
        messages += [msg.model_dump(), {"role": "tool", "tool_call_id": msg.tool_calls[0].id,
                                        "content": f"sunny in {args['city']}"}]
        final = client.chat.completions.create(model="smollm2", messages=messages, tools=tools, temperature=0,
                                               max_tokens=40)
        ch = final.choices[0]
        assert ch.finish_reason in ("stop", "length", "tool_calls")
        if ch.message.tool_calls:
            json.loads(ch.message.tool_calls[0].function.arguments)
        else:
            assert ch.message.content
    finally:
        s.stop()


def test_every_message_shape_renders(scripted):
    """The shapes clients send back (tests/integration/test_agent_requests.py has them on Qwen3's
    template) through a template that concatenates `message['content']`: text parts joined, null
    content as "" (as vLLM renders it), developer as system."""
    s = scripted([FINAL])
    parts = lambda *t: [{"type": "text", "text": x} for x in t]  # noqa: E731
    messages = [
        {"role": "system", "content": parts("Be", "brief.")},
        {"role": "user", "content": parts("Weather", "in Paris?"), "name": "ann"},
        {"role": "assistant", "content": parts("Let me look."), "reasoning_content": "r", "name": "bot",
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": parts("sunny", "22 C")},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": "rain later"},
        {"role": "developer", "content": parts("Answer now.")},
    ]
    client = openai.OpenAI(base_url=s.v1, api_key="unused", max_retries=0)
    r = client.chat.completions.create(model="smollm2", messages=messages, max_tokens=50)
    assert r.choices[0].message.content == FINAL
    (prompt,) = prompts(s, 1)
    assert prompt == ("<|im_start|>system\nBe\nbrief.<|im_end|>\n<|im_start|>user\nWeather\nin Paris?<|im_end|>\n"
                      "<|im_start|>assistant\nLet me look.<|im_end|>\n<|im_start|>tool\nsunny\n22 C<|im_end|>\n"
                      "<|im_start|>assistant\n<|im_end|>\n<|im_start|>tool\nrain later<|im_end|>\n"
                      "<|im_start|>system\nAnswer now.<|im_end|>\n<|im_start|>assistant\n")


def test_langchain_function_calling_structured_output_gets_only_declared_keys():
    """No script: LangChain's with_structured_output(method="function_calling") sends the pydantic
    schema without additionalProperties and without strict, and forces the call by name. SmolLM2
    used to invent keys there until max_tokens (berth allowed extra keys, as the JSON Schema spec
    does); with vLLM's default (only the declared keys) it writes a call that parses into the model."""
    from pydantic import BaseModel, Field

    class Weather(BaseModel):
        """The weather of a city."""
        city: str = Field(max_length=20)
        sunny: bool

    need(GGUF, "the SmolLM2 GGUF (tools/fetch_data.sh)")
    s = BerthServer(GGUF, "--backend", "cpu", "--max-model-len", "1024")
    try:
        llm = ChatOpenAI(model="smollm2", base_url=s.v1, api_key="unused", max_retries=0, max_tokens=60,
                         temperature=0)
        out = llm.with_structured_output(Weather, method="function_calling", include_raw=True).invoke(
            "Is it sunny in Paris?")
        assert out["parsing_error"] is None, out
        assert isinstance(out["parsed"], Weather)
        (tc,) = out["raw"].tool_calls
        assert set(tc["args"]) <= {"city", "sunny"}, tc
    finally:
        s.stop()
