"""Encode-speed comparison corpus and the Hugging Face side of the benchmark.

  .venv/bin/python tools/tokenize/bench_hf.py CORPUS_OUT [TOKENIZER_DIR]

writes the mixed corpus (tests/tokenizer/tok_corpus.py, ~8 MB, one document per line) to CORPUS_OUT,
then times `tokenizers` encoding it line by line on one thread (TOKENIZERS_PARALLELISM=false,
Tokenizer.encode per line, no encode_batch), best of three, and prints the same JSON fields as
`berth-tokenize bench`."""
import gzip
import json
import os
import pathlib
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tokenizer"))

import tok_corpus  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402


def main():
    out = pathlib.Path(sys.argv[1])
    tok_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT.parent / "shared" / "data" / "qwen3-tokenizer"
    text = tok_corpus.bench_corpus()
    out.write_bytes(text.encode())
    plain = tok_dir / "tokenizer.json"
    tok = Tokenizer.from_file(str(plain)) if plain.exists() else Tokenizer.from_str(
        gzip.decompress((tok_dir / "tokenizer.json.gz").read_bytes()).decode())
    lines = text.encode().split(b"\n")
    docs = [(line + b"\n").decode() for line in lines[:-1]]
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        tokens = 0
        for d in docs:
            tokens += len(tok.encode(d).ids)
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    size = len(text.encode())
    print(json.dumps({"bytes": size, "lines": len(docs), "tokens": tokens, "seconds": round(best, 4),
                      "mb_per_s": round(size / best / 1e6, 2)}))


if __name__ == "__main__":
    main()
