"""WordPiece (BERT) tokenizers against Hugging Face `tokenizers`: BertNormalizer and
BertPreTokenizer over every code point (their character classes are Unicode 8.0 in HF, lowercasing
Unicode 17), the WordPiece model's edge cases (longest match, "##" pieces, words longer than
max_input_chars_per_word, a word with an unmatchable rest, a missing unk), and the real BERT
uncased vocabulary (llama.cpp's ggml-vocab-bert-bge.gguf, turned back into the tokenizer.json
BertWordPieceTokenizer makes) on a corpus with accents, CJK, punctuation, unknown and long words:
ids with and without special tokens, decode and streaming decode. The trained WordPiece files of
test_tokenizer_compose.py cover the rest of the shared checks."""
import json
import os
import pathlib
import random
import subprocess

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.implementations import BertWordPieceTokenizer

import tok_corpus

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "tools" / "tokenize" / "berth-tokenize"
BGE = ROOT / ".cache" / "llama.cpp" / "models" / "ggml-vocab-bert-bge.gguf"

ALL_CHARS = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def batch(requests, path, ok=True):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing (build berth-tokenize)")
    payload = "".join(json.dumps(r) + "\n" for r in requests).encode()
    proc = subprocess.run([str(BIN), "-t", str(path), "batch"], input=payload, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    answers = [json.loads(line.decode("utf-8")) for line in proc.stdout.split(b"\n")[:-1]]
    assert len(answers) == len(requests)
    if ok:
        for a in answers:
            assert "error" not in a, a
    return answers


def save(tok, tmp_path, name="tokenizer.json"):
    path = tmp_path / name
    path.write_text(tok.to_str())
    return Tokenizer.from_file(str(path)), path


def _normalizer_file(tmp_path, norm):
    tok = Tokenizer(models.WordPiece(vocab={"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok.normalizer = norm
    return save(tok, tmp_path)


NORMALIZERS = {
    "bert_default": lambda: normalizers.BertNormalizer(),
    "bert_cased_accents": lambda: normalizers.BertNormalizer(lowercase=False, strip_accents=True),
    "bert_lower_keep_accents": lambda: normalizers.BertNormalizer(lowercase=True, strip_accents=False,
                                                                  handle_chinese_chars=False),
    "bert_raw": lambda: normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, lowercase=False,
                                                   strip_accents=False),
    "lowercase_stripaccents": lambda: normalizers.Sequence([normalizers.StripAccents(), normalizers.Lowercase()]),
}


@pytest.mark.parametrize("name", sorted(NORMALIZERS))
def test_bert_normalizers_like_hf_on_every_code_point(name, tmp_path):
    """Every code point alone, after a letter, and followed by combining marks: control characters
    dropped, whitespace made ' ', CJK spaced, accents stripped after NFD, lowercased (U+0130 to two
    characters), each as HF does."""
    hf, path = _normalizer_file(tmp_path, NORMALIZERS[name]())
    texts = []
    for i in range(0, len(ALL_CHARS), 16):
        g = ALL_CHARS[i:i + 16]
        texts.append("".join(g) + "|" + "".join("E" + c + "\u0301\u0323" for c in g) + "A\u030a\t\r\n\x00\ufffd")
    answers = batch([{"normalize": t} for t in texts], path)
    bad = [repr(t[:16]) for t, a in zip(texts, answers) if a["text"] != hf.normalizer.normalize_str(t)]
    assert not bad, f"{name}: {len(bad)} of {len(texts)} differ, e.g. {bad[:5]}"


def test_bert_pre_tokenizer_like_hf_on_every_code_point(tmp_path):
    """Whitespace removed, every punctuation character alone (ASCII punctuation, and Unicode 8.0's
    P* categories: U+2E43 is no punctuation to HF, U+111C9 still is)."""
    tok = Tokenizer(models.WordPiece(vocab={"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf, path = save(tok, tmp_path)
    texts = ["a\u2e43b", "a\U000111c9b", "x\u166dy"]
    for i in range(0, len(ALL_CHARS), 16):
        g = ALL_CHARS[i:i + 16]
        texts.append("a" + "a".join(g) + " " + "".join(g) + "  x" + g[0])
    answers = batch([{"pre_tokenize": t} for t in texts], path)
    bad = []
    for t, a in zip(texts, answers):
        if a["words"] != [w.encode().hex() for w, _ in hf.pre_tokenizer.pre_tokenize_str(t)]:
            bad.append(repr(t[:20]))
    assert not bad, f"{len(bad)} of {len(texts)} differ, e.g. {bad[:5]}"


def _toy(tmp_path, unk="[UNK]", prefix="##", max_chars=8):
    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "un": 3, "##aff": 4, "##able": 5, "a": 6, "##b": 7,
             "abc": 8, "##c": 9, "é": 10, "##é": 11, "x": 12, f"{prefix}x": 13, "ab": 14, "##": 15, "#": 16}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk, continuing_subword_prefix=prefix,
                                     max_input_chars_per_word=max_chars))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix=prefix)
    tok.post_processor = processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1))
    return save(tok, tmp_path)


TOY_TEXTS = ["unaffable", "unaffablex", "abc abcc abcb", "ab abb abbb", "ééé", "aé", "xxxxxxxx", "xxxxxxxxx",
             "ééééééééé", "abd", "un aff", "zzz", "a##b", "##", "###", "#", "", "  ", "unaffable unaffable", "xx x"]


@pytest.mark.parametrize("prefix,max_chars", [("##", 8), ("@@", 3), ("", 100)])
def test_wordpiece_model_edge_cases(tmp_path, prefix, max_chars):
    """Greedy longest match, continuing pieces, the character (not byte) limit per word, a word whose
    rest no piece starts becoming a single unk, and decode with the prefix."""
    hf, path = _toy(tmp_path, prefix=prefix, max_chars=max_chars)
    for add in (False, True):
        answers = batch([{"encode": t, "add_special_tokens": add} for t in TOY_TEXTS], path)
        assert [a["ids"] for a in answers] == [e.ids for e in hf.encode_batch(TOY_TEXTS, add_special_tokens=add)]
    ids = [e.ids for e in hf.encode_batch(TOY_TEXTS)] + [[15, 16, 13, 3, 4, 15], [4, 3], [0, 13, 1, 2, 7]]
    answers = batch([{"decode": i, "skip_special": s} for i in ids for s in (False, True)], path)
    want = [hf.decode(i, skip_special_tokens=s) for i in ids for s in (False, True)]
    assert [a["text"] for a in answers] == want


def test_wordpiece_without_its_unk_token(tmp_path):
    """A vocabulary without unk_token: words it covers encode; a word that needs unk is an error, in
    HF as in berth."""
    hf, path = _toy(tmp_path, unk="<missing>")
    ok = batch([{"encode": "unaff abc"}], path)[0]
    assert ok["ids"] == hf.encode("unaff abc", add_special_tokens=False).ids
    bad = batch([{"encode": "zzz"}], path, ok=False)[0]
    assert "error" in bad and "unk" in bad["error"]
    with pytest.raises(Exception):
        hf.encode("zzz")


def _bge_vocab():
    """ggml-vocab-bert-bge.gguf's tokens back in BERT's form: llama.cpp's converter wrote a
    word-initial piece as "\u2581piece" and "##piece" as "piece"; "[...]" tokens are unchanged."""
    import gguf
    if not BGE.exists():
        pytest.fail(f"{BGE} is missing (tools/fetch_data.sh)")
    toks = gguf.GGUFReader(str(BGE)).fields["tokenizer.ggml.tokens"].contents()
    vocab = {}
    for i, t in enumerate(toks):
        t = t if t.startswith("[") and t.endswith("]") else t[1:] if t.startswith("\u2581") else "##" + t
        vocab.setdefault(t, i)
    assert len(vocab) == len(toks) == 30522
    return vocab


def _bert_texts():
    rng = random.Random(12)
    texts = [t for _, t in tok_corpus.strings(5)][:1500]
    pieces = ["Café", "naïve", "résumé", "ÅNGSTRÖM", "İstanbul", "Straße", "中文字符", "日本語の文章", "한국어",
              "\u3400\U00020000", "don't", "it's", "we're", "(hello)", "a,b.c!d?", "—", "…", "¿Qué?", "\u00a0",
              "\t", "\r\n", "\x00", "\x07", "\u200b", "\ufeff", "\ufffd", "supercalifragilisticexpialidocious",
              "x" * 101, "é" * 100, "é" * 101, "antidisestablishmentarianism", "qzxjv", "ünkñøwn", "🙂", "🫶",
              "[CLS]", "[SEP]", "[MASK]", "[unused3]", "##ing", "1,234.56", "e\u0301", "ﬁ", "Ⅻ", "Σίσυφος",
              "ОДИН", "\u0130", "ǅ", "\U0001E900", "\u1C89", "  ", "a  b", "do not", " n't"]
    for _ in range(400):
        texts.append(" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))))
    return texts + pieces + ["", " "]


def test_real_bert_uncased_vocab_like_hf(tmp_path):
    """BertWordPieceTokenizer over the real 30,522-token BERT uncased vocabulary (as bge-small
    ships it): ids with and without [CLS]/[SEP], decode and streaming decode, identical to HF."""
    hf = BertWordPieceTokenizer(_bge_vocab(), lowercase=True)
    path = tmp_path / "tokenizer.json"
    hf.save(str(path))
    hf = Tokenizer.from_file(str(path))
    d = json.loads(path.read_text())
    assert d["model"]["type"] == "WordPiece" and d["normalizer"]["type"] == "BertNormalizer"
    assert d["post_processor"]["type"] == "BertProcessing" and d["decoder"]["type"] == "WordPiece"
    texts = _bert_texts()
    for add in (False, True):
        answers = batch([{"encode": t, "add_special_tokens": add} for t in texts], path)
        theirs = [e.ids for e in hf.encode_batch(texts, add_special_tokens=add)]
        bad = [(t[:40], a["ids"][:12], h[:12]) for t, a, h in zip(texts, answers, theirs) if a["ids"] != h]
        assert not bad, f"add_special_tokens={add}: {len(bad)} of {len(texts)} differ, e.g. {bad[:3]}"
    unk = hf.token_to_id("[UNK]")
    assert sum(unk in e.ids for e in hf.encode_batch(texts)) > 50  # unknown words are really in the corpus
    ids = [e.ids for e in hf.encode_batch(texts, add_special_tokens=True)]
    rng = random.Random(3)
    ids += [[rng.randrange(30525) for _ in range(rng.randint(0, 20))] for _ in range(300)]
    reqs = [{k: i, "skip_special": s} for i in ids for s in (False, True) for k in ("decode", "stream")]
    answers = batch(reqs, path)
    for n, i in enumerate(ids):
        for j, s in enumerate((False, True)):
            want = hf.decode(i, skip_special_tokens=s)
            dec, stream = answers[4 * n + 2 * j], answers[4 * n + 2 * j + 1]
            assert dec["text"] == want, (i, s)
            assert "".join(stream["pieces"]) == want, (i, s, stream["pieces"])
