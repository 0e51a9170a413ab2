"""`berth serve --model FILE.gguf` end to end on a tiny GGUF (tests/fuzz/corpus/gguf: one llama layer,
a 7-token byte-level BPE vocabulary and a chat template in the metadata), small enough to run under
the sanitizers: the tokenizer and template come from the metadata, a chat completion runs, and the
server shuts down clean. The real model (SmolLM2) is tests/model/test_gguf_smollm2.py."""
from pathlib import Path

import httpx

from berth_process import BerthServer

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fuzz" / "corpus" / "gguf" / "tiny_llama_gpt2.gguf"


def test_serve_a_gguf_file():
    s = BerthServer(TINY, "--backend", "cpu", "--max-model-len", "64")
    try:
        tok = httpx.post(s.base + "/tokenize", json={"messages": [{"role": "user", "content": "ab a"}]},
                         timeout=60).json()
        # the template renders the content alone; "ab" is merged, " a" is the byte-level "Ġa"
        assert tok["tokens"] == [2, 6], tok
        r = httpx.post(s.v1 + "/chat/completions", timeout=120,
                       json={"model": "", "messages": [{"role": "user", "content": "ab a"}],
                             "max_tokens": 4, "temperature": 0})
        assert r.status_code == 200, r.text
        assert r.json()["usage"]["prompt_tokens"] == 2
        assert 1 <= r.json()["usage"]["completion_tokens"] <= 4
    finally:
        s.stop()
