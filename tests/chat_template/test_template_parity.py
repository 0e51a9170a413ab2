"""Byte-identical rendering against Jinja2 set up as transformers sets it up, for the Qwen3 chat
template and every template in ../shared/data/chat-templates, over a generated corpus."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from corpus import variables_corpus  # noqa: E402
from reference import QWEN3_CONFIG, TEMPLATES, make_env, render_ours, render_reference  # noqa: E402

N_CONVERSATIONS = 600


def template_files():
    assert TEMPLATES.is_dir(), f"{TEMPLATES} is missing"
    files = sorted(TEMPLATES.glob("*.jinja"))
    assert len(files) >= 5, f"expected the chat templates in {TEMPLATES}"
    return files


def check_parity(template_path, source, seed):
    template = make_env().from_string(source)
    cases = variables_corpus(N_CONVERSATIONS, seed)
    ours = render_ours(template_path, cases)
    ok = 0
    for i, (case, got) in enumerate(zip(cases, ours)):
        want = render_reference(template, case)
        context = json.dumps(case, ensure_ascii=False)[:2000]
        assert got[0] == want[0], f"case {i}: Jinja2 {'rendered' if want[0] else 'raised ' + want[1]!r}, " \
                                  f"berth {'rendered' if got[0] else 'raised ' + got[1]!r}\n{context}"
        if want[0]:
            assert got[1] == want[1], f"case {i}: output differs\nwant {want[1]!r}\ngot  {got[1]!r}\n{context}"
            ok += 1
    # the corpus must exercise rendering, not only errors
    assert ok >= N_CONVERSATIONS // 6, f"only {ok} of {N_CONVERSATIONS} cases rendered"
    return ok


@pytest.mark.parametrize("path", template_files(), ids=lambda p: p.stem)
def test_template_matches_jinja2(path):
    check_parity(path, path.read_text(encoding="utf-8"), seed=hash(path.stem) % 1000 + 1)


def test_qwen3_tokenizer_config_template_matches_jinja2():
    assert QWEN3_CONFIG.exists(), f"{QWEN3_CONFIG} is missing"
    source = json.loads(QWEN3_CONFIG.read_text(encoding="utf-8"))["chat_template"]
    check_parity(QWEN3_CONFIG, source, seed=3)
