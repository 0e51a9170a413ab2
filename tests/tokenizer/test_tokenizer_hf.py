"""berth's tokenizer against Hugging Face `tokenizers` on the real Qwen3 tokenizer: ids, decode,
streaming decode and added-token flags, through berth-tokenize's batch mode (one process, many
requests)."""
import gzip
import json
import os
import pathlib
import random
import subprocess
import unicodedata

import pytest
from tokenizers import Tokenizer

import tok_corpus

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "tools" / "tokenize" / "berth-tokenize"
DATA = ROOT.parent / "shared" / "data" / "qwen3-tokenizer"


def _require(path):
    if not path.exists():
        pytest.fail(f"{path} is missing (build berth-tokenize / provide ../shared)")
    return path


@pytest.fixture(scope="module")
def tokenizer_json():
    return gzip.decompress(_require(DATA / "tokenizer.json.gz").read_bytes()).decode()


@pytest.fixture(scope="module")
def hf(tokenizer_json):
    return Tokenizer.from_str(tokenizer_json)


def batch(requests, path=DATA):
    """Runs berth-tokenize batch over requests; returns one parsed answer per request."""
    _require(BIN)
    payload = "".join(json.dumps(r) + "\n" for r in requests).encode()
    proc = subprocess.run([str(BIN), "-t", str(path), "batch"], input=payload, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    # Strict UTF-8: a piece that split a character would fail here.
    lines = [line.decode("utf-8") for line in proc.stdout.split(b"\n")[:-1]]
    assert len(lines) == len(requests)
    answers = [json.loads(line) for line in lines]
    for a in answers:
        assert "error" not in a, a
    return answers


def encode_all(texts, path=DATA):
    return [a["ids"] for a in batch([{"encode_hex": t.encode().hex()} for t in texts], path)]


def first_mismatches(texts, ours, theirs, limit=5):
    bad = [(t, o, h) for t, o, h in zip(texts, ours, theirs) if o != h]
    return len(bad), [(repr(t[:80]), o[:20], h[:20]) for t, o, h in bad[:limit]]


def test_corpus_is_large_and_covers_every_category():
    entries = tok_corpus.strings()
    cats = {c for c, _ in entries}
    assert len(entries) >= 5000
    assert {"english", "code", "script", "emoji", "combining", "whitespace", "crlf", "digits", "contractions",
            "special", "random_unicode", "mixed"} <= cats


def test_ids_identical_to_hf(hf):
    texts = [t for _, t in tok_corpus.strings()]
    ours = encode_all(texts)
    theirs = [e.ids for e in hf.encode_batch(texts)]
    n_bad, examples = first_mismatches(texts, ours, theirs)
    assert n_bad == 0, f"{n_bad} of {len(texts)} differ, e.g. {examples}"


def test_every_code_point_in_context(hf):
    """Each assigned code point between letters, digits, spaces and apostrophes: the regex classes
    (\\p{L}, \\p{N}, \\s, case-insensitive contractions) and NFC must agree with HF for all of them."""
    chars = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) not in ("Cs",)]
    texts = []
    for i in range(0, len(chars), 8):
        group = chars[i:i + 8]
        texts.append("a" + "".join(group) + " 1" + "'" + "".join(group) + " " + "".join(group) + "  x")
    ours = encode_all(texts)
    theirs = [e.ids for e in hf.encode_batch(texts)]
    n_bad, examples = first_mismatches(texts, ours, theirs)
    assert n_bad == 0, f"{n_bad} of {len(texts)} differ, e.g. {examples}"


def test_long_inputs_identical_to_hf(hf):
    texts = tok_corpus.long_inputs()
    assert all(len(t.encode()) >= 100_000 for t in texts)
    ours = encode_all(texts)
    for t, o in zip(texts, ours):
        assert o == hf.encode(t).ids, repr(t[:60])


def test_invalid_utf8_is_replaced_as_python_decode_replace(hf):
    rng = random.Random(5)
    samples = [b"\xff", b"\xc3", b"a\xc3(b", b"\xe2\x82", b"\xe2\x82\xac\xe2", b"\xf0\x9f\x98", b"\xed\xa0\x80",
               b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80\x80abc", b"<|im_start|>\xfe<|im_end|>", b"\xf0\x9f\x91\x8d\xf0"]
    for _ in range(500):
        samples.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 24))))
    answers = batch([{"encode_hex": s.hex()} for s in samples])
    for s, a in zip(samples, answers):
        assert a["ids"] == hf.encode(s.decode("utf-8", errors="replace")).ids, s


def test_decode_roundtrip_is_nfc_and_matches_hf(hf):
    texts = [t for _, t in tok_corpus.strings()][::3] + tok_corpus.long_inputs()[:2]
    ids = encode_all(texts)
    reqs = []
    for i in ids:
        reqs += [{"decode": i, "skip_special": False}, {"decode": i, "skip_special": True}]
    answers = batch(reqs)
    for k, (t, i) in enumerate(zip(texts, ids)):
        full, skipped = answers[2 * k]["text"], answers[2 * k + 1]["text"]
        assert full == unicodedata.normalize("NFC", t), repr(t[:80])
        assert full == hf.decode(i, skip_special_tokens=False)
        assert skipped == hf.decode(i, skip_special_tokens=True), repr(t[:80])


def test_random_ids_decode_like_hf(hf):
    """Arbitrary id sequences: partial UTF-8 byte tokens, special and non-special added tokens, and ids
    past the vocabulary (HF skips them)."""
    rng = random.Random(11)
    byte_tokens = [hf.token_to_id(c) for c in "ĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖėĘęĚěĜĝĞğĠ¡¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ"]
    seqs = []
    for _ in range(1500):
        seq = []
        for _ in range(rng.randint(0, 30)):
            k = rng.randrange(10)
            if k < 4:
                seq.append(rng.choice(byte_tokens))
            elif k < 6:
                seq.append(rng.randrange(151643, 151669))
            elif k == 6:
                seq.append(rng.randrange(151669, 151700))
            else:
                seq.append(rng.randrange(151643))
        seqs.append(seq)
    reqs = []
    for s in seqs:
        reqs += [{"decode": s, "skip_special": False}, {"decode": s, "skip_special": True},
                 {"stream": s, "skip_special": False}, {"stream": s, "skip_special": True}]
    answers = batch(reqs)
    for k, s in enumerate(seqs):
        a = answers[4 * k:4 * k + 4]
        assert a[0]["text"] == hf.decode(s, skip_special_tokens=False), s
        assert a[1]["text"] == hf.decode(s, skip_special_tokens=True), s
        assert "".join(a[2]["pieces"]) == a[0]["text"], s
        assert "".join(a[3]["pieces"]) == a[1]["text"], s
        assert len(a[2]["pieces"]) == len(s) + 1


def test_stream_equals_whole_decode_on_text(hf):
    texts = [t for c, t in tok_corpus.strings() if c in ("emoji", "script", "combining", "mixed", "special")]
    ids = encode_all(texts)
    reqs = []
    for i in ids:
        reqs += [{"stream": i, "skip_special": False}, {"stream": i, "skip_special": True}]
    answers = batch(reqs)
    for k, i in enumerate(ids):
        assert "".join(answers[2 * k]["pieces"]) == hf.decode(i, skip_special_tokens=False)
        assert "".join(answers[2 * k + 1]["pieces"]) == hf.decode(i, skip_special_tokens=True)


def test_stream_holds_back_partial_characters(hf):
    """A 4-byte emoji fed as four one-byte tokens comes out whole, only once its last byte arrives;
    a sequence cut short comes out as U+FFFD from finish."""
    # 👍 is F0 9F 91 8D; ByteLevel writes those bytes as ð Ł ĳ į.
    ids = [hf.token_to_id(c) for c in "ðŁĳį"]
    assert None not in ids
    answers = batch([{"stream": ids, "skip_special": False}, {"stream": ids[:3], "skip_special": False},
                     {"stream": ids[:2] + [hf.token_to_id("a")], "skip_special": False}])
    assert answers[0]["pieces"] == ["", "", "", "👍", ""]
    assert answers[1]["pieces"] == ["", "", "", "\ufffd"]
    assert answers[2]["pieces"] == ["", "", "\ufffda", ""]
    assert hf.decode(ids[:2] + [hf.token_to_id("a")]) == "\ufffda"


def _modified(tokenizer_json, tmp_path, flags):
    d = json.loads(tokenizer_json)
    for tok in d["added_tokens"]:
        tok.update(flags.get(tok["content"], {}))
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(d, ensure_ascii=False))
    return path, Tokenizer.from_file(str(path))


def test_added_token_flags_match_hf(tokenizer_json, tmp_path):
    flags = {
        "<think>": {"lstrip": True, "rstrip": True},
        "</think>": {"single_word": True},
        "<tool_call>": {"normalized": True, "lstrip": True},
        "</tool_call>": {"single_word": True, "rstrip": True, "normalized": True},
        "<|im_end|>": {"rstrip": True},
        "<|im_start|>": {"special": False},
    }
    path, hf_mod = _modified(tokenizer_json, tmp_path, flags)
    rng = random.Random(3)
    parts = list(flags) + ["a", " ", "  ", "\t", "\n", "_", "é", "e\u0301", "1", "!", "x y", "\u3000", "Ⓐ", "\u0301"]
    texts = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 10))) for _ in range(2000)]
    ours = encode_all(texts, path)
    theirs = [e.ids for e in hf_mod.encode_batch(texts)]
    n_bad, examples = first_mismatches(texts, ours, theirs)
    assert n_bad == 0, f"{n_bad} of {len(texts)} differ, e.g. {examples}"
    seqs = theirs[:300]
    answers = batch([{"decode": s, "skip_special": True} for s in seqs], path)
    for s, a in zip(seqs, answers):
        assert a["text"] == hf_mod.decode(s, skip_special_tokens=True)


def test_batch_encode_keeps_nul_characters(hf):
    """A "\\u0000" inside a batch "encode" string is a character like any other (cJSON's strings end
    at NUL, so berth-tokenize reads the string's bytes itself)."""
    texts = ["a\x00b", "\x00", "<|im_end|>\x00\x00 x", "\x00\U0001F600\x00é", 'q"\\\x00\n\t/']
    answers = batch([{"encode": t} for t in texts])
    for t, a in zip(texts, answers):
        assert a["ids"] == hf.encode(t).ids, repr(t)
