"""Reasoning and tool-call parsing of chat output on the real server (demo model, Qwen3 tokenizer and
template). A random model emits no think blocks or tool calls by itself: plain answers must keep their
content and gain no reasoning or tool_calls; logit_bias forces the tag tokens where a parse is needed.
The parser's own cases (tool calls, splits, malformed JSON) are C tests in tests/serve/."""
import json

import pytest

from serve_harness import http

MSG = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def token_id(server, text):
    ids = http.post(server.base + "/tokenize", json={"prompt": text}, timeout=30).json()["tokens"]
    assert len(ids) == 1, f"{text} should be one added token, got {ids}"
    return ids[0]


def chat(server, **extra):
    body = {"messages": MSG, "max_tokens": 6, "temperature": 0, "ignore_eos": True, **extra}
    r = http.post(server.v1 + "/chat/completions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]


def chat_stream(server, **extra):
    """The streamed choice accumulated as clients do: texts joined, tool calls grouped by index."""
    body = {"messages": MSG, "max_tokens": 6, "temperature": 0, "ignore_eos": True, "stream": True, **extra}
    out = {"content": "", "reasoning_content": None, "tool_calls": {}, "finish_reason": None, "keys": set()}
    with http.stream("POST", server.v1 + "/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for ch in chunk["choices"]:
                delta = ch["delta"]
                out["keys"] |= set(delta)
                out["content"] += delta.get("content") or ""
                if "reasoning_content" in delta:
                    assert delta["reasoning"] == delta["reasoning_content"]
                    out["reasoning_content"] = (out["reasoning_content"] or "") + delta["reasoning_content"]
                for tc in delta.get("tool_calls") or []:
                    out["tool_calls"].setdefault(tc["index"], []).append(tc)
                if ch["finish_reason"]:
                    out["finish_reason"] = ch["finish_reason"]
    return out


@pytest.mark.parametrize("tools", [None, TOOLS])
def test_plain_answer_has_content_only(server, tools):
    extra = {"tools": tools} if tools else {}
    whole = chat(server, **extra)
    msg = whole["message"]
    assert isinstance(msg["content"], str) and msg["content"]
    assert "reasoning_content" not in msg and "reasoning" not in msg
    assert "tool_calls" not in msg
    assert whole["finish_reason"] == "length"
    parts = chat_stream(server, **extra)
    assert parts["content"] == msg["content"]
    assert parts["keys"] <= {"role", "content"}
    assert parts["finish_reason"] == "length"


def test_forced_think_tokens_become_reasoning(server):
    think = token_id(server, "<think>")
    bias = {"logit_bias": {str(think): 100}}
    whole = chat(server, **bias)
    msg = whole["message"]
    # The first <think> opens the block; the rest, never closed, is reasoning (the output was cut).
    assert msg["reasoning_content"] == "<think>" * 5 == msg["reasoning"]
    assert msg["content"] == ""
    assert whole["finish_reason"] == "length"
    parts = chat_stream(server, **bias)
    assert parts["reasoning_content"] == msg["reasoning_content"]
    assert parts["content"] == "" and parts["finish_reason"] == "length"


def test_thinking_disabled_leaves_think_tags_in_content(server):
    think = token_id(server, "<think>")
    extra = {"logit_bias": {str(think): 100}, "chat_template_kwargs": {"enable_thinking": False}}
    msg = chat(server, **extra)["message"]
    assert msg["content"] == "<think>" * 6
    assert "reasoning_content" not in msg
    assert chat_stream(server, **extra)["content"] == "<think>" * 6


@pytest.mark.parametrize("tool_choice", ["auto", "none"])
def test_malformed_tool_calls_stay_content(server, tool_choice):
    tag = token_id(server, "<tool_call>")
    extra = {"logit_bias": {str(tag): 100}, "tools": TOOLS, "tool_choice": tool_choice}
    whole = chat(server, **extra)
    # <tool_call> is an added token but not special: it survives skip_special_tokens, and a block that
    # holds no JSON call is given back as text, not dropped.
    assert whole["message"]["content"] == "<tool_call>" * 6
    assert "tool_calls" not in whole["message"]
    assert whole["finish_reason"] == "length"
    parts = chat_stream(server, **extra)
    assert parts["content"] == "<tool_call>" * 6
    assert parts["tool_calls"] == {} and parts["finish_reason"] == "length"
