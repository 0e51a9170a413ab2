"""llama.cpp's vocabulary-only GGUF files (.cache/llama.cpp/models, fetched by tools/fetch_data.sh) with
their Hugging Face-made expected ids: berth builds each tokenizer from the GGUF metadata alone
(gguf_tokenizer.c -> tok_load_json) and must reproduce every .out line for every .inp input, encoded
without special tokens as llama.cpp's test-tokenizer-0 does. Tokenizer models berth does not implement
are checked to be refused with a message naming the model."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "tools" / "gguf" / "berth-gguf"
VOCABS = ROOT / ".cache" / "llama.cpp" / "models"

# tokenizer.ggml.model values berth refuses, and why.
UNSUPPORTED = {
    "nomic-bert-moe": ("t5", "Unigram"),
}
# Supported files whose tokenizer.json needs a component the tokenizer module does not have yet.
# strict: once the component lands the case passes, and the XPASS fails the run until it leaves this list.
PENDING = {}

CASES = sorted(p.name[len("ggml-vocab-"):-len(".gguf.inp")] for p in VOCABS.glob("ggml-vocab-*.gguf.inp"))


def test_vocab_files_are_there():
    assert len(CASES) >= 15, f"tools/fetch_data.sh has not fetched llama.cpp's vocab files into {VOCABS}"


def params():
    for name in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=PENDING[name])] if name in PENDING else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(params()))
def test_vocab_ids_equal_llama_cpp_reference(name):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing (build berth-gguf)")
    gguf = VOCABS / f"ggml-vocab-{name}.gguf"
    proc = subprocess.run([str(BIN), "tokenize", str(gguf), str(gguf) + ".inp"], capture_output=True,
                          timeout=600)
    err = proc.stderr.decode(errors="replace")
    if name in UNSUPPORTED:
        model, why = UNSUPPORTED[name]
        assert proc.returncode == 1 and f'tokenizer.ggml.model is "{model}"' in err, (why, err)
        return
    assert proc.returncode == 0, err
    inputs = (gguf.parent / (gguf.name + ".inp")).read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    want = (gguf.parent / (gguf.name + ".out")).read_text().split("\n")
    got = proc.stdout.decode().split("\n")
    # test-tokenizer-0's files: one input per marker-separated block, one line of ids per input.
    assert len(got) >= len(inputs) and len(want) >= len(inputs)
    bad = [(inputs[i], want[i].split(), got[i].split()) for i in range(len(inputs))
           if want[i].split() != got[i].split()]
    assert not bad, f"{len(bad)} of {len(inputs)} inputs differ; first: {bad[0]!r}"


def test_bert_vocab_loads_but_serve_refuses_the_encoder():
    """ggml-vocab-bert-bge.gguf's WordPiece tokenizer loads (above), but BERT is an encoder and berth
    serves decoders: `berth serve` on it exits with a message naming the architecture."""
    berth = BUILD / "server" / "cli" / "berth"
    if not berth.exists():
        pytest.fail(f"{berth} is missing (build berth)")
    proc = subprocess.run([str(berth), "serve", "--model", str(VOCABS / "ggml-vocab-bert-bge.gguf"), "--port", "0"],
                          capture_output=True, timeout=120)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode != 0 and 'general.architecture is "bert"' in err, err
    assert "tokenizer.ggml.model" not in err, err
