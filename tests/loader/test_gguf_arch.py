"""GGUF weights of each architecture berth serves (llama, qwen2, qwen3): the tiny Hugging Face
fixtures (tests/fixtures/*-tiny-f32) written as GGUF files the way llama.cpp's convert_hf_to_gguf.py
writes them (its tensor names and metadata keys, llama's Q/K rows permuted for its RoPE kernel, no
lm_head for a tied model), must give exactly the greedy ids that the same weights give from the
safetensors directory: float32 in, float32 out, so any mistake in the name mapping, the metadata or
the un-permutation shows as a different token."""
import json
import math
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
import gguf
from safetensors.numpy import load_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("BERTH_BUILD_DIR", ROOT / "build"))
BERTH = BUILD / "server" / "cli" / "berth"
FIXTURES = ROOT / "tests" / "fixtures"

LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias", "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
}


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(cfg):
    """convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors: rope_freqs.weight."""
    rope = cfg["rope_parameters"]
    base, dim = rope["rope_theta"], cfg["head_dim"]
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            out.append(1)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def to_gguf(src, dst, cfg, rope_freqs=None):
    arch = cfg["model_type"]
    w = gguf.GGUFWriter(str(dst), arch)
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    rope = cfg.get("rope_parameters") or {}
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    if cfg.get("head_dim"):
        w.add_key_length(cfg["head_dim"])
        w.add_value_length(cfg["head_dim"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(float(cfg.get("rope_theta") or rope["rope_theta"]))
    w.add_bos_token_id(cfg.get("bos_token_id") or 0)
    w.add_eos_token_id(cfg["eos_token_id"] if isinstance(cfg.get("eos_token_id"), int) else 1)
    if rope.get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg) if rope_freqs is None else rope_freqs)
    for name, t in load_file(str(src / "model.safetensors")).items():
        if name == "model.embed_tokens.weight":
            g = "token_embd.weight"
        elif name == "model.norm.weight":
            g = "output_norm.weight"
        elif name == "lm_head.weight":
            if cfg.get("tie_word_embeddings"):
                continue
            g = "output.weight"
        else:
            parts = name.split(".")
            g = f"blk.{parts[2]}." + LAYER_NAMES[".".join(parts[3:])]
            if arch == "llama" and g.endswith("attn_q.weight"):
                t = permute(t, heads)
            if arch == "llama" and g.endswith("attn_k.weight"):
                t = permute(t, kv)
        w.add_tensor(g, np.ascontiguousarray(t.astype(np.float32)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def greedy(model, prompt, n):
    proc = subprocess.run([str(BERTH), "run", "--model", str(model), "--backend", "cpu", "--tokens",
                           ",".join(map(str, prompt)), "--max-tokens", str(n)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [int(x) for x in proc.stdout.strip().split(",")]


@pytest.mark.parametrize("fixture", ["llama3-tiny-f32", "qwen2-tiny-f32", "qwen3-tiny-f32-tied",
                                     "qwen3-tiny-f32-untied"])
def test_gguf_weights_equal_safetensors(fixture, tmp_path):
    if not BERTH.exists():
        pytest.fail(f"{BERTH} is missing (build berth)")
    src = FIXTURES / fixture
    cfg = json.loads((src / "config.json").read_text())
    st = tmp_path / "st"
    st.mkdir()
    shutil.copy(src / "model.safetensors", st)
    shutil.copy(src / "config.json", st)
    to_gguf(src, tmp_path / "model.gguf", cfg)
    cases = json.loads((src / "reference.json").read_text())["cases"]
    for case in cases:
        want = greedy(st, case["prompt"], 12)
        assert greedy(tmp_path / "model.gguf", case["prompt"], 12) == want, case["prompt"]


def test_llama3_rope_freqs_that_match_no_parameters_are_refused(tmp_path):
    src = FIXTURES / "llama3-tiny-f32"
    cfg = json.loads((src / "config.json").read_text())
    bad = llama3_rope_factors(cfg) * np.float32(1.01)
    to_gguf(src, tmp_path / "model.gguf", cfg, rope_freqs=bad)
    proc = subprocess.run([str(BERTH), "run", "--model", str(tmp_path / "model.gguf"), "--backend", "cpu",
                           "--tokens", "1", "--max-tokens", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "rope_freqs.weight matches no llama3 RoPE scaling" in proc.stderr, proc.stderr
