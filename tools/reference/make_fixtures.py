#!/usr/bin/env python3
"""Builds the tiny Hugging Face reference checkpoints under tests/fixtures/ and records HF's own outputs.

Each fixture is a random model made with transformers' own classes, saved with save_pretrained, plus
reference.json (prompts and HF's greedy continuations) and reference_logits.safetensors (teacher-forced
logits). The C tests read these files and never need torch. Run with the reference environment:

    /opt/refenv/bin/python tools/reference/make_fixtures.py [--out tests/fixtures] [--only NAME ...]

Everything is seeded; rerunning on the same versions (tools/reference/requirements.txt) reproduces the
files byte for byte.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import (GenerationConfig, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM)

PROMPT_LENGTHS = (1, 7, 20, 45)
NEW_TOKENS = 32
# A random model's logits are close to Gaussian, so the top-2 gap is often tiny. A greedy reference is
# only useful if an independent implementation must reach the same argmax, so every position that
# decides a greedy token needs a margin well above the numeric noise of the dtype.
F32_MIN_MARGIN = 1e-3      # x max|logit| of the row, every row of the sequence
# HF computes bf16 end to end (the residual stream too): its logits differ from an f32 computation on
# the same bf16 weights by up to ~5% of max|logit|. Margins must beat that in both computations.
BF16_MIN_MARGIN = 0.06     # x max|logit| of the row, every row that decides a greedy token
BF16_MIN_DISTINCT = 4      # a bf16 greedy continuation that is one token repeated proves little
MAX_PROMPT_TRIES = 400

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}

# arch, dtype, shapes. init_std: std of every linear layer (default 0.02 makes the residual stream the
# embedding and the model predicts its input token). token_scale: log-normal spread of embedding-row
# norms; it makes a few tokens likelier, which gives bf16 logits margins that survive bf16 rounding.
FIXTURES = [
    dict(name="qwen3-tiny-f32-tied", arch="qwen3", dtype="float32", seed=1001, tie=True,
         hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32, inter=128, vocab=384,
         init_std=0.3, token_scale=0.0),
    dict(name="qwen3-tiny-f32-untied", arch="qwen3", dtype="float32", seed=1002, tie=False,
         hidden=96, layers=2, heads=6, kv_heads=2, head_dim=32, inter=128, vocab=448,
         init_std=0.3, token_scale=0.0),
    dict(name="qwen3-tiny-bf16", arch="qwen3", dtype="bfloat16", seed=1003, tie=True,
         hidden=64, layers=2, heads=4, kv_heads=2, head_dim=64, inter=128, vocab=384,
         init_std=0.3, token_scale=0.5),
    dict(name="qwen3-tiny-f32-sharded", arch="qwen3", dtype="float32", seed=1004, tie=False,
         hidden=64, layers=2, heads=4, kv_heads=1, head_dim=32, inter=128, vocab=384,
         init_std=0.3, token_scale=0.0, max_shard_size=200_000),
    dict(name="qwen2-tiny-f32", arch="qwen2", dtype="float32", seed=1005, tie=True,
         hidden=64, layers=2, heads=2, kv_heads=1, head_dim=32, inter=128, vocab=384,
         init_std=0.3, token_scale=0.0),
    dict(name="llama3-tiny-f32", arch="llama3", dtype="float32", seed=1006, tie=False,
         hidden=64, layers=2, heads=2, kv_heads=1, head_dim=32, inter=128, vocab=384,
         init_std=0.3, token_scale=0.0, rope_theta=500000.0),
    # A window of 16 positions: every case but the shortest runs past it (prompts of 20 and 45 plus
    # 32 greedy tokens), and head_dim 32 differs from hidden/heads (64/4).
    dict(name="mistral-tiny-f32", arch="mistral", dtype="float32", seed=1007, tie=False,
         hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32, inter=128, vocab=384,
         init_std=0.3, token_scale=0.0, sliding_window=16),
]


def build_config(spec):
    common = dict(vocab_size=spec["vocab"], hidden_size=spec["hidden"],
                  intermediate_size=spec["inter"], num_hidden_layers=spec["layers"],
                  num_attention_heads=spec["heads"], num_key_value_heads=spec["kv_heads"],
                  max_position_embeddings=256, rms_norm_eps=1e-6,
                  tie_word_embeddings=spec["tie"], initializer_range=spec["init_std"],
                  bos_token_id=spec["vocab"] - 2, eos_token_id=spec["vocab"] - 1)
    arch = spec["arch"]
    if arch == "qwen3":
        cfg = Qwen3Config(head_dim=spec["head_dim"],
                          rope_parameters={"rope_type": "default", "rope_theta": 1e6}, **common)
    elif arch == "qwen2":
        assert spec["hidden"] // spec["heads"] == spec["head_dim"], "Qwen2 has head_dim = hidden/heads"
        cfg = Qwen2Config(rope_parameters={"rope_type": "default", "rope_theta": 1e6}, **common)
    elif arch == "llama3":
        assert spec["hidden"] // spec["heads"] == spec["head_dim"], "Llama has head_dim = hidden/heads"
        cfg = LlamaConfig(rope_parameters=dict(LLAMA3_ROPE, rope_theta=spec["rope_theta"]), **common)
    elif arch == "mistral":
        cfg = MistralConfig(head_dim=spec["head_dim"], sliding_window=spec["sliding_window"],
                            rope_parameters={"rope_type": "default", "rope_theta": 1e6}, **common)
    else:
        raise ValueError(f"unknown arch {arch}")
    cfg._attn_implementation = "eager"
    return cfg


MODEL_CLASSES = {"qwen3": Qwen3ForCausalLM, "qwen2": Qwen2ForCausalLM, "llama3": LlamaForCausalLM,
                 "mistral": MistralForCausalLM}


def build_model(spec):
    torch.manual_seed(spec["seed"])
    cfg = build_config(spec)
    model = MODEL_CLASSES[spec["arch"]](cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                # Norm weights of 1 would leave the norm's scale multiply untested.
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif name.endswith(".bias"):
                # Qwen2's q/k/v biases: HF initialises them to zero, which would not test adding them.
                p.normal_(0.0, 0.3)
        if spec["token_scale"] > 0:
            emb = model.model.embed_tokens.weight
            emb.mul_(torch.exp(spec["token_scale"] * torch.randn(emb.shape[0], 1)))
            if not spec["tie"]:
                model.lm_head.weight.mul_(torch.exp(spec["token_scale"] * torch.randn(emb.shape[0], 1)))
    if spec["arch"] == "qwen2":
        biases = [p for n, p in model.named_parameters() if n.endswith(".bias")]
        assert biases and all(b.abs().min() > 0 for b in biases), "qwen2 biases must be non-zero"
    model.generation_config = GenerationConfig(bos_token_id=cfg.bos_token_id,
                                               eos_token_id=cfg.eos_token_id)
    if spec["dtype"] == "bfloat16":
        model = model.to(torch.bfloat16)
    return model


def f32_twin(model, spec):
    """The same (possibly bf16-rounded) weights computed in float32."""
    twin = MODEL_CLASSES[spec["arch"]](build_config(spec)).eval()
    twin.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    return twin


def greedy(model, prompt, vocab):
    ids = torch.tensor([prompt])
    # No eos: the continuation always has NEW_TOKENS tokens (candidates containing eos are rejected).
    gen_cfg = GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0,
                               eos_token_id=None, pad_token_id=vocab - 2)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gen_cfg)
    return out[0, len(prompt):].tolist()


def forward_logits(model, seq):
    with torch.no_grad():
        return model(torch.tensor([seq])).logits[0].float()


def rel_margins(logits):
    top = logits.topk(2, dim=-1).values
    return (top[:, 0] - top[:, 1]) / logits.abs().max(dim=-1).values


def check_case(spec, model, twin, prompt, cont):
    """Returns (logits, None) when the case is a sound reference, else (None, reason)."""
    eos = spec["vocab"] - 1
    if eos in cont:
        return None, "greedy continuation contains eos"
    seq = prompt + cont
    logits = forward_logits(model, seq)
    decide = slice(len(prompt) - 1, len(seq) - 1)
    target = torch.tensor(cont)
    if not torch.equal(logits[decide].argmax(-1), target):
        return None, "teacher-forced argmax differs from generate()"
    if spec["dtype"] == "float32":
        m = rel_margins(logits)
        if m.min() <= F32_MIN_MARGIN:
            return None, f"f32 margin {m.min():.2e} at row {int(m.argmin())}"
    else:
        if len(set(cont)) < BF16_MIN_DISTINCT:
            return None, "bf16 greedy continuation too repetitive"
        exact = forward_logits(twin, seq)
        if not torch.equal(exact[decide].argmax(-1), target):
            return None, "f32 computation on the bf16 weights picks other tokens"
        m = torch.minimum(rel_margins(logits[decide]), rel_margins(exact[decide]))
        if m.min() <= BF16_MIN_MARGIN:
            return None, f"bf16 margin {m.min():.3f}"
    return logits, None


def check_llama3_scaling(spec, model, seq):
    """The llama3 rope scaling must change the logits, or the fixture would not test it."""
    cfg = build_config(spec)
    cfg.rope_parameters = {"rope_type": "default", "rope_theta": spec["rope_theta"]}
    plain = LlamaForCausalLM(cfg).eval()
    plain.load_state_dict(model.state_dict())
    a, b = forward_logits(model, seq), forward_logits(plain, seq)
    diff = ((a - b).abs().max(-1).values / a.abs().max(-1).values).max().item()
    if diff < 0.05:
        raise SystemExit(f"{spec['name']}: llama3 rope scaling changes logits by only {diff:.3g}")
    inv = model.model.rotary_emb.inv_freq
    base = 1.0 / (spec["rope_theta"] ** (torch.arange(0, spec["head_dim"], 2).float() / spec["head_dim"]))
    changed = int((~torch.isclose(inv.float(), base, rtol=1e-6)).sum())
    if not 0 < changed < len(base):
        raise SystemExit(f"{spec['name']}: llama3 scaling changed {changed} of {len(base)} frequencies, "
                         "expected some but not all")


def check_sliding_window(spec, model, seq):
    """The window must change the logits past it and nothing before it, or the fixture would not
    test it (or would test something else)."""
    cfg = build_config(spec)
    cfg.sliding_window = None
    full = MistralForCausalLM(cfg).eval()
    full.load_state_dict(model.state_dict())
    a, b = forward_logits(model, seq), forward_logits(full, seq)
    w = spec["sliding_window"]
    if not torch.equal(a[:w], b[:w]):
        raise SystemExit(f"{spec['name']}: the window changes logits of positions inside it")
    diff = ((a[w:] - b[w:]).abs().max(-1).values / a[w:].abs().max(-1).values).max().item()
    if diff < 0.05:
        raise SystemExit(f"{spec['name']}: the sliding window changes logits by only {diff:.3g}")


def make_fixture(spec, out_root):
    name = spec["name"]
    model = build_model(spec)
    twin = f32_twin(model, spec) if spec["dtype"] == "bfloat16" else None
    rng = np.random.default_rng(spec["seed"])
    cases, tensors = [], {}
    for i, length in enumerate(PROMPT_LENGTHS):
        for attempt in range(MAX_PROMPT_TRIES):
            # eos is never a prompt token so a server that stops on eos sees the same prompt semantics.
            prompt = rng.integers(0, spec["vocab"] - 2, size=length).tolist()
            cont = greedy(model, prompt, spec["vocab"])
            logits, why = check_case(spec, model, twin, prompt, cont)
            if logits is not None:
                break
        else:
            raise SystemExit(f"{name}: no sound prompt of length {length} in {MAX_PROMPT_TRIES} tries "
                             f"(last: {why})")
        key = f"case{i}"
        case = {"prompt": prompt, "greedy": cont, "logits": key}
        tensors[key] = logits.contiguous()
        if twin is not None:
            # The bf16 weights computed in float32, as berth computes them: the tight reference.
            # HF's bf16 logits above carry bf16 rounding of every activation (a few % of the largest
            # logit on this model), so they are only a loose one.
            case["logits_f32"] = key + "_f32"
            tensors[key + "_f32"] = forward_logits(twin, prompt + cont).contiguous()
        cases.append(case)
        print(f"  {name} case{i}: prompt {length} tokens, accepted after {attempt + 1} tries, "
              f"{len(set(cont))} distinct greedy tokens", file=sys.stderr)
    longest = cases[-1]
    if spec["arch"] == "llama3":
        check_llama3_scaling(spec, model, longest["prompt"] + longest["greedy"])
    if spec["arch"] == "mistral":
        check_sliding_window(spec, model, longest["prompt"] + longest["greedy"])

    out = os.path.join(out_root, name)
    if os.path.exists(out):
        shutil.rmtree(out)
    save_kw = {"max_shard_size": spec["max_shard_size"]} if "max_shard_size" in spec else {}
    model.save_pretrained(out, **save_kw)
    if "max_shard_size" in spec:
        shards = [f for f in os.listdir(out) if f.endswith(".safetensors")]
        if len(shards) < 2 or not os.path.exists(os.path.join(out, "model.safetensors.index.json")):
            raise SystemExit(f"{name}: expected an index and >= 2 shards, got {sorted(shards)}")
    save_file(tensors, os.path.join(out, "reference_logits.safetensors"))
    # One line per case keeps the file readable and diffs small.
    body = ",\n  ".join(json.dumps(c) for c in cases)
    with open(os.path.join(out, "reference.json"), "w") as f:
        f.write(f'{{"model": {json.dumps(name)}, "dtype": {json.dumps(spec["dtype"])}, "cases": [\n  {body}\n]}}\n')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "../../tests/fixtures")),
                    help="folder that receives one subfolder per fixture (default: tests/fixtures)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="build only these fixtures")
    args = ap.parse_args()
    names = [s["name"] for s in FIXTURES]
    for n in args.only or []:
        if n not in names:
            ap.error(f"unknown fixture {n!r}; known: {', '.join(names)}")
    # One thread and deterministic kernels: the same bits on every machine with these versions.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for spec in FIXTURES:
        if args.only and spec["name"] not in args.only:
            continue
        print(f"building {spec['name']}", file=sys.stderr)
        make_fixture(spec, args.out)


if __name__ == "__main__":
    main()
