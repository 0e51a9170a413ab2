"""berth-make-model writes checkpoints that the safetensors library itself accepts, with the shapes
config.json promises, deterministically by seed, and refuses bad options with named errors."""
import gzip
import hashlib
import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

BUILD = Path(os.environ.get("BERTH_BUILD_DIR", str(Path(__file__).resolve().parents[2] / "build")))
BINARY = BUILD / "tools" / "make_model" / "berth-make-model"
SHARED = Path(os.environ.get("BERTH_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
TOKENIZER_DIR = SHARED / "data" / "qwen3-tokenizer"


def run(*args, check=True):
    assert BINARY.exists(), f"{BINARY} is missing: build the berth-make-model target first"
    proc = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"berth-make-model {args} failed: {proc.stderr}"
    return proc


def expected_shapes(cfg):
    """The tensor names and shapes of HF's Qwen3ForCausalLM for this config."""
    h, hd = cfg["hidden_size"], cfg["head_dim"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    inter, vocab = cfg["intermediate_size"], cfg["vocab_size"]
    shapes = {"model.embed_tokens.weight": [vocab, h], "model.norm.weight": [h]}
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        shapes.update({
            p + "input_layernorm.weight": [h], p + "post_attention_layernorm.weight": [h],
            p + "self_attn.q_proj.weight": [q, h], p + "self_attn.k_proj.weight": [kv, h],
            p + "self_attn.v_proj.weight": [kv, h], p + "self_attn.o_proj.weight": [h, q],
            p + "self_attn.q_norm.weight": [hd], p + "self_attn.k_norm.weight": [hd],
            p + "mlp.gate_proj.weight": [inter, h], p + "mlp.up_proj.weight": [inter, h],
            p + "mlp.down_proj.weight": [h, inter]})
    if not cfg["tie_word_embeddings"]:
        shapes["lm_head.weight"] = [vocab, h]
    return shapes


def read_header(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return n, json.loads(raw[8:8 + n]), len(raw)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_f32_checkpoint_loads_without_transformers_and_matches_config(tmp_path):
    out = tmp_path / "m"
    proc = run("--preset", "tiny", "--dtype", "f32", "--untied", "--layers", "3", "--out", out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["Qwen3ForCausalLM"] and cfg["model_type"] == "qwen3"
    assert cfg["num_hidden_layers"] == 3 and cfg["tie_word_embeddings"] is False
    assert cfg["torch_dtype"] == "float32"
    tensors = load_file(out / "model.safetensors")
    assert {k: list(v.shape) for k, v in tensors.items()} == expected_shapes(cfg)
    assert all(v.dtype == np.float32 for v in tensors.values())
    # Linear weights: uniform with the configured std; norm weights around 1.
    emb = tensors["model.embed_tokens.weight"]
    assert abs(emb.std() - 0.02) < 0.002 and abs(emb.mean()) < 0.002
    norm = tensors["model.layers.0.input_layernorm.weight"]
    assert 0.85 < norm.min() and norm.max() < 1.15 and norm.std() > 0.01
    # Tensors are distinct streams, not copies of one another.
    assert not np.array_equal(tensors["model.embed_tokens.weight"], tensors["lm_head.weight"])
    params = sum(v.size for v in tensors.values())
    assert f"{params} parameters" in proc.stdout
    assert f"{(out / 'model.safetensors').stat().st_size} bytes" in proc.stdout


def test_bf16_header_is_aligned_contiguous_and_accepted_by_safetensors(tmp_path):
    out = tmp_path / "m"
    run("--preset", "tiny", "--out", out)
    cfg = json.loads((out / "config.json").read_text())
    n, header, size = read_header(out / "model.safetensors")
    assert n % 8 == 0, "data must start 8-byte aligned"
    assert header.pop("__metadata__") == {"format": "pt"}
    spans = sorted(v["data_offsets"] for v in header.values())
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert 8 + n + spans[-1][1] == size
    assert all(v["dtype"] == "BF16" for v in header.values())
    # The Rust parser validates the header and offsets; numpy has no bfloat16, so read raw bits.
    with safe_open(out / "model.safetensors", framework="np") as f:
        got = {k: f.get_slice(k).get_shape() for k in f.keys()}
    assert got == expected_shapes(cfg)
    raw = (out / "model.safetensors").read_bytes()
    lo, hi = header["model.norm.weight"]["data_offsets"]
    bits = np.frombuffer(raw[8 + n + lo:8 + n + hi], dtype="<u2").astype(np.uint32) << 16
    values = bits.view(np.float32)
    assert 0.85 < values.min() and values.max() < 1.15


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        run("--preset", "tiny", "--seed", seed, "--out", tmp_path / name)
    a, b, c = (tmp_path / n / "model.safetensors" for n in "abc")
    assert sha256(a) == sha256(b)
    assert sha256(a) != sha256(c)
    assert (tmp_path / "a" / "config.json").read_text() == (tmp_path / "c" / "config.json").read_text()


def test_presets_have_the_documented_shapes(tmp_path):
    # Only the configs are compared (writing 8 GB is not a unit test): shrink layers and vocab, which
    # the overrides must change and nothing else.
    want = {
        "qwen3-0.6b": dict(hidden_size=1024, num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                           intermediate_size=3072, rope_theta=1e6, rms_norm_eps=1e-6,
                           max_position_embeddings=40960, tie_word_embeddings=True),
        "qwen3-4b": dict(hidden_size=2560, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                         intermediate_size=9728, rope_theta=1e6, rms_norm_eps=1e-6,
                         max_position_embeddings=40960, tie_word_embeddings=True),
        "demo": dict(hidden_size=256, vocab_size=151936, tie_word_embeddings=True),
    }
    for preset, fields in want.items():
        out = tmp_path / preset
        over = ["--layers", "1"] + ([] if preset == "demo" else ["--vocab", "64"])
        run("--preset", preset, *over, "--out", out)
        cfg = json.loads((out / "config.json").read_text())
        for k, v in fields.items():
            assert cfg[k] == v, f"{preset}: {k} = {cfg[k]}, expected {v}"
        assert cfg["num_hidden_layers"] == 1
        with safe_open(out / "model.safetensors", framework="np") as f:
            assert {k: f.get_slice(k).get_shape() for k in f.keys()} == expected_shapes(cfg)
    gen = json.loads((tmp_path / "demo" / "generation_config.json").read_text())
    assert gen["bos_token_id"] == 151643 and gen["eos_token_id"] == [151645, 151643]


def test_tokenizer_is_copied_and_decompressed(tmp_path):
    assert (TOKENIZER_DIR / "tokenizer.json.gz").exists(), f"{TOKENIZER_DIR} is missing (../shared)"
    out = tmp_path / "m"
    proc = run("--preset", "demo", "--layers", "1", "--tokenizer", TOKENIZER_DIR, "--out", out)
    with gzip.open(TOKENIZER_DIR / "tokenizer.json.gz", "rb") as f:
        assert (out / "tokenizer.json").read_bytes() == f.read()
    assert (out / "tokenizer_config.json").read_bytes() == (TOKENIZER_DIR / "tokenizer_config.json").read_bytes()
    assert "tokenizer file" in proc.stdout


def test_refuses_to_overwrite_without_force_and_drops_stale_index_with_force(tmp_path):
    out = tmp_path / "m"
    run("--out", out)
    proc = run("--out", out, check=False)
    assert proc.returncode != 0 and "config.json exists; pass --force" in proc.stderr
    (out / "model.safetensors.index.json").write_text("{}")
    run("--out", out, "--force", "--seed", "3")
    assert not (out / "model.safetensors.index.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--preset", "qwen9", "--out", "x"], "--preset: unknown preset 'qwen9'"),
    (["--dtype", "fp8", "--out", "x"], "--dtype: got 'fp8', expected bf16 or f32"),
    (["--heads", "6", "--kv-heads", "4", "--out", "x"], "--kv-heads: 4 does not divide --heads 6"),
    (["--layers", "0", "--out", "x"], "--layers: got '0', expected a positive integer"),
    (["--head-dim", "33", "--out", "x"], "--head-dim: got 33, expected an even number"),
    (["--seed", "-1", "--out", "x"], "--seed: got '-1'"),
    (["--bogus", "--out", "x"], "unknown option '--bogus'"),
    (["--out"], "--out: missing value"),
    ([], "--out DIR is required"),
])
def test_bad_options_are_named(args, message):
    proc = run(*args, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_unwritable_and_missing_paths_are_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run("--out", blocker / "m", check=False)
    assert proc.returncode == 1 and str(blocker) in proc.stderr and "not a directory" in proc.stderr
    proc = run("--out", tmp_path / "m", "--tokenizer", tmp_path / "nowhere", check=False)
    assert proc.returncode == 1 and "neither tokenizer.json nor tokenizer.json.gz" in proc.stderr


def test_help_lists_every_option():
    text = run("--help").stdout
    for opt in ("--out", "--preset", "--dtype", "--seed", "--tokenizer", "--force", "--hidden", "--layers",
                "--heads", "--kv-heads", "--head-dim", "--intermediate", "--vocab", "--max-pos",
                "--rope-theta", "--rms-eps", "--tied", "--untied", "--init-std", "qwen3-4b", "demo"):
        assert opt in text, f"--help does not mention {opt}"
