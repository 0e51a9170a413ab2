"""--tool-call-parser on the real server: the format detected from the model's chat template (the
demo model's tokenizer_config.json carrying the real Llama 3.2, Mistral-Nemo or Qwen3 template, one
log line saying which), the flag overriding it, an unknown name refused with the list of names, and
tool parsing through HTTP (a random model writes no calls by itself: logit_bias forces '{', which
llama3_json must hold back and then give back as content, streamed and not alike). The formats'
own cases are C tests in tests/serve/test_output_parser.c."""
import json
import subprocess

import pytest

from berth_process import BERTH, SHARED, make_demo_model
from serve_harness import BerthServer, http

TEMPLATES = SHARED / "data" / "chat-templates"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def model_with_template(tmp_path_factory, template_file):
    out = make_demo_model(tmp_path_factory.mktemp("models") / "demo", seed=7, max_pos=1024)
    if template_file:
        path = TEMPLATES / template_file
        assert path.exists(), f"{path} is missing"
        config = out / "tokenizer_config.json"
        cfg = json.loads(config.read_text(encoding="utf-8"))
        cfg["chat_template"] = path.read_text(encoding="utf-8")
        config.write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    return out


def parser_line(server):
    lines = [line for line in server.log if "tool-call parser" in line]
    assert len(lines) == 1, server.text()
    return lines[0]


@pytest.mark.parametrize("template, want", [
    (None, "hermes (the chat template writes <tool_call>)"),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3_json (the chat template is Llama 3's"),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral (the chat template writes [TOOL_CALLS])"),
])
def test_detected_from_the_chat_template(tmp_path_factory, template, want):
    s = BerthServer(model_with_template(tmp_path_factory, template))
    try:
        assert "tool-call parser " + want in parser_line(s)
    finally:
        s.stop()


def test_flag_overrides_detection(start_server):
    s = start_server("--tool-call-parser", "llama3_json")
    assert "tool-call parser llama3_json (given by --tool-call-parser)" in parser_line(s)


@pytest.mark.parametrize("args, env", [(["--tool-call-parser", "llama3"], {}), ([], {"BERTH_TOOL_CALL_PARSER": "qwen"})])
def test_unknown_name_is_refused(demo_model, args, env):
    import os
    r = subprocess.run([str(BERTH), "serve", "--model", str(demo_model), *args], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **env})
    assert r.returncode != 0
    assert "is not one of hermes, llama3_json, mistral" in r.stderr, r.stderr


def test_help_lists_the_names():
    r = subprocess.run([str(BERTH), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "--tool-call-parser NAME" in r.stdout
    for name in ("hermes", "llama3_json", "mistral"):
        assert name in r.stdout


def chat(server, stream, **extra):
    body = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "max_tokens": 6, "temperature": 0,
            "ignore_eos": True, "stream": stream, **extra}
    if not stream:
        r = http.post(server.v1 + "/chat/completions", json=body, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]
    msg = {"content": "", "tool_calls": []}
    with http.stream("POST", server.v1 + "/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for ch in json.loads(line[6:])["choices"]:
                    msg["content"] += ch["delta"].get("content") or ""
                    msg["tool_calls"] += ch["delta"].get("tool_calls") or []
    return msg


def test_llama3_json_unfinished_object_is_content(start_server):
    s = start_server("--tool-call-parser", "llama3_json")
    ids = http.post(s.base + "/tokenize", json={"prompt": "{"}, timeout=30).json()["tokens"]
    assert len(ids) == 1
    bias = {"logit_bias": {str(ids[0]): 100}, "tools": TOOLS}
    whole = chat(s, False, **bias)
    assert whole["content"] == "{" * 6 and "tool_calls" not in whole
    parts = chat(s, True, **bias)
    assert parts["content"] == whole["content"] and parts["tool_calls"] == []
