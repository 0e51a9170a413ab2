"""Structured outputs and enforced tool choice on the real server with the random-weight demo model:
a constraint makes even random weights produce valid output. Schemas whose instances must end
(enums, booleans, bounded integers, maxLength strings, maxItems arrays) give outputs that parse and
validate with jsonschema, streaming and not, n = 2, while unconstrained requests running beside
them keep exactly their tokens; tool_choice required / named always produce a valid call; regex,
choice and grammar constraints; bad ones are 400s naming the field. Thinking is turned off
(enable_thinking false): with it on, the constraint would start after </think>, which random
weights never write."""
import json
import math
import re
import threading

import jsonschema
import pytest

from serve_harness import http

NO_THINK = {"chat_template_kwargs": {"enable_thinking": False}}
MSG = [{"role": "user", "content": "Describe a city."}]

SCHEMA = {
    "type": "object",
    "properties": {
        "kind": {"enum": ["town", "city", "village"]},
        "capital": {"type": "boolean"},
        "rank": {"type": "integer", "minimum": -5, "maximum": 120},
        "name": {"type": "string", "maxLength": 6},
        "tags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3},
    },
    "required": ["kind", "capital", "rank", "name", "tags"],
    "additionalProperties": False,
}

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "maxLength": 8},
            "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "set_alarm", "description": "An alarm",
        "parameters": {"type": "object", "properties": {
            "hour": {"type": "integer", "minimum": 0, "maximum": 23},
            "loud": {"type": "boolean"}},
            "required": ["hour", "loud"], "additionalProperties": False}}},
]
TOOL_SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def post(server, body, path="/chat/completions"):
    return http.post(server.v1 + path, json=body, timeout=300)


def chat(server, **extra):
    body = {"messages": MSG, "max_tokens": 120, "seed": 11, **NO_THINK, **extra}
    r = post(server, body)
    assert r.status_code == 200, r.text
    return r.json()


def stream_chat(server, **extra):
    """Per choice index: content joined, tool calls assembled as clients do, finish_reason."""
    body = {"messages": MSG, "max_tokens": 120, "seed": 11, "stream": True, **NO_THINK, **extra}
    out = {}
    with http.stream("POST", server.v1 + "/chat/completions", json=body, timeout=300) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for ch in json.loads(line[6:])["choices"]:
                o = out.setdefault(ch["index"], {"content": "", "calls": {}, "finish": None})
                d = ch["delta"]
                o["content"] += d.get("content") or ""
                for tc in d.get("tool_calls") or []:
                    c = o["calls"].setdefault(tc["index"], {"name": "", "arguments": ""})
                    fn = tc.get("function") or {}
                    c["name"] += fn.get("name") or ""
                    c["arguments"] += fn.get("arguments") or ""
                if ch["finish_reason"]:
                    o["finish"] = ch["finish_reason"]
    return out


def schema_format(schema, strict=True):
    return {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": strict}}


def test_json_schema_validates(server):
    res = chat(server, response_format=schema_format(SCHEMA), n=2, temperature=1.0)
    assert len(res["choices"]) == 2
    for ch in res["choices"]:
        assert ch["finish_reason"] == "stop", ch
        jsonschema.validate(json.loads(ch["message"]["content"]), SCHEMA)


def test_json_schema_streaming_validates(server):
    out = stream_chat(server, response_format=schema_format(SCHEMA), n=2, temperature=1.0)
    assert sorted(out) == [0, 1]
    for o in out.values():
        assert o["finish"] == "stop", o
        jsonschema.validate(json.loads(o["content"]), SCHEMA)


@pytest.mark.parametrize("field", ["guided_json", "structured_outputs"])
def test_vllm_fields_validate(server, field):
    extra = {"guided_json": SCHEMA} if field == "guided_json" else {"structured_outputs": {"json": SCHEMA}}
    for seed in (1, 2, 3):
        ch = chat(server, seed=seed, temperature=1.0, **extra)["choices"][0]
        assert ch["finish_reason"] == "stop", ch
        jsonschema.validate(json.loads(ch["message"]["content"]), SCHEMA)


def test_json_object_starts_an_object(server):
    ch = chat(server, response_format={"type": "json_object"}, max_tokens=8)["choices"][0]
    assert ch["message"]["content"].startswith("{"), ch


def test_regex(server):
    for seed in (1, 2, 3, 4):
        ch = chat(server, seed=seed, temperature=1.0, guided_regex="(yes|no)-[0-9]{2,3}")["choices"][0]
        assert re.fullmatch(r"(yes|no)-[0-9]{2,3}", ch["message"]["content"]), ch
        assert ch["finish_reason"] == "stop"


def test_choice(server):
    for seed in (1, 2, 3, 4):
        ch = chat(server, seed=seed, temperature=1.0,
                  structured_outputs={"choice": ["red", "green", "blue sky"]})["choices"][0]
        assert ch["message"]["content"] in ("red", "green", "blue sky"), ch


def test_grammar(server):
    gbnf = 'root ::= "(" item ("," item)? ")"\nitem ::= [a-c] | "zz"\n'
    for seed in (5, 6, 7):
        ch = chat(server, seed=seed, temperature=1.0, guided_grammar=gbnf)["choices"][0]
        assert re.fullmatch(r"\(([a-c]|zz)(,([a-c]|zz))?\)", ch["message"]["content"]), ch


def test_completions_are_constrained(server):
    r = post(server, {"prompt": "Answer:", "max_tokens": 20, "seed": 3, "temperature": 1.0,
                      "guided_choice": ["alpha", "beta"]}, path="/completions")
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["text"] in ("alpha", "beta")


def unconstrained(server, i):
    body = {"messages": [{"role": "user", "content": f"Tell me something {i}."}], "max_tokens": 24,
            "seed": 100 + i, "temperature": 0.9, "ignore_eos": True, "logprobs": True, **NO_THINK}
    r = post(server, body)
    assert r.status_code == 200, r.text
    ch = r.json()["choices"][0]
    return ch["message"]["content"], [t["logprob"] for t in ch["logprobs"]["content"]]


def test_unconstrained_outputs_unchanged_beside_constrained(server):
    alone = [unconstrained(server, i) for i in range(3)]
    results, errors = {}, []

    def run(fn, key):
        try:
            results[key] = fn()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(lambda i=i: unconstrained(server, i), ("u", i)))
               for i in range(3)]
    threads += [threading.Thread(target=run, args=(
        lambda k=k: chat(server, seed=k, temperature=1.0, n=2, response_format=schema_format(SCHEMA)),
        ("c", k))) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(3):
        assert results[("u", i)] == alone[i], f"unconstrained request {i} changed beside constrained ones"
    for k in range(3):
        for ch in results[("c", k)]["choices"]:
            jsonschema.validate(json.loads(ch["message"]["content"]), SCHEMA)


def check_calls(calls, only=None, most=None):
    assert calls, "no tool call"
    if most is not None:
        assert len(calls) <= most
    for c in calls:
        name, args = c["name"], c["arguments"]
        assert name in TOOL_SCHEMAS and (only is None or name == only), name
        jsonschema.validate(json.loads(args), TOOL_SCHEMAS[name])


@pytest.mark.parametrize("choice", ["required", "named"])
def test_tool_choice_enforced(server, choice):
    tc = "required" if choice == "required" else {"type": "function", "function": {"name": "set_alarm"}}
    only = None if choice == "required" else "set_alarm"
    for seed in (1, 2):
        ch = chat(server, seed=seed, temperature=1.0, tools=TOOLS, tool_choice=tc, max_tokens=200)["choices"][0]
        assert ch["finish_reason"] == "tool_calls", ch
        check_calls([tc_["function"] for tc_ in ch["message"]["tool_calls"]], only,
                    1 if choice == "named" else None)
        out = stream_chat(server, seed=seed, temperature=1.0, tools=TOOLS, tool_choice=tc, max_tokens=200)[0]
        assert out["finish"] == "tool_calls", out
        check_calls(list(out["calls"].values()), only, 1 if choice == "named" else None)


def test_schemas_that_do_not_say_additional_properties_get_only_declared_keys(server):
    """What LangChain's function_calling, plain tools and pydantic's model_json_schema() send: no
    additionalProperties. As vLLM's default backend, berth then allows only the declared keys (a
    tool's function would reject invented ones). (test_json_schema.c checks that a bare
    {"type": "object"} stays free: random weights would wander in it until max_tokens.)"""
    params = {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 8}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"]}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": params}}]
    named = {"type": "function", "function": {"name": "get_weather"}}
    for seed in (1, 2, 3):
        body = dict(seed=seed, temperature=1.0, n=4, max_tokens=200, tools=tools, tool_choice=named)
        for ch in chat(server, **body)["choices"]:
            assert ch["finish_reason"] == "tool_calls", ch
            for tc in ch["message"]["tool_calls"]:
                args = json.loads(tc["function"]["arguments"])
                assert set(args) <= {"city", "unit"} and "city" in args, args
        fmt = schema_format(params, strict=False)
        for ch in chat(server, seed=seed, temperature=1.0, n=4, max_tokens=200, response_format=fmt)["choices"]:
            assert ch["finish_reason"] == "stop", ch
            out = json.loads(ch["message"]["content"])
            assert set(out) <= {"city", "unit"} and "city" in out, out


@pytest.mark.parametrize("fmt", ["llama3_json", "mistral"])
@pytest.mark.parametrize("choice", ["required", "named"])
def test_tool_choice_enforced_in_other_formats(start_server, fmt, choice):
    """With --tool-call-parser llama3_json the calls are Llama 3's {"name", "parameters"} objects,
    with mistral one [TOOL_CALLS][{"name", "arguments"}, ...] array (plain text in this Qwen3
    vocabulary; a special token in Mistral's: tests/serve/test_constraint.c), each enforced by its
    own grammar: the format's parser reads valid calls out of random weights, streamed and not."""
    s = start_server("--tool-call-parser", fmt, "--max-num-seqs", "4")
    tc = "required" if choice == "required" else {"type": "function", "function": {"name": "get_weather"}}
    only = None if choice == "required" else "get_weather"
    # One call each (random weights may go on adding calls past max_tokens; several calls in a row
    # are the unit test's: tests/serve/test_constraint.c).
    for seed in (1, 2):
        ch = chat(s, seed=seed, temperature=1.0, tools=TOOLS, tool_choice=tc, parallel_tool_calls=False,
                  max_tokens=200)["choices"][0]
        assert ch["finish_reason"] == "tool_calls", ch
        check_calls([t["function"] for t in ch["message"]["tool_calls"]], only, 1)
        out = stream_chat(s, seed=seed, temperature=1.0, tools=TOOLS, tool_choice=tc, parallel_tool_calls=False,
                          max_tokens=200)[0]
        assert out["finish"] == "tool_calls", out
        check_calls(list(out["calls"].values()), only, 1)


@pytest.mark.parametrize("stream", [False, True])
def test_llama3_json_auto_single_call_is_enforced_once_opened(start_server, stream):
    """llama3_json under auto with parallel_tool_calls false: the output is free text, or, once it
    opens with '{' (forced here with logit_bias), exactly one valid call."""
    s = start_server("--tool-call-parser", "llama3_json", "--max-num-seqs", "4")
    brace = http.post(s.base + "/tokenize", json={"prompt": "{"}, timeout=30).json()["tokens"]
    assert len(brace) == 1
    extra = {"seed": 3, "temperature": 1.0, "tools": TOOLS, "parallel_tool_calls": False, "max_tokens": 200,
             "logit_bias": {str(brace[0]): 100}}
    if stream:
        out = stream_chat(s, **extra)[0]
        assert out["finish"] == "tool_calls", out
        check_calls(list(out["calls"].values()), most=1)
    else:
        ch = chat(s, **extra)["choices"][0]
        assert ch["finish_reason"] == "tool_calls", ch
        check_calls([t["function"] for t in ch["message"]["tool_calls"]], most=1)
    free = chat(s, seed=3, temperature=1.0, tools=TOOLS, parallel_tool_calls=False, max_tokens=12)["choices"][0]
    assert free["message"]["content"] and not free["message"]["content"].lstrip().startswith("{"), free


def test_required_without_parallel_calls_makes_one(server):
    for seed in (4, 5):
        ch = chat(server, seed=seed, temperature=1.0, tools=TOOLS, tool_choice="required",
                  parallel_tool_calls=False, max_tokens=200)["choices"][0]
        check_calls([t["function"] for t in ch["message"]["tool_calls"]], most=1)


def test_tool_choice_none_parses_no_call(server):
    ch = chat(server, tools=TOOLS, tool_choice="none", max_tokens=10)["choices"][0]
    assert not ch["message"].get("tool_calls")


@pytest.mark.parametrize("extra, param", [
    ({"response_format": schema_format({"type": "object", "properties": {"a": {"type": "nosuch"}}})},
     "response_format.json_schema.schema"),
    ({"guided_regex": "(unclosed"}, "guided_regex"),
    ({"guided_grammar": "root ::= missing_rule"}, "guided_grammar"),
    ({"structured_outputs": {"grammar": "root ::= \"a"}}, "structured_outputs.grammar"),
    ({"guided_json": {"type": "string"}, "guided_regex": "a"}, "guided_regex"),
    ({"tools": TOOLS, "tool_choice": "required", "guided_regex": "a"}, "tool_choice"),
])
def test_bad_constraints_are_400s(server, extra, param):
    r = post(server, {"messages": MSG, "max_tokens": 5, **extra})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param, err


def test_logprobs_are_of_the_masked_distribution(server):
    """As vLLM: log-softmax over the allowed tokens; masked ones among the top are -9999.0 (JSON has
    no -inf), and the allowed ones' probabilities sum to 1 when the top list holds them all."""
    ch = chat(server, seed=3, temperature=1.0, guided_choice=["red", "green", "blue sky"], logprobs=True,
              top_logprobs=20)["choices"][0]
    first = ch["logprobs"]["content"][0]
    tops = [t["logprob"] for t in first["top_logprobs"]]
    assert all(isinstance(x, (int, float)) for x in tops), tops
    allowed = [x for x in tops if x > -9999.0]
    assert len(allowed) < 20 and -9999.0 in tops, tops
    assert abs(sum(math.exp(x) for x in allowed) - 1.0) < 1e-3, allowed


def test_thinking_first_then_constrained(server):
    """Thinking left to the model (no enable_thinking false): logit_bias makes it open <think> and
    close it at once (</think> is masked as a first token, free inside the reasoning); the choice
    constraint then holds after </think> and its newlines, and the content is exactly a choice."""
    think, close = token_id(server, "<think>"), token_id(server, "</think>")
    for seed in (1, 2, 3):
        body = {"messages": MSG, "max_tokens": 40, "seed": seed, "temperature": 1.0,
                "logit_bias": {str(think): 50, str(close): 100}, "guided_choice": ["red", "green"]}
        r = post(server, body)
        assert r.status_code == 200, r.text
        msg = r.json()["choices"][0]["message"]
        assert msg.get("reasoning_content") == "", msg
        assert msg["content"] in ("red", "green"), msg


def token_id(server, text):
    ids = http.post(server.base + "/tokenize", json={"prompt": text}, timeout=30).json()["tokens"]
    assert len(ids) == 1, f"{text} should be one added token, got {ids}"
    return ids[0]


def test_auto_single_call_is_constrained_once_opened(server):
    """tool_choice auto with parallel_tool_calls false: the text is free until the model writes
    <tool_call> (forced here by logit_bias); the call's name and arguments then follow the tools,
    and the response ends after it."""
    open_id = token_id(server, "<tool_call>")
    for seed in (1, 2):
        ch = chat(server, seed=seed, temperature=1.0, tools=TOOLS, parallel_tool_calls=False,
                  logit_bias={str(open_id): 100}, max_tokens=200)["choices"][0]
        assert ch["finish_reason"] == "tool_calls", ch
        check_calls([t["function"] for t in ch["message"]["tool_calls"]], most=1)


# Every "x" doubles the parse stacks (the "y"/"z" each one still owes): within a few tokens a mask
# goes over the matcher's stack bound, so the request fails with that cause, not with a token
# "outside its constraint"; the engine serves the next request.
AMBIGUOUS = 'root ::= a\na ::= "x" a "y" | "x" a "z" | "w"\n'


def test_matcher_limits_fail_the_request_naming_them(server):
    x = token_id(server, "x")
    body = {"messages": MSG, "max_tokens": 60, "seed": 3, **NO_THINK,
            "guided_grammar": AMBIGUOUS, "logit_bias": {str(x): 100}}
    r = post(server, body)
    assert r.status_code == 500, r.text
    err = r.json()["error"]
    assert err["code"] == "constraint_failed", err
    assert "time and work bounds" in err["message"] and "outside" not in err["message"], err
    events = []
    with http.stream("POST", server.v1 + "/chat/completions", json={**body, "stream": True},
                     timeout=300) as s:
        assert s.status_code == 200
        events = [json.loads(line[6:]) for line in s.iter_lines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
    finishes = [ch["finish_reason"] for e in events for ch in e.get("choices", [])
                if ch.get("finish_reason")]
    assert finishes == ["abort"], events
    assert events[-1].get("error", {}).get("code") == "constraint_failed", events[-1]
    assert "time and work bounds" in events[-1]["error"]["message"], events[-1]
    ch = chat(server, guided_choice=["red", "green"])["choices"][0]
    assert ch["message"]["content"] in ("red", "green"), ch
