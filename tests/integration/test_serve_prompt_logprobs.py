"""Prompt logprobs through the real server: /v1/completions with echo and logprobs (what
lm-evaluation-harness's local-completions model sends for loglikelihood tasks, with max_tokens 0 or
1), vLLM's prompt_logprobs on completions and chat, streaming with echo, and the checks that the
numbers are the model's: the echoed prompt's logprob of token k equals what a request whose prompt
is tokens[:k] reports for token k as its first generated token (forced there with logit_bias, which
berth's logprobs do not see: they are the raw logits' log-softmax, as vLLM's).

lm-evaluation-harness itself is not a test dependency: lm_eval 0.4.13 requires datasets, evaluate,
scikit-learn, sacrebleu and rouge-score (pyarrow, pandas, scipy... hundreds of MB), its tasks load
their data from the Hugging Face hub (unreachable in CI) and its local-completions model tokenizes
with transformers. So lm_eval_loglikelihood below sends its request body and parses the answer as
its local-completions model does (lm_eval/models/openai_completions.py: create_payload with
generate=False, parse_logprobs)."""
import math

import openai
import pytest

from serve_harness import http

PROMPT = "The quick brown fox jumps over the lazy dog because it"


def sdk(server):
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0)


def ids_of(server, text):
    return http.post(server.base + "/tokenize", json={"prompt": text}).json()["tokens"]


def completions(server, **body):
    r = http.post(server.v1 + "/completions", json={"model": "demo", "temperature": 0, **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_sdk_echo_max_tokens_0_returns_the_prompt_with_its_logprobs(server):
    ids = ids_of(server, PROMPT)
    r = sdk(server).completions.create(model="demo", prompt=PROMPT, echo=True, logprobs=5, max_tokens=0)
    c = r.choices[0]
    assert c.text == PROMPT
    lp = c.logprobs
    assert len(lp.tokens) == len(ids) == r.usage.prompt_tokens and r.usage.completion_tokens == 0
    assert "".join(lp.tokens) == PROMPT
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(isinstance(x, float) and x <= 0 for x in lp.token_logprobs[1:])
    # five alternatives a position (fewer only where two ids decode to the same text)
    assert all(1 <= len(t) <= 5 for t in lp.top_logprobs[1:]) and max(map(len, lp.top_logprobs[1:])) == 5
    for tok_lp, top in zip(lp.token_logprobs[1:], lp.top_logprobs[1:]):
        assert tok_lp <= max(top.values()) + 1e-6
    assert lp.text_offset == [sum(len(t.encode()) for t in lp.tokens[:i]) for i in range(len(ids))]


def test_echo_then_the_completion(server):
    """max_tokens 1: the prompt's entries, then the generated token's, as the plain request has it."""
    ids = ids_of(server, PROMPT)
    echoed = completions(server, prompt=ids, echo=True, logprobs=2, max_tokens=1)["choices"][0]
    plain = completions(server, prompt=ids, logprobs=2, max_tokens=1)["choices"][0]
    lp, plp = echoed["logprobs"], plain["logprobs"]
    assert len(lp["tokens"]) == len(ids) + 1
    assert lp["tokens"][-1] == plp["tokens"][0]
    assert abs(lp["token_logprobs"][-1] - plp["token_logprobs"][0]) < 1e-5
    assert echoed["text"].endswith(plain["text"]) and len(echoed["text"]) > len(plain["text"])


def test_echoed_logprob_of_token_k_is_what_a_prefix_reports_for_it(server):
    ids = ids_of(server, PROMPT)
    echoed = completions(server, prompt=ids, echo=True, logprobs=1, max_tokens=0)["choices"][0]["logprobs"]
    for k in (1, 2, len(ids) // 2, len(ids) - 1):
        r = completions(server, prompt=ids[:k], max_tokens=1, logprobs=0, logit_bias={str(ids[k]): 100})
        got = r["choices"][0]["logprobs"]
        assert got["tokens"][0] == echoed["tokens"][k]
        assert abs(got["token_logprobs"][0] - echoed["token_logprobs"][k]) < 1e-4, k


def test_prompt_logprobs_on_completions_vllm_shape(server):
    ids = ids_of(server, PROMPT)
    echoed = completions(server, prompt=ids, echo=True, logprobs=2, max_tokens=0)["choices"][0]["logprobs"]
    r = completions(server, prompt=ids, max_tokens=1, prompt_logprobs=2)
    c = r["choices"][0]
    assert c["logprobs"] is None and len(c["text"]) >= 0
    plp = c["prompt_logprobs"]
    assert len(plp) == len(ids) and plp[0] is None
    for k in range(1, len(ids)):
        d = plp[k]
        assert str(ids[k]) in d and 1 <= len(d) <= 3
        mine = d[str(ids[k])]
        assert abs(mine["logprob"] - echoed["token_logprobs"][k]) < 1e-6
        assert mine["decoded_token"] == echoed["tokens"][k] and mine["rank"] >= 1
        # the prompt token, and the two most likely (one entry when the prompt token is one)
        ranked = sorted((e["rank"], -e["logprob"]) for e in d.values())
        assert [r for r, _ in ranked][:2] == [1, 2]
        assert all(a[1] <= b[1] + 1e-6 for a, b in zip(ranked, ranked[1:]))
        if mine["rank"] == 1:
            assert mine["logprob"] == max(e["logprob"] for e in d.values())
    # the SDK passes it as an extra field, and reads the extra answer field back
    s = sdk(server).completions.create(model="demo", prompt=ids, max_tokens=1, temperature=0,
                                       extra_body={"prompt_logprobs": 0})
    got = s.choices[0].model_extra["prompt_logprobs"]
    assert got[0] is None and all(len(d) == 1 and str(ids[k + 1]) in d for k, d in enumerate(got[1:]))


def test_prompt_logprobs_on_chat(server):
    r = http.post(server.v1 + "/chat/completions",
                  json={"model": "demo", "messages": [{"role": "user", "content": "Hi there"}],
                        "max_tokens": 2, "prompt_logprobs": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    plp = body["prompt_logprobs"]
    assert len(plp) == body["usage"]["prompt_tokens"] and plp[0] is None
    assert all(1 <= len(d) <= 2 and all(e["logprob"] <= 0 for e in d.values()) for d in plp[1:])
    assert "prompt_logprobs" not in body["choices"][0]


def test_streamed_echo_sends_the_prompt_first(server):
    ids = ids_of(server, PROMPT)
    whole = completions(server, prompt=ids, echo=True, logprobs=1, max_tokens=3)["choices"][0]
    chunks = list(sdk(server).completions.create(model="demo", prompt=ids, echo=True, logprobs=1,
                                                  max_tokens=3, temperature=0, stream=True))
    first = chunks[0].choices[0]
    assert len(first.logprobs.tokens) >= len(ids) and first.logprobs.token_logprobs[0] is None
    text, tokens, lps, offsets = "", [], [], []
    for ch in chunks:
        if ch.choices:
            text += ch.choices[0].text
            if ch.choices[0].logprobs:
                tokens += ch.choices[0].logprobs.tokens
                lps += ch.choices[0].logprobs.token_logprobs
                offsets += ch.choices[0].logprobs.text_offset
    assert text == whole["text"] and tokens == whole["logprobs"]["tokens"]
    assert offsets == whole["logprobs"]["text_offset"]
    assert lps[0] is None and all(abs(a - b) < 1e-6 for a, b in zip(lps[1:], whole["logprobs"]["token_logprobs"][1:]))
    streamed_empty = list(sdk(server).completions.create(model="demo", prompt=ids, echo=True, logprobs=1,
                                                          max_tokens=0, stream=True))
    got = [c.choices[0] for c in streamed_empty if c.choices]
    alone = completions(server, prompt=ids, echo=True, logprobs=1, max_tokens=0)["choices"][0]
    assert "".join(c.text for c in got) == alone["text"] and whole["text"].startswith(alone["text"])
    assert [t for c in got if c.logprobs for t in c.logprobs.tokens] == alone["logprobs"]["tokens"]
    assert got[-1].finish_reason == alone["finish_reason"]


def test_the_prefix_cache_does_not_cut_the_prompt_logprobs(server):
    """A prompt already cached is computed again: cached positions have no logits."""
    ids = ids_of(server, PROMPT * 3)  # several full KV blocks
    completions(server, prompt=ids, max_tokens=1)  # now in the prefix cache
    again = completions(server, prompt=ids, max_tokens=1)
    assert again["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    r = completions(server, prompt=ids, echo=True, logprobs=1, max_tokens=0)
    lp = r["choices"][0]["logprobs"]["token_logprobs"]
    assert len(lp) == len(ids) and lp[0] is None and all(isinstance(x, float) for x in lp[1:])
    details = r["usage"].get("prompt_tokens_details") or {}
    assert details.get("cached_tokens", 0) == 0


def test_one_token_prompt_and_several_choices(server):
    ids = ids_of(server, PROMPT)
    one = completions(server, prompt=ids[:1], echo=True, logprobs=1, max_tokens=0, prompt_logprobs=0)
    c = one["choices"][0]
    assert c["logprobs"]["token_logprobs"] == [None] and c["logprobs"]["top_logprobs"] == [None]
    assert c["prompt_logprobs"] == [None]
    whole = completions(server, prompt=ids, echo=True, logprobs=1, max_tokens=0)["choices"][0]["logprobs"]
    # n = 2 and two prompts: every choice has its own prompt's entries
    r = completions(server, prompt=[ids, ids[:4]], n=2, echo=True, logprobs=1, max_tokens=2,
                    temperature=1, seed=3, ignore_eos=True)
    assert len(r["choices"]) == 4
    for ch in r["choices"]:
        mine = ids if ch["index"] < 2 else ids[:4]
        lp = ch["logprobs"]
        assert len(lp["tokens"]) == len(mine) + 2 and lp["token_logprobs"][0] is None
        for k in range(1, len(mine)):
            assert abs(lp["token_logprobs"][k] - whole["token_logprobs"][k]) < 1e-4


def lm_eval_loglikelihood(server, requests):
    """lm-evaluation-harness's local-completions loglikelihood: one batched request of token-id
    prompts (context + continuation), echo, max_tokens 1, logprobs 1; per choice the sum of the
    continuation's token_logprobs and whether each was the top one."""
    prompts = [ctx + cont for ctx, cont in requests]
    body = {"model": "demo", "prompt": prompts, "temperature": 0, "max_tokens": 1, "logprobs": 1,
            "seed": 1234, "echo": True}
    out = http.post(server.v1 + "/completions", json=body)
    assert out.status_code == 200, out.text
    res = []
    for choice, (ctx, _) in zip(sorted(out.json()["choices"], key=lambda c: c["index"]), requests):
        ctxlen = len(ctx)
        logprobs = sum(choice["logprobs"]["token_logprobs"][ctxlen:-1])
        tokens_logprobs = choice["logprobs"]["token_logprobs"][ctxlen:-1]
        top_logprobs = choice["logprobs"]["top_logprobs"][ctxlen:-1]
        is_greedy = True
        for tok, top in zip(tokens_logprobs, top_logprobs):
            if tok != max(top.values()):
                is_greedy = False
                break
        res.append((logprobs, is_greedy))
    return res


def test_lm_eval_loglikelihood(server):
    ctx = ids_of(server, "Question: what colour is the sky? Answer:")
    conts = [ids_of(server, " blue"), ids_of(server, " green and purple")]
    got = lm_eval_loglikelihood(server, [(ctx, c) for c in conts])
    assert len(got) == 2
    for (ll, greedy), cont in zip(got, conts):
        # the same sum from separate forced-token requests, one continuation token at a time
        want, all_top = 0.0, True
        for i, tok in enumerate(cont):
            r = completions(server, prompt=ctx + cont[:i], max_tokens=1, logprobs=1,
                            logit_bias={str(tok): 100})["choices"][0]["logprobs"]
            want += r["token_logprobs"][0]
            all_top &= r["token_logprobs"][0] >= max(r["top_logprobs"][0].values()) - 1e-6
        assert math.isclose(ll, want, abs_tol=1e-4 * len(cont)), (ll, want)
        assert greedy == all_top
    # a greedy continuation (its ids from prompt_logprobs' rank-1 entries) is greedy
    greedy_ids = []
    for _ in range(2):
        plp = completions(server, prompt=ctx + greedy_ids + [0], max_tokens=1,
                          prompt_logprobs=1)["choices"][0]["prompt_logprobs"]
        top = [int(t) for t, e in plp[-1].items() if e["rank"] == 1]
        greedy_ids.append(top[0])
    [(_, greedy)] = lm_eval_loglikelihood(server, [(ctx, greedy_ids)])
    assert greedy


@pytest.mark.parametrize("body,param", [
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "x", "prompt_logprobs": 1, "stream": True}, "prompt_logprobs"),
    ({"prompt": "x", "prompt_logprobs": 21}, "prompt_logprobs"),
    ({"prompt": "x", "echo": True, "logprobs": 21, "max_tokens": 0}, "logprobs"),
])
def test_bad_requests_name_the_field(server, body, param):
    r = http.post(server.v1 + "/completions", json={"model": "demo", **body})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
