"""berth's tokenizer against Hugging Face `tokenizers` on tokenizer.json files built here with the
`tokenizers` Python API, one per family of components HF composes: byte-level BPE as GPT-2, Llama 3
and DeepSeek ship it, SentencePiece-style BPE as Llama 2, Mistral and Gemma ship it (byte_fallback,
"<0xNN>" tokens, "▁"), WordPiece as BERT ships it, and files that exercise every Split behaviour, the normalizers, the
post-processors and the decoders. Each is trained on a small corpus, saved, and loaded by both;
ids (with and without add_special_tokens), pre-tokenization, decode and streaming decode must be
identical. The Unicode version of the regex classes is pinned by comparing every code point."""
import json
import os
import pathlib
import random
import subprocess

import pytest
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import tok_corpus

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "tools" / "tokenize" / "berth-tokenize"

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK_PATTERNS = [
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+",
]
# Emoji and symbols assigned in Unicode 15 and 16, which Unicode 14/15 tables classify differently.
NEW_CHARS = ["\U0001F8C0", "\U0001FAE9", "\U0001FA89", "\U0001FACE", "\U00010D50", "\U0001CCF0", "\U0001CCF5",
             "\U0001E5D1", "\U00011F00", "\U0001FBCB", "\U0001FAEF", "\u1C89", "\U0001E4D0"]
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<s>", "</s>", "<unk>", "<bos>", "<eos>", "[CLS]", "[SEP]"]


def _texts(seed, n):
    rng = random.Random(seed)
    entries = [t for _, t in tok_corpus.strings(seed)]
    rng.shuffle(entries)
    extra = []
    for _ in range(200):
        parts = NEW_CHARS + SPECIALS + [" ", "  ", "\n", "a", "1", "é", "-", "x", "\u00a0", "12345", "'s", "▁"]
        extra.append("".join(rng.choice(parts) for _ in range(rng.randint(1, 12))))
    return entries[:n] + extra + ["", " ", "  leading", "trailing  ", "\x00", "a\x00b"]


TRAIN = [t for _, t in tok_corpus.strings(77)][:3000]
CORPUS = _texts(4321, 1300)


def _train(tok, vocab_size=700, byte_level=False, limit_alphabet=None, specials=("<unk>", "<s>", "</s>")):
    kw = dict(vocab_size=vocab_size, special_tokens=list(specials), show_progress=False)
    if byte_level:
        kw["initial_alphabet"] = pre_tokenizers.ByteLevel.alphabet()
    if limit_alphabet:
        kw["limit_alphabet"] = limit_alphabet
    tok.train_from_iterator(TRAIN, trainers.BpeTrainer(**kw))
    return tok


def _with_byte_tokens(tok, **model_flags):
    """SentencePiece's layout: the 256 "<0xNN>" tokens are ordinary vocabulary entries."""
    d = json.loads(tok.to_str())
    vocab = d["model"]["vocab"]
    nxt = max(max(vocab.values()), max(a["id"] for a in d["added_tokens"])) + 1
    for b in range(256):
        if f"<0x{b:02X}>" not in vocab:
            vocab[f"<0x{b:02X}>"] = nxt
            nxt += 1
    d["model"].update(model_flags)
    return Tokenizer.from_str(json.dumps(d))


def _special(tok, name):
    return (name, tok.token_to_id(name))


def build_llama3():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), "isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    _train(tok, byte_level=True, specials=("<|begin_of_text|>", "<|end_of_text|>"))
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[_special(tok, "<|begin_of_text|>")])])
    return tok


def build_deepseek():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(p), "isolated") for p in DEEPSEEK_PATTERNS] +
        [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    _train(tok, byte_level=True, specials=("<s>", "</s>"))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[_special(tok, "<s>")])
    return tok


def build_gpt2_nfkc():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    _train(tok, byte_level=True, specials=("<|end_of_text|>",))
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return tok


def _spm_trained(limit_alphabet=120):
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return _train(tok, limit_alphabet=limit_alphabet)


SPM_DECODER = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]


def build_llama2():
    """Llama 2 / Phi-3 as transformers writes them (legacy): Prepend and Replace, no pre-tokenizer."""
    tok = _with_byte_tokens(_spm_trained())
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence(SPM_DECODER + [decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[_special(tok, "<s>")])
    return tok


def build_mistral():
    """Mistral-7B-v0.3 style: Metaspace with prepend_scheme "first", no split."""
    tok = _with_byte_tokens(_spm_trained())
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence(SPM_DECODER + [decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[
        _special(tok, "<s>"), _special(tok, "</s>")])
    return tok


def build_gemma():
    """Gemma style: a Replace normalizer, no pre-tokenizer, no Strip in the decoder, no fuse_unk."""
    tok = _with_byte_tokens(_spm_trained(200), fuse_unk=False)
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence(SPM_DECODER)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[_special(tok, "<s>")])
    return tok


def build_metaspace_digits():
    """Metaspace splitting (prepend "always") after individual Digits, NFD and Strip, a Metaspace
    decoder, Bert's [CLS]/[SEP]; unknown characters become unk (no byte fallback), fused."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Strip(left=True, right=True)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    _train(tok, limit_alphabet=100, specials=("<unk>", "[CLS]", "[SEP]"))
    tok.post_processor = processors.BertProcessing(_special(tok, "[SEP]"), _special(tok, "[CLS]"))
    return tok


def build_split_behaviours():
    """Every Split behaviour, invert, a String pattern, an empty-matching regex, contiguous Digits,
    and ByteLevel with add_prefix_space and its own regex."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.Replace(Regex(r"\p{Mn}+"), ""),
                                           normalizers.NFC()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("-", "merged_with_previous"),
        pre_tokenizers.Split(Regex(r"[aeiou]"), "merged_with_next"),
        pre_tokenizers.Split(Regex(r"[.,;!?]"), "contiguous", invert=True),
        pre_tokenizers.Split(Regex(r"x*"), "isolated"),
        pre_tokenizers.Split(Regex(r"\p{Zs}{3,}"), "removed"),
        pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    _train(tok, byte_level=True, specials=("<s>", "</s>"))
    tok.post_processor = processors.RobertaProcessing(_special(tok, "</s>"), _special(tok, "<s>"))
    return tok


def build_whitespace_no_decoder():
    """Whitespace and WhitespaceSplit pre-tokenizers, a Prepend normalizer and no decoder at all
    (HF then joins tokens with spaces); unknown characters become unk one by one."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=False))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("~"), normalizers.Strip(left=False, right=True)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Whitespace()])
    _train(tok, limit_alphabet=150)
    return tok


def build_exotic_decoder():
    """Decoder steps in unusual places, for the streaming form: ByteFallback then Metaspace (index 0
    after the fallback), a String Replace longer than one character and Strip with stop after Fuse,
    and a Regex Replace after Fuse (which holds the stream until the end)."""
    tok = _with_byte_tokens(_spm_trained(150))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    tok.decoder = decoders.Sequence([
        decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="first"),
        decoders.Replace("th", "TH"), decoders.Fuse(), decoders.Replace("e e", "<E>"), decoders.Strip("e", 2, 2)])
    return tok


def build_exotic_decoder_regex():
    """Strip per token before the join (a trailing "▁" off every token), and a Regex Replace after
    it."""
    tok = _with_byte_tokens(_spm_trained(150))
    tok.decoder = decoders.Sequence([decoders.Strip("▁", 0, 1), decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Replace(Regex(r"\s+"), "_"), decoders.Strip("_", 1, 0)])
    return tok


def _wordpiece_trained(prefix="##", limit_alphabet=150, max_chars=None):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix=prefix))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(TRAIN, trainers.WordPieceTrainer(
        vocab_size=900, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], limit_alphabet=limit_alphabet,
        continuing_subword_prefix=prefix, show_progress=False))
    if max_chars is not None:
        d = json.loads(tok.to_str())
        d["model"]["max_input_chars_per_word"] = max_chars
        tok = Tokenizer.from_str(json.dumps(d))
    return tok


def build_bert_uncased():
    """BERT as BertWordPieceTokenizer makes it: BertNormalizer (clean text, CJK spaced, accents
    stripped, lowercase), BertPreTokenizer, WordPiece with "##", [CLS]/[SEP] and the WordPiece decoder
    with cleanup; a small alphabet so that unknown words become [UNK]."""
    tok = _wordpiece_trained()
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.post_processor = processors.BertProcessing(_special(tok, "[SEP]"), _special(tok, "[CLS]"))
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return tok


def build_bert_cased():
    """A cased WordPiece with its own prefix ("@@") and a 12-character word limit, accents kept,
    no CJK spacing, Lowercase and StripAccents as separate normalizers, Digits after BertPreTokenizer,
    TemplateProcessing and a decoder without cleanup."""
    tok = _wordpiece_trained(prefix="@@", limit_alphabet=300, max_chars=12)
    tok.normalizer = normalizers.Sequence([
        normalizers.BertNormalizer(lowercase=False, strip_accents=False, handle_chinese_chars=False),
        normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(), normalizers.NFC()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer(),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[_special(tok, "[CLS]"), _special(tok, "[SEP]")])
    tok.decoder = decoders.WordPiece(prefix="@@", cleanup=False)
    return tok


BUILDERS = {
    "llama3": build_llama3, "deepseek": build_deepseek, "gpt2_nfkc": build_gpt2_nfkc, "llama2": build_llama2,
    "mistral": build_mistral, "gemma": build_gemma, "metaspace_digits": build_metaspace_digits,
    "split_behaviours": build_split_behaviours, "whitespace_no_decoder": build_whitespace_no_decoder,
    "exotic_decoder": build_exotic_decoder, "exotic_decoder_regex": build_exotic_decoder_regex,
    "bert_uncased": build_bert_uncased, "bert_cased": build_bert_cased,
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(request, tmp_path_factory):
    tok = BUILDERS[request.param]()
    path = tmp_path_factory.mktemp(request.param) / "tokenizer.json"
    path.write_text(tok.to_str())
    return request.param, Tokenizer.from_file(str(path)), path


def batch(requests, path):
    if not BIN.exists():
        pytest.fail(f"{BIN} is missing (build berth-tokenize)")
    payload = "".join(json.dumps(r) + "\n" for r in requests).encode()
    proc = subprocess.run([str(BIN), "-t", str(path), "batch"], input=payload, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = [line.decode("utf-8") for line in proc.stdout.split(b"\n")[:-1]]  # strict: pieces are whole UTF-8
    assert len(lines) == len(requests)
    answers = [json.loads(line) for line in lines]
    for a in answers:
        assert "error" not in a, a
    return answers


def mismatches(texts, ours, theirs):
    bad = [(repr(t[:60]), o[:16], h[:16]) for t, o, h in zip(texts, ours, theirs) if o != h]
    return len(bad), bad[:4]


def test_ids_identical_to_hf(built):
    name, hf, path = built
    for add in (False, True):
        answers = batch([{"encode": t, "add_special_tokens": add} for t in CORPUS], path)
        ours = [a["ids"] for a in answers]
        theirs = [e.ids for e in hf.encode_batch(CORPUS, add_special_tokens=add)]
        n_bad, examples = mismatches(CORPUS, ours, theirs)
        assert n_bad == 0, f"{name} add_special_tokens={add}: {n_bad} of {len(CORPUS)} differ, e.g. {examples}"


def test_every_component_is_in_use(built):
    """The file really has the components this family is about (so a test passing cannot mean the
    builder silently dropped one)."""
    name, hf, path = built
    d = json.loads(path.read_text())
    text = json.dumps(d)
    wants = {"llama3": ["TemplateProcessing", "Split", "ByteLevel"], "deepseek": ["Split", "Sequence"],
             "gpt2_nfkc": ["NFKC"], "llama2": ["Prepend", "Replace", "ByteFallback", "Strip"],
             "mistral": ["Metaspace", "\"first\""], "gemma": ["Replace", "Fuse"],
             "metaspace_digits": ["Digits", "BertProcessing", "NFD"],
             "split_behaviours": ["MergedWithPrevious", "MergedWithNext", "Contiguous", "Removed", "RobertaProcessing"],
             "whitespace_no_decoder": ["WhitespaceSplit", "Whitespace"], "exotic_decoder": ["Strip", "Metaspace"],
             "exotic_decoder_regex": ["Regex"],
             "bert_uncased": ["BertNormalizer", "BertPreTokenizer", "\"WordPiece\"", "BertProcessing", "\"##\""],
             "bert_cased": ["StripAccents", "Lowercase", "TemplateProcessing", "\"@@\"",
                            "\"max_input_chars_per_word\": 12"]}[name]
    for w in wants:
        assert w in text, (name, w)
    if name in ("llama2", "mistral", "gemma", "exotic_decoder"):
        assert d["model"]["byte_fallback"] and "<0x0A>" in d["model"]["vocab"]


def test_pre_tokenizer_identical_to_hf(built):
    name, hf, path = built
    if hf.pre_tokenizer is None:
        return
    byte_of = {c: b for b, c in enumerate(_gpt2_chars())}
    byte_level = "ByteLevel" in json.dumps(json.loads(path.read_text())["pre_tokenizer"])
    answers = batch([{"pre_tokenize": t} for t in CORPUS], path)
    for t, a in zip(CORPUS, answers):
        words = [(bytes(byte_of[c] for c in w) if byte_level else w.encode()).hex()
                 for w, _ in hf.pre_tokenizer.pre_tokenize_str(t)]
        assert a["words"] == words, (name, t)


def test_decode_and_stream_identical_to_hf(built):
    name, hf, path = built
    ids = [e.ids for e in hf.encode_batch(CORPUS, add_special_tokens=True)]
    rng = random.Random(8)
    size = hf.get_vocab_size(with_added_tokens=True)
    for _ in range(600):  # arbitrary sequences: byte tokens mid-character, specials, ids past the vocabulary
        ids.append([rng.randrange(size + 3) for _ in range(rng.randint(0, 25))])
    reqs = []
    for i in ids:
        for skip in (False, True):
            reqs += [{"decode": i, "skip_special": skip}, {"stream": i, "skip_special": skip}]
    answers = batch(reqs, path)
    panics = 0
    for k, i in enumerate(ids):
        for j, skip in enumerate((False, True)):
            try:
                want = hf.decode(i, skip_special_tokens=skip)
            except BaseException as e:  # pyo3's PanicException: Strip with stop panics on short texts
                assert "slice index" in str(e) or "out of bounds" in str(e) or "overflow" in str(e), e
                panics += 1
                continue
            dec, stream = answers[4 * k + 2 * j], answers[4 * k + 2 * j + 1]
            assert dec["text"] == want, (name, i, skip)
            assert "".join(stream["pieces"]) == want, (name, i, skip, stream["pieces"])
            assert len(stream["pieces"]) == len(i) + 1
    assert panics <= len(ids) // 10, f"{name}: HF panicked on {panics} of {len(ids)} decodes"


def _gpt2_chars():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = {}, 0
    for b in range(256):
        if b in bs:
            cs[b] = chr(b)
        else:
            cs[b] = chr(256 + n)
            n += 1
    return [cs[b] for b in range(256)]


@pytest.mark.parametrize("name", ["llama3", "deepseek"])
def test_regex_classes_are_unicode_16_like_hf(name, tmp_path):
    """Every code point (unassigned ones included) between letters, digits, spaces, punctuation and
    newlines, through the Llama 3 and DeepSeek patterns: the words must be HF's. U+1F8C0 (Unicode
    16, \\p{S}) is the case Unicode 15 tables got wrong."""
    tok = BUILDERS[name]()
    path = tmp_path / "tokenizer.json"
    path.write_text(tok.to_str())
    hf = Tokenizer.from_file(str(path))
    byte_of = {c: b for b, c in enumerate(_gpt2_chars())}
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = [" \U0001F8C0", "a\U0001F8C0b", "1\U0001CCF0\U0001CCF1"]
    for i in range(0, len(chars), 16):
        g = "".join(chars[i:i + 16])
        texts.append("a" + g + " 1" + g + "'" + g + " " + g + "!!" + g + "\n" + g + "  x")
    answers = batch([{"pre_tokenize": t} for t in texts], path)
    bad = []
    for t, a in zip(texts, answers):
        words = [bytes(byte_of[c] for c in w).hex() for w, _ in hf.pre_tokenizer.pre_tokenize_str(t)]
        if a["words"] != words:
            bad.append(repr(t[:20]))
    assert not bad, f"{len(bad)} of {len(texts)} differ, e.g. {bad[:5]}"
    assert len(batch([{"pre_tokenize": " \U0001F8C0"}], path)[0]["words"]) == \
        len(hf.pre_tokenizer.pre_tokenize_str(" \U0001F8C0"))


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_normal_forms_like_hf_on_every_code_point(form, tmp_path):
    """HF normalizes with Unicode 9 tables: what it does not know it leaves alone, however newer
    Unicode decomposes or reorders it. Every code point, alone and between a letter and marks."""
    tok = Tokenizer(models.BPE(vocab={"a": 0}, merges=[]))
    tok.normalizer = getattr(normalizers, form)()
    path = tmp_path / "tokenizer.json"
    path.write_text(tok.to_str())
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = []
    for i in range(0, len(chars), 16):
        g = chars[i:i + 16]
        texts.append("".join(g) + "|" + "".join("e" + c + "\u0301\u0323" for c in g) + "A\u030a")
    answers = batch([{"normalize": t} for t in texts], path)
    bad = [repr(t[:16]) for t, a in zip(texts, answers) if a["text"] != tok.normalizer.normalize_str(t)]
    assert not bad, f"{form}: {len(bad)} of {len(texts)} differ, e.g. {bad[:5]}"


def test_token_bytes_are_what_the_id_decodes_to_mid_text(built):
    """tok_token_bytes (what constrained decoding matches grammars against): a "<0xNN>" token of a
    non-ASCII byte is that byte, a ByteLevel token its bytes; otherwise what HF's decode puts in a
    text for the id between two ordinary tokens ("▁" a space, Strip's ends left alone). Without a
    decoder, the token itself."""
    name, hf, path = built
    size = hf.get_vocab_size(with_added_tokens=True)
    ids = list(range(size))
    got = batch([{"token_bytes": ids}], path)[0]["bytes"]
    if not hf.decoder:
        assert [bytes.fromhex(h).decode() for h in got] == [hf.id_to_token(i) for i in ids]
        return
    a = hf.token_to_id("a") if hf.token_to_id("a") is not None else hf.token_to_id("▁a")
    head = hf.decode([a], skip_special_tokens=False)
    tail = hf.decode([a, a], skip_special_tokens=False)[len(head):]
    byte_fallback = "ByteFallback" in json.dumps(json.loads(path.read_text())["decoder"])
    checked = 0
    for i, h in zip(ids, got):
        tok = hf.id_to_token(i)
        if byte_fallback and tok.startswith("<0x") and len(tok) == 6 and int(tok[3:5], 16) >= 0x80:
            assert bytes.fromhex(h) == bytes([int(tok[3:5], 16)]), (name, tok, h)
            checked += 1
            continue
        whole = hf.decode([a, i, a], skip_special_tokens=False)
        if "\ufffd" in whole or not whole.startswith(head) or not whole.endswith(tail):
            continue
        assert bytes.fromhex(h) == whole[len(head):len(whole) - len(tail)].encode(), (name, i, tok, h)
        checked += 1
    assert checked > size // 2, (name, checked, size)
