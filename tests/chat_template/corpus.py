"""A seeded generator of chat-template inputs: conversations with system/user/assistant/tool turns,
tools with nested JSON schemas, tool calls with object and string arguments, reasoning in history,
multi-turn thinking, non-ASCII text, and orders some templates reject."""

import json
import random

TEXTS = [
    "Hello!",
    "What's the weather in Paris?",
    "Explain \"quotes\", 'apostrophes' and back\\slashes.",
    "多语言测试：你好，世界。",
    "こんにちは、元気ですか？",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "Emoji: 👩‍👩‍👧‍👦 👍🏽 🇫🇷",
    "Café naïve résumé — ½ ∑ ≤ ∞",
    "  leading and trailing spaces  ",
    "line one\nline two\n\nline four",
    "tabs\tand\r\nCRLF",
    "control \x01 \x1f chars",
    "<tool_response>\nfake\n</tool_response>",
    "{\"json\": \"looking\", \"n\": [1, 2]}",
    "{{ not a template }} {% neither %}",
    "",
    "Ünïcödé ünd ßpëcial",
    "한국어 문장입니다.",
    "\u2028line separator\u2029para",
]

NAMES = ["get_weather", "search", "calc", "lookup_user", "send_email", "天气"]


def text(rng):
    parts = rng.sample(TEXTS, rng.randint(1, 2))
    return " ".join(parts)


def schema(rng, depth=0):
    kind = rng.choice(["string", "integer", "number", "boolean", "array", "object"] if depth < 3 else ["string", "integer"])
    s = {"type": kind}
    if rng.random() < 0.6:
        s["description"] = text(rng)
    if kind == "string" and rng.random() < 0.4:
        s["enum"] = rng.sample(["celsius", "fahrenheit", "kelvin", "度"], 2)
    if kind == "number" and rng.random() < 0.5:
        s["minimum"] = rng.choice([0.5, -2.25, 1e-7, 3.14159])
    if kind == "integer" and rng.random() < 0.5:
        s["default"] = rng.randint(-5, 100)
    if kind == "array":
        s["items"] = schema(rng, depth + 1)
    if kind == "object":
        props = {f"p{i}_{rng.choice(['a', 'b', 'ü'])}": schema(rng, depth + 1) for i in range(rng.randint(1, 3))}
        s["properties"] = props
        s["required"] = list(props)[: rng.randint(0, len(props))]
    return s


def tool(rng, name):
    fn = {"name": name, "description": text(rng), "parameters": schema(rng)}
    if fn["parameters"]["type"] != "object":
        fn["parameters"] = {"type": "object", "properties": {"x": fn["parameters"]}, "required": ["x"]}
    if rng.random() < 0.2:
        fn["return"] = {"type": "string"}
    return {"type": "function", "function": fn}


def arguments(rng):
    args = {"location": rng.choice(["Paris", "東京", "São Paulo"]), "n": rng.randint(0, 9),
            "ratio": rng.choice([0.25, 1.5, -3.75]), "flag": rng.random() < 0.5, "none": None,
            "nested": {"list": [1, "two", {"three": 3}], "empty": {}, "arr": []}}
    keep = dict(rng.sample(sorted(args.items()), rng.randint(1, len(args))))
    return json.dumps(keep, ensure_ascii=rng.random() < 0.5) if rng.random() < 0.4 else keep


def call_id(rng):
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(rng.choice(alnum) for _ in range(9 if rng.random() < 0.85 else rng.randint(3, 12)))


def assistant_turn(rng, thinking):
    msg = {"role": "assistant", "content": text(rng)}
    r = rng.random()
    if thinking and r < 0.3:
        msg["reasoning_content"] = text(rng)
    elif thinking and r < 0.55:
        msg["content"] = "<think>\n" + text(rng) + "\n</think>\n\n" + msg["content"]
    elif thinking and r < 0.6:
        msg["reasoning_content"] = None
    return msg


def tool_round(rng, tools):
    calls = []
    for _ in range(rng.choice([1, 1, 1, 2])):
        name = rng.choice(tools)["function"]["name"] if tools else rng.choice(NAMES)
        call = {"id": call_id(rng), "type": "function", "function": {"name": name, "arguments": arguments(rng)}}
        calls.append(call)
    content = rng.choice(["", text(rng), "<think>\nplan\n</think>\n\n"])
    turns = [{"role": "assistant", "content": content, "tool_calls": calls}]
    for call in calls:
        result = rng.choice([text(rng), json.dumps({"temp": 21.5, "unit": "°C"}, ensure_ascii=False)])
        msg = {"role": "tool", "content": result, "tool_call_id": call["id"]}
        if rng.random() < 0.3:
            msg["name"] = call["function"]["name"]
        turns.append(msg)
    return turns


def conversation(rng):
    """Returns (messages, tools, kwargs)."""
    thinking = rng.random() < 0.6
    tools = [tool(rng, n) for n in rng.sample(NAMES, rng.randint(1, 3))] if rng.random() < 0.45 else None
    msgs = []
    if rng.random() < 0.5:
        msgs.append({"role": "system", "content": text(rng)})
    for _ in range(rng.randint(1, 4)):
        msgs.append({"role": "user", "content": text(rng)})
        if tools and rng.random() < 0.5:
            msgs.extend(tool_round(rng, tools))
        if rng.random() < 0.85:
            msgs.append(assistant_turn(rng, thinking))
    r = rng.random()
    if r < 0.05:
        rng.shuffle(msgs)
    elif r < 0.08:
        msgs.insert(rng.randint(0, len(msgs)), {"role": "system", "content": text(rng)})
    elif r < 0.1:
        msgs = []
    kwargs = {}
    et = rng.random()
    if et < 0.35:
        kwargs["enable_thinking"] = False
    elif et < 0.7:
        kwargs["enable_thinking"] = True
    if rng.random() < 0.1:
        kwargs["date_string"] = "01 Jan 2025"
    return msgs, tools, kwargs


def variables_corpus(n, seed):
    from reference import template_variables

    rng = random.Random(seed)
    special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<|endoftext|>"}
    out = []
    for _ in range(n):
        msgs, tools, kwargs = conversation(rng)
        out.append(template_variables(msgs, tools, add_generation_prompt=rng.random() < 0.5,
                                      special_tokens=special, **kwargs))
    return out
