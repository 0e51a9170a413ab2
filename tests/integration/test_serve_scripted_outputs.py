"""The test-only scripted model (berth serve --test-scripted-outputs FILE) keeps its contract: one line
per generation request in arrival order, read again at every request, the text tokenized and ended by
EOS, the same text streamed and not, a refused request takes no line, an exhausted file is a clear 500,
and the flag is off unless given."""
import json

from serve_harness import http, wait_for

MSG = [{"role": "user", "content": "Say something."}]


def chat(server, stream=False, **extra):
    body = {"messages": MSG, "max_tokens": 64, "stream": stream, **extra}
    r = http.post(server.v1 + "/chat/completions", json=body, timeout=60)
    if not stream or r.status_code != 200:
        return r
    text, finish = "", None
    for line in r.text.splitlines():
        if line.startswith("data: {"):
            for ch in json.loads(line[6:])["choices"]:
                text += ch["delta"].get("content") or ""
                finish = ch["finish_reason"] or finish
    return text, finish


def taken(server):
    return [json.loads(line.split("test-scripted-outputs: ", 1)[1]) for line in list(server.log)
            if "test-scripted-outputs: {" in line]


def test_outputs_in_order_appended_between_turns(start_server, tmp_path):
    path = tmp_path / "outputs.jsonl"
    path.write_text(json.dumps("Hello there, friend.") + "\n\n", encoding="utf-8")
    s = start_server("--test-scripted-outputs", path)
    assert "TEST ONLY" in s.text()
    r = chat(s)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["message"]["content"] == "Hello there, friend." and choice["finish_reason"] == "stop"
    ids = http.post(s.base + "/tokenize", json={"prompt": "Hello there, friend."}, timeout=30).json()["tokens"]
    assert r.json()["usage"]["completion_tokens"] == len(ids) + 1  # and the end-of-sequence token
    # A refused request (max_tokens 0 is a 400) takes no line.
    assert chat(s, max_tokens=0).status_code == 400
    # The next turn's output appended now; streamed; then a completion request takes the third line.
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps("Second <tool_call> turn.") + "\n" + json.dumps(" a completion") + "\n")
    assert chat(s, stream=True) == ("Second <tool_call> turn.", "stop")
    r = http.post(s.v1 + "/completions", json={"prompt": "Once", "max_tokens": 20}, timeout=60)
    assert r.status_code == 200 and r.json()["choices"][0]["text"] == " a completion", r.text
    assert wait_for(lambda: len(taken(s)) == 3)
    lines = taken(s)
    assert [t["line"] for t in lines] == [1, 2, 3]
    assert [t["output"] for t in lines] == ["Hello there, friend.", "Second <tool_call> turn.", " a completion"]
    assert lines[0]["prompts"][0].endswith("<|im_start|>user\nSay something.<|im_end|>\n<|im_start|>assistant\n")
    assert lines[2]["prompts"] == ["Once"]
    # Exhausted: a 500 naming the file, until a line is added.
    r = chat(s)
    assert r.status_code == 500 and str(path) in r.json()["error"]["message"], r.text
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps("Back.") + "\n")
    assert chat(s).json()["choices"][0]["message"]["content"] == "Back."


def test_bad_line_is_a_clear_error(start_server, tmp_path):
    path = tmp_path / "outputs.jsonl"
    path.write_text('{"text": "not a string"}\n', encoding="utf-8")
    s = start_server("--test-scripted-outputs", path)
    r = chat(s)
    assert r.status_code == 500 and "line 1: expected a JSON string" in r.json()["error"]["message"], r.text


def test_off_without_the_flag(server):
    r = chat(server, max_tokens=4, ignore_eos=True)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4
    assert "test-scripted-outputs" not in server.text() and "TEST ONLY" not in server.text()


def test_a_script_is_held_to_the_requests_constraint(start_server, tmp_path):
    """The matcher sees the scripted tokens: a script a constrained model could say passes, one it
    could not (spaces json_object's compact form does not allow) fails as a real model's would."""
    path = tmp_path / "outputs.jsonl"
    path.write_text(json.dumps('{"a":1}') + "\n" + json.dumps('{"a": 1}') + "\n", encoding="utf-8")
    s = start_server("--test-scripted-outputs", path)
    fmt = {"response_format": {"type": "json_object"}}
    r = chat(s, **fmt)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == '{"a":1}', r.text
    r = chat(s, **fmt)
    assert r.status_code == 500 and r.json()["error"]["code"] == "constraint_failed", r.text
