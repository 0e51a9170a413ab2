"""Every chat template of llama.cpp's collection (71 real models' templates, from the llama-cpp-python
source package: .cache/llama.cpp/models/templates, made by tools/fetch_data.sh) renders in berth
byte for byte as Jinja2 renders it with transformers' settings, over a generated corpus of
conversations (system/user/assistant turns, tools, tool calls and results, reasoning, with and without
add_generation_prompt, and with `tools` passed as None or not passed at all)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from corpus import variables_corpus  # noqa: E402
from reference import REPO, make_env, render_ours, render_reference  # noqa: E402

COLLECTION = REPO / ".cache" / "llama.cpp" / "models" / "templates"
N_CONVERSATIONS = 300

# Every template of the collection compiles in Jinja2 with transformers' settings: the {% generation %}
# tag of LFM2.5 and poolside's Laguna is transformers' own extension, and DeepSeek-V3.2/V4's
# llama.cpp-only from_json sits in an if, where Jinja2 (and berth) fail only when it runs (with string
# arguments in a tool call), so those cases must fail alike.

# Cases where Jinja2 raises and berth renders, allowed by template when Jinja2's error says why:
# llama.cpp's own DeepSeek-R1 template pipes `tools | map(...)` into tojson, which needs minja's
# list-returning map; Jinja2's map returns a generator that json.dumps refuses, so with tools
# transformers cannot render it at all. berth's map returns a list and renders what llama.cpp does.
JINJA2_ONLY_ERRORS = {
    "llama-cpp-deepseek-r1": "Object of type generator is not JSON serializable",
}

# Variables a template needs beyond the conversation (its model's documented chat kwargs).
EXTRA_VARIABLES = {
    "fireworks-ai-llama-3-firefunction-v2": {
        "functions": '[{"name": "get_weather", "description": "Weather of a city", "parameters": '
                     '{"type": "object", "properties": {"city": {"type": "string"}}}}]',
        "datetime": "2025-01-01",
    },
}


def collection():
    # Not a skip: without the collection this test would prove nothing, so it fails.
    assert COLLECTION.is_dir(), f"{COLLECTION} is missing: run tools/fetch_data.sh (tools/setup.sh runs it)"
    files = sorted(COLLECTION.glob("*.jinja"))
    assert len(files) >= 70, f"expected llama.cpp's ~71 chat templates in {COLLECTION}, found {len(files)}"
    return files


def first_difference(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def cases_for(name, seed):
    cases = variables_corpus(N_CONVERSATIONS, seed)
    for case in cases:
        case.update(EXTRA_VARIABLES.get(name, {}))
    # vLLM and berth leave `tools` out when a request has none; transformers passes None. Both.
    for i, case in enumerate(cases):
        if case["tools"] is None and i % 2:
            del case["tools"]
    return cases


@pytest.mark.parametrize("path", collection(), ids=lambda p: p.stem)
def test_llama_cpp_template_matches_jinja2(path):
    source = path.read_text(encoding="utf-8")
    template = make_env().from_string(source)
    cases = cases_for(path.stem, seed=sum(path.stem.encode()) % 1000 + 1)
    ours = render_ours(path, cases)
    rendered = 0
    for i, (case, got) in enumerate(zip(cases, ours)):
        want = render_reference(template, case)
        context = json.dumps(case, ensure_ascii=False)[:1500]
        allowed = JINJA2_ONLY_ERRORS.get(path.stem)
        if not want[0] and got[0] and allowed and allowed in want[1]:
            continue
        assert got[0] == want[0], (
            f"{path.name} case {i}: Jinja2 {'rendered' if want[0] else 'raised ' + repr(want[1])}, "
            f"berth {'rendered' if got[0] else 'raised ' + repr(got[1])}\n{context}")
        if want[0]:
            at = first_difference(got[1], want[1])
            assert got[1] == want[1], (
                f"{path.name} case {i}: output differs at position {at}\n"
                f"want ...{want[1][max(0, at - 80):at + 80]!r}\n"
                f"got  ...{got[1][max(0, at - 80):at + 80]!r}\n{context}")
            rendered += 1
    # The corpus must exercise rendering, not only errors.
    assert rendered >= N_CONVERSATIONS // 10, f"{path.name}: only {rendered} of {N_CONVERSATIONS} cases rendered"
