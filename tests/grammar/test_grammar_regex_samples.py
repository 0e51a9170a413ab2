"""The regex front end against Python's re on every `pattern` of jsonschemabench's maskbench: strings
sampled from each compiled pattern through the matcher's masks must be matched by re.search (search
semantics, as JSON Schema has), raw and in JSON-string form (which must also be exactly what
json.dumps(ensure_ascii=False) writes). Samples are printable ASCII, where ECMAScript and Python agree
on \\s \\w \\d . and $. A wrong accept of the converter fails here."""
import gzip
import json
import os
import re
import subprocess
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "tests" / "grammar" / "grammar_sample"
SHARED = Path(os.environ.get("BERTH_SHARED_DIR", ROOT.parent / "shared"))
BENCH = SHARED / "data" / "jsonschemabench" / "maskbench-shared.jsonl.gz"
SEARCH, JSON_STRING = 1, 2


def _patterns():
    found = set()

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k == "pattern" and isinstance(v, str):
                    found.add(v)
                walk(v)
        elif isinstance(o, list):
            for x in o:
                walk(x)

    with gzip.open(BENCH, "rt") as f:
        for line in f:
            walk(json.loads(line).get("schema"))
    return sorted(p for p in found if "\n" not in p)


@pytest.fixture(scope="module")
def patterns(tmp_path_factory):
    for path in (BIN, BENCH):
        if not path.exists():
            pytest.fail(f"{path} is missing (build grammar_sample / provide ../shared)")
    pats = _patterns()
    path = tmp_path_factory.mktemp("regex") / "patterns.txt"
    path.write_text("".join(p + "\n" for p in pats))
    return pats, path


@pytest.mark.parametrize("flags", [SEARCH, SEARCH | JSON_STRING])
def test_samples_match_python_re(patterns, flags):
    pats, path = patterns
    out = subprocess.run([str(BIN), str(path), str(flags), "8", "7"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    samples = refused = 0
    wrong = []
    for line in out.stdout.splitlines():
        idx, _, rest = line.partition(" ")
        pattern = pats[int(idx)]
        if rest.startswith("refused"):
            refused += 1
            assert "regex:" in rest, rest
            continue
        text = bytes.fromhex(rest).decode("utf-8")
        if flags & JSON_STRING:
            value = json.loads('"' + text + '"')
            assert json.dumps(value, ensure_ascii=False)[1:-1] == text, (pattern, text)
            text = value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            rx = re.compile(pattern)
        samples += 1
        if rx.search(text) is None:
            wrong.append((pattern, text))
    assert samples > 3000 and refused < 0.02 * len(pats), (samples, refused)
    assert not wrong, wrong[:10]
