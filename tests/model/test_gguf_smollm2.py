"""The demo model, SmolLM2-135M-Instruct as llama.cpp's Q4_1 GGUF (.cache/models, fetched by
tools/fetch_data.sh), against transformers reading the same GGUF in float32
(tests/fixtures/smollm2-gguf/transformers_greedy.json, made by tools/reference/make_gguf_reference.py):
the chat template and tokenizer built from the GGUF metadata give transformers' prompt ids, and
greedy decoding gives transformers' ids, through `berth run` and through `berth serve` with the
OpenAI SDK at temperature 0. berth's CPU backend computes in float32, as the reference did; the
smallest top-1/top-2 logit gap over the reference's generated tokens is 0.034, far above float32
summation-order noise, so no near tie is excused."""
import json
import subprocess
from pathlib import Path

import httpx
import openai
import pytest

from berth_process import BERTH, BerthServer, need

ROOT = Path(__file__).resolve().parents[2]
GGUF = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
REFERENCE = json.loads((ROOT / "tests" / "fixtures" / "smollm2-gguf" / "transformers_greedy.json").read_text())
CASES = REFERENCE["cases"]


def test_reference_is_for_this_file():
    need(GGUF, "the SmolLM2 GGUF (tools/fetch_data.sh)")
    assert REFERENCE["gguf"] == GGUF.name and REFERENCE["dtype"] == "float32"
    assert all(c["min_top2_gap"] > 0.01 for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["messages"][-1]["content"][:20] for c in CASES])
def test_berth_run_greedy_ids_equal_transformers(case):
    need(BERTH, "the berth binary")
    need(GGUF, "the SmolLM2 GGUF (tools/fetch_data.sh)")
    want = case["generated_ids"]
    proc = subprocess.run([str(BERTH), "run", "--model", str(GGUF), "--backend", "cpu", "--tokens",
                           ",".join(map(str, case["prompt_ids"])), "--max-tokens", str(len(want))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = [int(x) for x in proc.stdout.strip().split(",")]
    assert got == want


@pytest.fixture(scope="module")
def server():
    need(GGUF, "the SmolLM2 GGUF (tools/fetch_data.sh)")
    s = BerthServer(GGUF, "--backend", "cpu", "--max-model-len", "1024")
    yield s
    s.stop()


@pytest.mark.parametrize("case", CASES, ids=[c["messages"][-1]["content"][:20] for c in CASES])
def test_serve_prompt_and_greedy_text_equal_transformers(server, case):
    tok = httpx.post(server.base + "/tokenize", json={"messages": case["messages"]}, timeout=60).json()
    assert tok["tokens"] == case["prompt_ids"], "chat template or tokenizer differs from transformers'"
    client = openai.OpenAI(base_url=server.v1, api_key="none")
    r = client.chat.completions.create(model="x", messages=case["messages"], temperature=0,
                                       max_tokens=REFERENCE["max_new_tokens"])
    gen = case["generated_ids"]
    stopped = gen[-1] == REFERENCE["eos_token_id"]
    assert r.usage.prompt_tokens == len(case["prompt_ids"])
    assert r.usage.completion_tokens == len(gen)
    assert r.choices[0].finish_reason == ("stop" if stopped else "length")
    assert r.choices[0].message.content == case["text"]


def test_capital_of_france_is_paris(server):
    client = openai.OpenAI(base_url=server.v1, api_key="none")
    r = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "What is the capital of France?"}], temperature=0,
        max_tokens=32)
    assert "Paris" in r.choices[0].message.content


def test_a_directory_holding_one_gguf_is_that_model(tmp_path):
    need(GGUF, "the SmolLM2 GGUF (tools/fetch_data.sh)")
    case = CASES[0]
    (tmp_path / GGUF.name).symlink_to(GGUF)
    args = [str(BERTH), "run", "--model", str(tmp_path), "--backend", "cpu", "--tokens",
            ",".join(map(str, case["prompt_ids"])), "--max-tokens", "3"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [int(x) for x in proc.stdout.strip().split(",")] == case["generated_ids"][:3]
    (tmp_path / "other.gguf").symlink_to(GGUF)
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "holds 2 .gguf files" in proc.stderr, proc.stderr
