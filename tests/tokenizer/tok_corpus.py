"""Deterministic generators of test strings for the tokenizer comparison (imported by the tests and by
tools/tokenize/bench_hf.py). Every category the issue names has its own generator."""
import random
import unicodedata

ENGLISH = (
    "The quick brown fox jumps over the lazy dog. It's a truth universally acknowledged that a single "
    "man in possession of a good fortune must be in want of a wife. However little known the feelings "
    "or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed "
    "in the minds of the surrounding families, that he is considered the rightful property of some one "
    "or other of their daughters. We'll see; they've said I'd done it, but you're wrong and I'm sure."
).split()
CODE = [
    "def f(x):\n    return x**2 + 1\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }\n",
    "const x = await fetch(`/api/v1/items?id=${id}`);\r\n",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "    if err != nil {\n        return nil, fmt.Errorf(\"open %s: %w\", path, err)\n    }\n",
    "x = {'a': [1, 2, 3], \"b\": None}  # comment\n\n\n",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "<div class=\"row\"><span>&nbsp;</span></div>",
    "$ ls -la | grep -v '^d' && echo \"done\" >> /tmp/log.txt",
]
CJK = "我们在这个世界上生活，每天都学习新的东西。日本語のテキストも含まれています。한국어 문장도 있습니다。漢字かなカナ"
ARABIC = "مرحبا بالعالم، هذه جملة عربية للاختبار. الأرقام ١٢٣٤٥٦٧٨٩٠ والتشكيل: بِسْمِ اللَّهِ"
DEVANAGARI = "नमस्ते दुनिया। यह एक परीक्षण वाक्य है। संख्या १२३ और क्षत्रिय"
THAI = "สวัสดีชาวโลก นี่คือประโยคทดสอบภาษาไทย ๑๒๓"
EMOJI = [
    "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏿‍💻", "🧑🏻‍🤝‍🧑🏾", "❤️", "🇯🇵", "🤷‍♀️", "😀😃😄", "✌🏼", "🫶🏻",
]
COMBINING = [
    "e\u0301", "a\u0308", "o\u0302\u0323", "\u1100\u1161\u11a8", "n\u0303", "A\u030a", "\u0915\u093c",
    "\u0041\u0301\u0327", "Å", "Ω", "é", "ﬁ", "x\u0301\u0301\u0301", "\u05d0\u05b8", "か\u3099",
]
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", " \n ", "\u00a0", "\u3000", "\u2009", "\u0085",
              "\u2028", "\u200b", "\x0b", "\x0c", "\t\t ", "    \n\n    "]
CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'Ve", "'vE", "'m", "'M", "'ll", "'LL",
                "'Ll", "'d", "'D", "'ſ", "'x", "''", "'", "’s"]
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
           "<|fim_prefix|>", "<tool_response>", "<|vision_pad|>", "<|im_start", "im_end|>", "<think", "< think>"]

SCRIPTS = [CJK, ARABIC, DEVANAGARI, THAI]


def _assigned_chars():
    """Code points assigned in this Python's Unicode version, minus surrogates and private use."""
    out = []
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        if cat not in ("Cn", "Cs", "Co"):
            out.append(chr(cp))
    return out


_ASSIGNED = None


def random_unicode(rng, n):
    global _ASSIGNED
    if _ASSIGNED is None:
        _ASSIGNED = _assigned_chars()
    return "".join(rng.choice(_ASSIGNED) for _ in range(n))


def _slice(rng, s, lo=1, hi=40):
    a = rng.randrange(len(s))
    return s[a:a + rng.randint(lo, hi)]


def _mixed(rng):
    parts = []
    for _ in range(rng.randint(1, 12)):
        k = rng.randrange(11)
        if k == 0:
            parts.append(" ".join(rng.choice(ENGLISH) for _ in range(rng.randint(1, 8))))
        elif k == 1:
            parts.append(rng.choice(CODE))
        elif k == 2:
            parts.append(_slice(rng, rng.choice(SCRIPTS)))
        elif k == 3:
            parts.append("".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4))))
        elif k == 4:
            parts.append(rng.choice(COMBINING))
        elif k == 5:
            parts.append(rng.choice(WHITESPACE) * rng.randint(1, 3))
        elif k == 6:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 15))))
        elif k == 7:
            parts.append(rng.choice(["it", "WE", "They", "x", "", " "]) + rng.choice(CONTRACTIONS))
        elif k == 8:
            parts.append(rng.choice(SPECIAL))
        elif k == 9:
            parts.append(random_unicode(rng, rng.randint(1, 6)))
        else:
            parts.append(rng.choice(["\r\n", "\n\r", "\r\r\n", " \r\n\t", "\n \n"]))
    return "".join(parts)


def strings(seed=1234):
    """The comparison corpus: a list of (category, text), at least 5,000 entries."""
    rng = random.Random(seed)
    out = []
    for w in ENGLISH:
        out.append(("english", w))
        out.append(("english", " " + w))
    for _ in range(300):
        out.append(("english", " ".join(rng.choice(ENGLISH) for _ in range(rng.randint(2, 60)))))
    for c in CODE:
        out.append(("code", c))
    for _ in range(300):
        out.append(("code", "".join(rng.choice(CODE) for _ in range(rng.randint(1, 5)))))
    for s in SCRIPTS:
        out.append(("script", s))
        for _ in range(150):
            out.append(("script", _slice(rng, s, 1, 60)))
    for e in EMOJI:
        out.append(("emoji", e))
    for _ in range(200):
        out.append(("emoji", "".join(rng.choice(EMOJI + [" ", "a", "!"]) for _ in range(rng.randint(1, 10)))))
    for c in COMBINING:
        out.append(("combining", c))
        out.append(("combining", unicodedata.normalize("NFD", c)))
    for _ in range(200):
        out.append(("combining", "".join(rng.choice(COMBINING + ["a", " ", "\u0301", "\u0327"]) for _ in range(rng.randint(1, 8)))))
    for _ in range(400):
        out.append(("whitespace", "".join(rng.choice(WHITESPACE + ["a", "1", "!", "x y"]) for _ in range(rng.randint(1, 10)))))
    for _ in range(200):
        out.append(("crlf", "".join(rng.choice(["\r", "\n", "\r\n", " ", "a", "\t", ".", "\n\n"]) for _ in range(rng.randint(1, 15)))))
    for _ in range(300):
        out.append(("digits", "".join(rng.choice("0123456789 ,.-+e١٢३๑①½") for _ in range(rng.randint(1, 25)))))
    for c in CONTRACTIONS:
        for pre in ["it", "IT", "", " ", "x ", "'"]:
            out.append(("contractions", pre + c + rng.choice(["", " ", "s", "x", "'s", "\n"])))
    for _ in range(300):
        out.append(("special", "".join(rng.choice(SPECIAL + ["hello", " ", "\n", "user", "你好", "é"]) for _ in range(rng.randint(1, 8)))))
    for _ in range(800):
        out.append(("random_unicode", random_unicode(rng, rng.randint(1, 30))))
    for _ in range(1500):
        out.append(("mixed", _mixed(rng)))
    out.append(("empty", ""))
    return out


def long_inputs(seed=99):
    """Inputs of about 100 KB each: mixed text, one unbroken CJK word, one whitespace run, digits."""
    rng = random.Random(seed)
    mixed = []
    while sum(len(p.encode()) for p in mixed) < 100_000:
        mixed.append(_mixed(rng))
    cjk = "".join(rng.choice(CJK.replace(" ", "").replace("。", "").replace("，", "")) for _ in range(34_000))
    return ["".join(mixed), cjk, " " * 100_000, "\n" * 100_000 + "x", "1" * 100_000, "a" * 100_000,
            ("ab" * 50_000), "👍🏽" * 12_500]


def bench_corpus(seed=7, target_bytes=8_000_000):
    """A large mixed corpus for the speed comparison: one document per line (newlines inside a document
    are written as real newlines would split it, so code and prose keep their own lines)."""
    rng = random.Random(seed)
    lines = []
    size = 0
    while size < target_bytes:
        k = rng.randrange(6)
        if k == 0:
            line = " ".join(rng.choice(ENGLISH) for _ in range(rng.randint(5, 120)))
        elif k == 1:
            line = rng.choice(CODE).replace("\n", " ")
        elif k == 2:
            line = _slice(rng, rng.choice(SCRIPTS) * 4, 20, 200)
        elif k == 3:
            line = "".join(rng.choice(EMOJI + [" ", "ok"]) for _ in range(rng.randint(3, 30)))
        elif k == 4:
            line = _mixed(rng).replace("\n", " ").replace("\r", " ")
        else:
            line = " ".join(str(rng.randint(0, 10 ** 9)) for _ in range(rng.randint(1, 20)))
        lines.append(line)
        size += len(line.encode()) + 1
    return "\n".join(lines) + "\n"
