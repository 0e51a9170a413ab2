"""PyTorch reference point for tests/gpu/run.sh (not a test): the same Qwen3 forward as bench_model,
in Hugging Face transformers (eager, SDPA attention, bf16 random weights from the same config.json),
timed the same way: prefill of 4 prompts of CTX tokens per step, and a decode step (forward of one
token per sequence plus copying the logits to the host) at batch 1, 8, 32, 64 at context CTX.
Writes a markdown section to --out."""
import argparse
import json
import time

import torch
from transformers import DynamicCache, Qwen3Config, Qwen3ForCausalLM


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def prefill(model, ids):
    cache = DynamicCache()
    out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    return out.past_key_values, out.logits[:, -1].float().cpu()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="config.json written by berth-make-model")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--batches", default="1,8,32,64")
    a = ap.parse_args()

    with open(a.config) as f:
        raw = json.load(f)
    cfg = Qwen3Config(**{k: v for k, v in raw.items() if k not in ("architectures", "model_type")})
    cfg._attn_implementation = "sdpa"
    dev = torch.device(a.device)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    t0 = time.perf_counter()
    with dev:
        model = Qwen3ForCausalLM(cfg).eval()
    sync(dev)
    init_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator(device="cpu").manual_seed(1)

    def ids(b, n):
        return torch.randint(0, cfg.vocab_size, (b, n), generator=gen).to(dev)

    lines = [f"## PyTorch {torch.__version__}, transformers (eager, SDPA), "
             f"{torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'}\n",
             f"- {params / 1e9:.2f} B parameters, bf16, random init on the device in {init_s:.1f} s\n"]
    with torch.inference_mode():
        prefill(model, ids(4, a.ctx))  # warm-up
        sync(dev)
        n, t = 3, 0.0
        for _ in range(n):
            x = ids(4, a.ctx)
            sync(dev)
            t0 = time.perf_counter()
            prefill(model, x)
            sync(dev)
            t += time.perf_counter() - t0
        lines.append(f"- prefill, {4 * a.ctx}-token steps (4 prompts of {a.ctx}): "
                     f"**{n * 4 * a.ctx / t:.0f} tokens/s**\n\n")
        lines.append(f"Decode at context {a.ctx}, {a.steps} steps (forward + logits to the host):\n\n"
                     "| batch | step ms | tokens/s | x batch 1 |\n|---|---|---|---|\n")
        base = None
        for b in [int(x) for x in a.batches.split(",")]:
            cache, logits = prefill(model, ids(b, a.ctx))
            nxt = logits.argmax(-1, keepdim=True).to(dev)
            for _ in range(3):  # warm-up steps
                out = model(input_ids=nxt, past_key_values=cache, use_cache=True, logits_to_keep=1)
                nxt = out.logits[:, -1].float().cpu().argmax(-1, keepdim=True).to(dev)
            sync(dev)
            t0 = time.perf_counter()
            for _ in range(a.steps):
                out = model(input_ids=nxt, past_key_values=cache, use_cache=True, logits_to_keep=1)
                nxt = out.logits[:, -1].float().cpu().argmax(-1, keepdim=True).to(dev)
            sync(dev)
            ms = (time.perf_counter() - t0) * 1e3 / a.steps
            tps = b / (ms * 1e-3)
            base = base or tps
            lines.append(f"| {b} | {ms:.2f} | {tps:.0f} | {tps / base:.1f} |\n")
            del cache, out
    with open(a.out, "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
