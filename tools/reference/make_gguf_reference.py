#!/usr/bin/env python3
"""Records transformers' greedy output for the SmolLM2 GGUF demo model, for tests/model/test_gguf_smollm2.py.

transformers reads the GGUF itself (dequantising Q4_1/Q8_0 to float32, undoing llama's Q/K permutation)
and builds its tokenizer and chat template from the GGUF metadata. For each conversation the fixture
keeps the rendered prompt's ids (with the template's generation prompt) and the ids transformers
generates greedily in float32, so berth's f32 CPU path must reach the same tokens.
(Not named reference.json: tests/model's C reference test reads every fixture folder holding one.)
This is an optional tool, not run in CI; it needs torch, transformers, accelerate and gguf:

    python3 -m venv /work/refvenv && /work/refvenv/bin/pip install torch transformers accelerate gguf
    /work/refvenv/bin/python tools/reference/make_gguf_reference.py [--gguf .cache/models/...gguf]
"""
import argparse
import json
import os

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Write a haiku about the sea."}],
    [{"role": "system", "content": "You are a terse assistant."},
     {"role": "user", "content": "Name three primary colours."}],
    [{"role": "user", "content": "Hello!"}],
]
NEW_TOKENS = 48


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.path.join(root, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--out", default=os.path.join(root, "tests/fixtures/smollm2-gguf/transformers_greedy.json"))
    args = ap.parse_args()
    d, name = os.path.split(os.path.abspath(args.gguf))
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, torch_dtype=torch.float32)
    model.eval()
    cases = []
    for conv in CONVERSATIONS:
        prompt = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False,
                                 output_scores=True, return_dict_in_generate=True,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
        gen = out.sequences[0, len(ids):].tolist()
        # The smallest top-1/top-2 logit gap over the generated positions: a near tie there is where an
        # f32 implementation with another summation order could legitimately pick the other token.
        gaps = []
        for s in out.scores:
            top = torch.topk(s[0].float(), 2).values
            gaps.append(float(top[0] - top[1]))
        cases.append({"messages": conv, "prompt": prompt, "prompt_ids": ids, "generated_ids": gen,
                      "text": tok.decode(gen, skip_special_tokens=True),
                      "min_top2_gap": min(gaps), "top2_gaps": [round(g, 5) for g in gaps]})
        print(json.dumps(cases[-1]["text"]), "min gap", min(gaps))
    doc = {"gguf": name, "dtype": "float32", "max_new_tokens": NEW_TOKENS, "eos_token_id": tok.eos_token_id,
           "transformers": transformers.__version__, "torch": torch.__version__, "cases": cases}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
