"""Request validation over HTTP: every invalid field is a 400 whose error names the field (param),
including the context-length check (code context_length_exceeded)."""
import httpx
import pytest

MSG = [{"role": "user", "content": "hello there"}]

CHAT_CASES = [
    ({}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": "hi"}, "messages"),
    ({"messages": [1]}, "messages[0]"),
    ({"messages": [{"content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x", "tool_calls": []}]}, "messages[0].tool_calls"),
    ({"messages": MSG, "model": 3}, "model"),
    ({"messages": MSG, "stream": "yes"}, "stream"),
    ({"messages": MSG, "stream_options": {"include_usage": True}}, "stream_options"),
    ({"messages": MSG, "stream": True, "stream_options": {"include_usage": 1}},
     "stream_options.include_usage"),
    ({"messages": MSG, "temperature": 2.5}, "temperature"),
    ({"messages": MSG, "temperature": "hot"}, "temperature"),
    ({"messages": MSG, "top_p": 0}, "top_p"),
    ({"messages": MSG, "top_p": 1.5}, "top_p"),
    ({"messages": MSG, "top_k": -2}, "top_k"),
    ({"messages": MSG, "top_k": 1.5}, "top_k"),
    ({"messages": MSG, "min_p": 2}, "min_p"),
    ({"messages": MSG, "presence_penalty": 3}, "presence_penalty"),
    ({"messages": MSG, "frequency_penalty": -3}, "frequency_penalty"),
    ({"messages": MSG, "repetition_penalty": 0}, "repetition_penalty"),
    ({"messages": MSG, "n": 0}, "n"),
    ({"messages": MSG, "n": 129}, "n"),
    ({"messages": MSG, "seed": "x"}, "seed"),
    ({"messages": MSG, "max_tokens": 0}, "max_tokens"),
    ({"messages": MSG, "max_completion_tokens": -1}, "max_completion_tokens"),
    ({"messages": MSG, "max_tokens": 5, "min_tokens": 6}, "min_tokens"),
    ({"messages": MSG, "stop": 5}, "stop"),
    ({"messages": MSG, "stop": ["a", 1]}, "stop"),
    ({"messages": MSG, "stop_token_ids": [1, -1]}, "stop_token_ids"),
    ({"messages": MSG, "logit_bias": {"abc": 1}}, "logit_bias"),
    ({"messages": MSG, "logit_bias": {"5": 101}}, "logit_bias"),
    ({"messages": MSG, "logprobs": 1}, "logprobs"),
    ({"messages": MSG, "top_logprobs": 2}, "top_logprobs"),
    ({"messages": MSG, "logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"messages": MSG, "ignore_eos": "no"}, "ignore_eos"),
    ({"messages": MSG, "tools": {}}, "tools"),
    ({"messages": MSG, "tools": [{"type": "retrieval"}]}, "tools[0]"),
    ({"messages": MSG, "tool_choice": "sometimes"}, "tool_choice"),
    ({"messages": MSG, "tool_choice": "required", "tools": []}, "tool_choice"),
    ({"messages": MSG, "tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
    ({"messages": MSG, "chat_template_kwargs": []}, "chat_template_kwargs"),
    ({"messages": MSG, "response_format": {"type": "json_schema", "json_schema": {}}}, "response_format.json_schema.schema"),
]

COMPLETION_CASES = [
    ({}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"prompt": [[]]}, "prompt"),
    ({"prompt": [1, "a"]}, "prompt"),
    ({"prompt": [-1]}, "prompt"),
    ({"prompt": "x", "echo": 1}, "echo"),
    ({"prompt": "x", "suffix": "tail"}, "suffix"),
    ({"prompt": "x", "best_of": 3}, "best_of"),
    ({"prompt": "x", "logprobs": 21}, "logprobs"),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
]


def check(server, path, body, param):
    r = httpx.post(server.base + path, json=body)
    assert r.status_code == 400, (body, r.text)
    err = r.json()["error"]
    assert err["param"] == param, (body, err)
    assert err["type"] == "invalid_request_error"
    assert isinstance(err["code"], str) and err["message"]
    return err


@pytest.mark.parametrize("body,param", CHAT_CASES)
def test_chat_field_errors_name_the_field(server, body, param):
    check(server, "/v1/chat/completions", body, param)


@pytest.mark.parametrize("body,param", COMPLETION_CASES)
def test_completion_field_errors_name_the_field(server, body, param):
    check(server, "/v1/completions", body, param)


def test_valid_extras_are_accepted(server):
    body = {"messages": [{"role": "developer", "content": "be brief"},
                         {"role": "user", "content": [{"type": "text", "text": "a b"}]},
                         {"role": "assistant", "content": None, "reasoning_content": "hmm",
                          "tool_calls": [{"id": "c1", "type": "function",
                                          "function": {"name": "f", "arguments": "{}"}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "42"},
                         {"role": "user", "content": "c d"}],
            "model": "", "tools": [], "tool_choice": "auto", "top_k": -1, "min_p": 0.1, "seed": 7,
            "repetition_penalty": 1.1, "logit_bias": {"5": -100}, "stop": "zzz",
            "stop_token_ids": [1], "ignore_eos": False, "min_tokens": 1, "logprobs": True,
            "top_logprobs": 0, "skip_special_tokens": True, "include_stop_str_in_output": False,
            "chat_template_kwargs": {"enable_thinking": False}, "response_format": {"type": "text"},
            "user": "someone", "parallel_tool_calls": True, "max_completion_tokens": 10,
            "max_tokens": 1}
    r = httpx.post(server.base + "/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    # max_completion_tokens wins over max_tokens
    assert r.json()["choices"][0]["message"]["content"] == "c d"


def test_context_length_exceeded(start_server):
    s = start_server("--max-model-len", "10")
    body = {"messages": [{"role": "user", "content": "one two three four"}], "max_tokens": 7}
    r = httpx.post(s.base + "/v1/chat/completions", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "context_length_exceeded" and err["param"] == "messages"
    assert "10" in err["message"]
    body["max_tokens"] = 6
    assert httpx.post(s.base + "/v1/chat/completions", json=body).status_code == 200
    r = httpx.post(s.base + "/v1/completions", json={"prompt": " ".join("w" * 10)})
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert r.json()["error"]["param"] == "prompt"
