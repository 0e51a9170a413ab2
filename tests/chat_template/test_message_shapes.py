"""Agent-loop conversations, shaped as the OpenAI SDK, LangChain and Strands Agents send them, through
berth's request parsing and message normalisation (berth-render-template --chat-request, the code
berth serve runs) and three real chat templates with tool support (Qwen3, Llama 3.2, Mistral Nemo).

For every shape and template: berth's template variables equal vLLM's normalisation of the same
messages (reimplemented below from vLLM's chat_utils.py, with berth's two documented differences), the
text berth renders equals Jinja2's rendering of those variables (set up as transformers sets it up),
and every shape a template supports renders without error."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from reference import TEMPLATES, alias_reasoning_fields, cli_path, make_env, render_reference  # noqa: E402

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "The weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "The local time of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "utc_offset": {"type": "integer"}}}}},
]
# Mistral's template wants 9-character tool call ids; the others take any.
ID1, ID2 = "call00001", "call00002"


def tool_call(id_, name, arguments, **extra):
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}, **extra}


WEATHER = tool_call(ID1, "get_weather", '{"city": "Paris"}')
TIME = tool_call(ID2, "get_time", '{"city": "Paris", "utc_offset": 1}')
USER = {"role": "user", "content": "Weather and time in Paris?"}
SYSTEM = {"role": "system", "content": "You answer questions about cities."}

# name -> (messages, templates that cannot render it by design: {template stem: why})
LLAMA, MISTRAL = "meta-llama-Llama-3.2-3B-Instruct", "mistralai-Mistral-Nemo-Instruct-2407"
SHAPES = {
    # OpenAI SDK: message.model_dump() sent back (content null and the SDK's other null fields)
    "openai_sdk_parallel_calls": ([
        SYSTEM, USER,
        {"role": "assistant", "content": None, "refusal": None, "audio": None, "function_call": None,
         "annotations": None, "tool_calls": [dict(WEATHER, index=0), dict(TIME, index=1)]},
        {"role": "tool", "tool_call_id": ID1, "content": "sunny"},
        {"role": "tool", "tool_call_id": ID2, "content": "12:00"},
    ], {LLAMA: "This model only supports single tool-calls at once!"}),
    # Strands Agents: content absent on tool-call turns, tool results as text parts
    "strands_sequential_calls": ([
        SYSTEM, USER,
        {"role": "assistant", "tool_calls": [WEATHER]},
        {"role": "tool", "tool_call_id": ID1, "content": [{"type": "text", "text": "sunny"}]},
        {"role": "assistant", "tool_calls": [TIME]},
        {"role": "tool", "tool_call_id": ID2, "content": [{"type": "text", "text": "12:00"}]},
    ], {}),
    # LangChain: content null with tool calls, a named tool message, the answer, a follow-up question
    "langchain_round_trip": ([
        USER,
        {"role": "assistant", "content": None, "tool_calls": [WEATHER]},
        {"role": "tool", "tool_call_id": ID1, "name": "get_weather", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "And tomorrow?"},
    ], {}),
    # history with a plain assistant turn whose content is null, and one given as text parts
    "assistant_null_and_parts": ([
        USER,
        {"role": "assistant", "content": None},
        {"role": "user", "content": "Please answer."},
        {"role": "assistant", "content": [{"type": "text", "text": "Sunny"}, {"type": "text", "text": "and warm."}]},
        {"role": "user", "content": "Thanks."},
    ], {}),
    # reasoning kept on assistant history, a developer message first
    "reasoning_and_developer": ([
        {"role": "developer", "content": "Be brief."}, USER,
        {"role": "assistant", "content": "Sunny.", "reasoning_content": "The user wants the weather."},
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "content": "Noon.", "reasoning": "Look at the clock."},
        {"role": "user", "content": "Thanks."},
    ], {}),
    # arguments that are not a JSON object reach the template as the string sent; an object as such
    "odd_arguments": ([
        USER,
        {"role": "assistant", "content": "", "tool_calls": [tool_call(ID1, "get_weather", "not json")]},
        {"role": "tool", "tool_call_id": ID1, "content": "error: bad arguments"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call(ID2, "get_weather", {"city": "Paris"})]},
        {"role": "tool", "tool_call_id": ID2, "content": "sunny"},
    ], {}),
}
TEMPLATE_FILES = ["Qwen-Qwen3-0.6B", LLAMA, MISTRAL]
SPECIAL = {"Qwen-Qwen3-0.6B": {"eos_token": "<|im_end|>"},
           LLAMA: {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
           MISTRAL: {"bos_token": "<s>", "eos_token": "</s>"}}


def vllm_normalise(messages):
    """vLLM's _parse_chat_message_content with the "string" content format, then
    _postprocess_messages, then transformers' _alias_reasoning_fields. berth's differences (docs/api.md):
    "developer" becomes "system", and arguments that are not a JSON object stay the string sent
    (vLLM gives {} for invalid JSON and passes lists and numbers through)."""
    out = []
    for m in messages:
        role, content = m["role"], m.get("content")
        parts = [] if content is None else [content] if isinstance(content, str) else [
            p["text"] if p["type"] == "text" else p["refusal"] for p in content]
        msg = {"role": "system" if role == "developer" else role, "content": "\n".join(parts)}
        if role == "assistant":
            if m.get("tool_calls") is not None:
                msg["tool_calls"] = [{"id": c["id"], "type": "function",
                                      "function": {"name": c["function"]["name"],
                                                   "arguments": c["function"].get("arguments")}}
                                     for c in m["tool_calls"]]
            reasoning = m.get("reasoning_content", m.get("reasoning"))
            if reasoning is not None:
                msg["reasoning"] = msg["reasoning_content"] = reasoning
        elif role == "tool":
            msg["tool_call_id"] = m["tool_call_id"]
        if isinstance(m.get("name"), str):
            msg["name"] = m["name"]
        out.append(msg)
    for msg in out:  # _postprocess_messages
        if not msg.get("tool_calls") and "tool_calls" in msg:
            del msg["tool_calls"]
        for c in msg.get("tool_calls", []):
            fn = c["function"]
            if isinstance(fn["arguments"], str):
                try:
                    parsed = json.loads(fn["arguments"])
                except json.JSONDecodeError:
                    parsed = None
                if isinstance(parsed, dict):
                    fn["arguments"] = parsed
            elif fn["arguments"] is None:
                fn["arguments"] = {}
    return alias_reasoning_fields(out)


def berth_render(template_path, requests, special):
    args = [str(cli_path()), "--chat-request"]
    for key, flag in (("bos_token", "--bos-token"), ("eos_token", "--eos-token")):
        if key in special:
            args += [flag, special[key]]
    payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in requests)
    proc = subprocess.run(args + [str(template_path)], input=payload.encode(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode().split("\n")[:-1]
    assert len(lines) == len(requests)
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("stem", TEMPLATE_FILES)
def test_agent_message_shapes_render_as_jinja2(stem):
    path = TEMPLATES / f"{stem}.jinja"
    assert path.exists(), f"{path} is missing"
    template = make_env().from_string(path.read_text(encoding="utf-8"))
    names = list(SHAPES)
    requests = [{"messages": SHAPES[n][0], "tools": TOOLS} for n in names]
    results = berth_render(path, requests, SPECIAL[stem])
    for name, request, got in zip(names, requests, results):
        messages, unsupported = SHAPES[name]
        assert "variables" in got, f"{name}: berth refused the request: {got['error']}"
        variables = got["variables"]
        assert variables["messages"] == vllm_normalise(messages), name
        # key order is part of what a template sees (tojson, items())
        assert json.dumps(variables["messages"]) == json.dumps(vllm_normalise(messages)), name
        assert variables["tools"] == TOOLS and variables["add_generation_prompt"] is True
        want = render_reference(template, variables)
        if stem in unsupported:
            assert not want[0] and unsupported[stem] in want[1], f"{name}: Jinja2 gave {want}"
            assert not got["ok"] and unsupported[stem] in got["error"], f"{name}: berth gave {got}"
            continue
        assert want[0], f"{name} through {stem}: Jinja2 raised {want[1]}"
        assert got["ok"], f"{name} through {stem}: berth raised {got['error']}"
        assert got["text"] == want[1], f"{name} through {stem}:\nwant {want[1]!r}\ngot  {got['text']!r}"


def test_qwen3_renders_tool_history_as_the_model_wrote_it():
    """The assistant's calls come back as the <tool_call> text the model emitted (arguments printed
    with tojson from an object, not a quoted string) and the results as <tool_response> blocks."""
    path = TEMPLATES / "Qwen-Qwen3-0.6B.jinja"
    messages = SHAPES["openai_sdk_parallel_calls"][0]
    (got,) = berth_render(path, [{"messages": messages, "tools": TOOLS}], {})
    assert got["ok"], got
    assert ("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"
            "\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": \"Paris\", "
            "\"utc_offset\": 1}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nsunny\n"
            "</tool_response>\n<tool_response>\n12:00\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
            ) in got["text"]


@pytest.mark.parametrize("message, param", [
    ({"role": "tool", "content": "sunny"}, "messages[2].tool_call_id"),
    ({"role": "assistant", "tool_calls": {"id": ID1}}, "messages[2].tool_calls"),
    ({"role": "assistant", "tool_calls": [{"id": ID1, "function": {"arguments": "{}"}}]},
     "messages[2].tool_calls[0].function.name"),
])
def test_malformed_agent_messages_are_refused(message, param):
    path = TEMPLATES / "Qwen-Qwen3-0.6B.jinja"
    (got,) = berth_render(path, [{"messages": [SYSTEM, USER, message]}], {})
    assert not got["ok"] and "variables" not in got and param in got["error"], got
