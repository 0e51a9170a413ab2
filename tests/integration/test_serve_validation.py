"""Invalid requests through the real binary: 400 in the OpenAI envelope naming the field."""
import httpx
import pytest

from serve_harness import http


def error(r, status):
    assert r.status_code == status, r.text
    e = r.json()["error"]
    assert set(e) == {"message", "type", "param", "code"}
    return e


def test_context_length_exceeded(server):
    r = http.post(server.v1 + "/chat/completions", json={
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000})
    e = error(r, 400)
    assert e["code"] == "context_length_exceeded"


@pytest.mark.parametrize("body,param", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
    ({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}},
     "stream_options"),
    ({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}, "top_logprobs"),
])
def test_bad_fields_name_the_param(server, body, param):
    e = error(http.post(server.v1 + "/chat/completions", json=body), 400)
    assert param in (e["param"] or "") or param in e["message"]


def test_bad_json(server):
    error(http.post(server.v1 + "/chat/completions", content=b"{nope",
                     headers={"content-type": "application/json"}), 400)


def test_prompt_token_ids_outside_vocab(server):
    e = error(http.post(server.v1 + "/completions", json={"prompt": [1, 2, 10**9], "max_tokens": 2}), 400)
    assert e["param"] == "prompt"


def test_wrong_method_and_size(start_server):
    server = start_server("--max-body-bytes", "2048")
    assert http.get(server.v1 + "/chat/completions").status_code == 405
    big = {"messages": [{"role": "user", "content": "x" * 5000}]}
    assert http.post(server.v1 + "/chat/completions", json=big).status_code == 413


def test_developer_role_and_text_parts(server):
    r = http.post(server.v1 + "/chat/completions", json={
        "messages": [{"role": "developer", "content": "Be brief."},
                     {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "tools": [], "max_tokens": 2})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path,base", [
    ("/chat/completions", {"messages": [{"role": "user", "content": "x"}]}),
    ("/completions", {"prompt": "x"}),
])
@pytest.mark.parametrize("extra,param,words", [
    ({"logit_bias": {"9999999": 5}}, "logit_bias", "outside the vocabulary"),
    ({"logit_bias": {str(i): 1 for i in range(513)}}, "logit_bias", "at most 512"),
    ({"stop_token_ids": [9999999]}, "stop_token_ids", "outside the vocabulary"),
    ({"stop_token_ids": list(range(300))}, "stop_token_ids", "at most"),
])
def test_token_id_lists_are_checked_not_truncated(server, path, base, extra, param, words):
    e = error(http.post(server.v1 + path, json={**base, "max_tokens": 2, **extra}), 400)
    assert e["param"] == param and words in e["message"], e


def test_largest_accepted_token_id_lists(server):
    r = http.post(server.v1 + "/completions", json={
        "prompt": "x", "max_tokens": 2, "logit_bias": {str(i): 1 for i in range(512)},
        "stop_token_ids": list(range(100, 200))})
    assert r.status_code == 200, r.text
