"""berth-grammar, the JSON Schema checker: its instance serialisation is Python's json.dumps on
every instance of the shared benchmark; its counts and summary line; and a soundness cross-check of
the JSON Schema compiler against Python's jsonschema: many candidate instances are offered to
compiled schemas as "invalid", and every one the grammar accepts must be valid for jsonschema."""
import gzip
import json
import os
import pathlib
import random
import re
import subprocess

import jsonschema
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BIN = BUILD / "tools" / "grammar" / "berth-grammar"
SHARED = ROOT.parent / "shared" / "data"
BENCH = SHARED / "jsonschemabench" / "maskbench-shared.jsonl.gz"
TOKENIZER = SHARED / "qwen3-tokenizer"
SUMMARY = re.compile(
    r"^passing=(\d+)/(\d+) wrong_accepts=(\d+) wrong_rejects=(\d+) compile_errors=(\d+) "
    r"mask_p50_us=[0-9.]+ mask_p99_us=[0-9.]+ compile_p50_us=[0-9.]+$")


def _require(path):
    if not path.exists():
        pytest.fail(f"{path} is missing (build berth-grammar / provide ../shared)")
    return path


def run(*args, **kw):
    return subprocess.run([str(_require(BIN)), *map(str, args)], capture_output=True, text=True,
                          timeout=600, **kw)


def test_help():
    r = run("--help")
    assert r.returncode == 0
    assert "passing=P/N wrong_accepts=W" in r.stdout and "--tokenizer" in r.stdout
    assert run("check").returncode == 2


def test_dump_is_python_json_dumps():
    """Every instance of the benchmark, serialised as Python does (key order, floats, unicode)."""
    want = []
    with gzip.open(_require(BENCH), "rt", encoding="utf-8") as f:
        for line in f:
            for t in json.loads(line)["tests"]:
                want.append(json.dumps(t["data"], separators=(",", ":"), ensure_ascii=False))
    r = run("dump", BENCH)
    assert r.returncode == 0, r.stderr
    got = r.stdout.split("\n")[:-1]
    assert len(got) == len(want)
    bad = [(g, w) for g, w in zip(got, want) if g != w]
    assert not bad, bad[:5]


def check(tmp_path, lines, *extra):
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(l) + "\n" for l in lines), encoding="utf-8")
    r = run("check", "--tokenizer", _require(TOKENIZER), *extra, path)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().split("\n")
    m = SUMMARY.match(out[-1])
    assert m, out[-1]
    rows = [json.loads(l) for l in out if l.startswith("{")]
    return rows, [int(x) for x in m.groups()], out


def test_check_counts(tmp_path):
    lines = [
        {"id": "a---1", "schema": {"type": "integer", "maximum": 5},
         "tests": [{"valid": True, "data": 5}, {"valid": False, "data": 6}]},
        # properties are produced in definition order: the reordered valid instance is rejected
        {"id": "a---2", "schema": {"type": "object", "properties": {"x": {}, "y": {}}},
         "tests": [{"valid": True, "data": {"x": 1, "y": 2}},
                   {"valid": True, "data": {"y": 2, "x": 1}}]},
        {"id": "b---3", "schema": {"type": "object", "not": {"enum": [{}]}}, "tests": []},
        # labelled wrongly on purpose: the grammar accepts it, so it counts as a wrong accept
        {"id": "b---4", "schema": {"const": "ok"}, "tests": [{"valid": False, "data": "ok"}]},
    ]
    rows, (passing, total, wa, wr, ce), out = check(tmp_path, lines)
    assert (passing, total, wa, wr, ce) == (1, 4, 1, 1, 1)
    assert [r["status"] for r in rows] == ["pass", "fail", "compile_error", "fail"]
    assert '"not"' in rows[2]["error"]
    assert rows[1]["failures"][0]["data"] == '{"y":2,"x":1}'
    splits = [l for l in out if l.startswith("split=")]
    assert splits[0].startswith("split=a passing=1/2 ") and splits[1].startswith("split=b passing=0/2 ")


SCHEMAS = [
    {"type": "integer", "minimum": -12, "maximum": 305},
    {"type": "number", "exclusiveMinimum": 0.5, "maximum": 7.25},
    {"type": "number", "minimum": -2.5, "exclusiveMaximum": -1},
    {"type": "string", "minLength": 2, "maxLength": 3},
    {"type": "string", "pattern": "^[a-c]+-\\d{1,2}$"},
    {"type": "string", "pattern": "b\\.c"},
    {"type": "string", "pattern": "^[^a]\\w?$"},
    {"type": "string", "pattern": "[0-9a-f]+", "minLength": 2, "maxLength": 3},
    {"type": "string", "format": "date"},
    {"type": "string", "format": "ipv4"},
    {"type": "string", "format": "email"},
    {"enum": ["a", 1, None, 1.5, {"k": [1]}]},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
     "required": ["a"]},
    {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False},
    {"type": "object", "additionalProperties": {"type": "boolean"}, "minProperties": 1},
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}},
     "additionalProperties": False},
    {"type": "object", "properties": {"a": {}, "b": {}}, "dependencies": {"a": ["b"]}},
    {"type": "object", "properties": {"a": {}, "b": {}, "c": {}},
     "oneOf": [{"required": ["a"]}, {"required": ["b", "c"]}]},
    {"oneOf": [{"type": "integer", "maximum": 2}, {"type": "string"}, {"type": "integer", "minimum": 5}]},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
    {"type": "array", "prefixItems": [{"type": "string"}], "items": False},
    {"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#"}, "maxItems": 2}]},
    {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
               {"properties": {"a": {"minimum": 3}}}]},
    {"not": {"type": ["string", "number"]}},
]


def candidates(rng):
    scalars = [None, True, False, 0, -1, 1, 2, 3, 5, 6, -12, -13, 305, 306, 0.5, 0.51, 7.25, 7.26,
               -2.5, -2.51, -1, -1.0, -1.5, 1.5, 1e-05, "", "a", "ab", "abc", "abcd", "ab-1",
               "abc-12", "abc-123", "xb.cx", "bxc", "b", "é", "\"", "a\nb", "0a1", "ab1", "2024-02-28",
               "2024-02-30", "10.0.0.1", "256.0.0.1", "a@b.co", "a@b", "a", "x1", {}, [], [1], [1, 2],
               [1, 2, 3], ["a"], ["a", 1], [None, [None]]]
    objs = [{}, {"a": 1}, {"a": 1, "b": "x"}, {"b": "x"}, {"a": "1"}, {"a": 1, "c": 2}, {"x": True},
            {"x": 1}, {"y": 1}, {"a": 1, "b": 2}, {"b": 1, "c": 2}, {"a": 1, "b": 2, "c": 3},
            {"a": 3}, {"a": 2}, {"k": [1]}, {"xa": 5, "xb": 1}]
    out = scalars + objs
    for _ in range(300):
        out.append(rng.choice([rng.randint(-20, 400), rng.uniform(-3, 8), rng.choice(scalars),
                               {rng.choice("abcxy"): rng.choice(scalars[:30])},
                               [rng.choice(scalars[:10]) for _ in range(rng.randint(0, 3))]]))
    return out


def test_accepted_instances_are_valid_for_jsonschema(tmp_path):
    """Soundness against Python's validator (formats checked): every candidate is labelled
    invalid, so each one the grammar accepts is reported as a 'wrong accept'; jsonschema must find
    every such instance valid."""
    rng = random.Random(13)
    cands = candidates(rng)
    lines = [{"id": f"s---{i}", "schema": s, "tests": [{"valid": False, "data": c} for c in cands]}
             for i, s in enumerate(SCHEMAS)]
    rows, (_, total, wa, _, ce), _ = check(tmp_path, lines, "--mask-every", "1000")
    assert total == len(SCHEMAS) and ce == 0, [r.get("error") for r in rows]
    accepted = 0
    for schema, row in zip(SCHEMAS, rows):
        validator = jsonschema.Draft202012Validator(schema,
                                                    format_checker=jsonschema.FormatChecker())
        got = [json.loads(f["data"]) for f in row["failures"]]
        for inst in got:
            assert validator.is_valid(inst), (schema, inst)
        accepted += len(got)
    assert accepted >= 100  # the check is not vacuous
