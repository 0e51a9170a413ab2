"""Automatic prefix caching through the real server: a 10-turn conversation through the OpenAI SDK
reports the earlier turns' prompt as cached_tokens, two conversations sharing a 1,000-token system
prompt share its blocks (/metrics), POST /reset_prefix_cache drops them, and --no-prefix-caching
reports nothing cached."""
import openai
import pytest

from serve_harness import BerthServer, http, make_demo_model

BLOCK = 16  # BK_KV_BLOCK


@pytest.fixture(scope="module")
def long_model(tmp_path_factory):
    return make_demo_model(tmp_path_factory.mktemp("models") / "demo2k", seed=7, max_pos=2048)


def client(server):
    return openai.OpenAI(base_url=server.v1, api_key="unused", max_retries=0, timeout=300)


def metric(server, name):
    return server.gauge(name)


def chat(c, messages, max_tokens=12):
    return c.chat.completions.create(model="m", messages=messages, max_tokens=max_tokens,
                                     temperature=0)


def test_ten_turn_conversation_reports_cached_tokens(start_server):
    server = start_server("--max-num-batched-tokens", "256")
    c = client(server)
    messages = [{"role": "system", "content": "You are a terse assistant for a shipping company."}]
    previous = None
    for turn in range(10):
        messages.append({"role": "user", "content": f"Question {turn}: where is parcel {turn * 7}?"})
        r = chat(c, messages)
        cached = r.usage.prompt_tokens_details.cached_tokens
        if previous is None:
            assert cached == 0
        else:
            assert cached >= previous // BLOCK * BLOCK, (turn, cached, previous)
            assert cached < r.usage.prompt_tokens
        previous = r.usage.prompt_tokens
        # Stripped, so the reply's first token cannot merge with the template's newline before it.
        messages.append({"role": "assistant", "content": (r.choices[0].message.content or "").strip()})
    assert metric(server, "berth_prefix_cache_hits_total") > 0


def system_prompt():
    return " ".join(f"rule {i}: ship parcel {i} before noon." for i in range(120))


def test_shared_system_prompt_blocks_are_shared(long_model):
    server = BerthServer(long_model, "--max-model-len", "2048", "--max-num-batched-tokens", "512")
    try:
        c = client(server)
        system = {"role": "system", "content": system_prompt()}
        first = chat(c, [system, {"role": "user", "content": "Where is parcel 3?"}], 4)
        assert first.usage.prompt_tokens >= 1000
        assert first.usage.prompt_tokens_details.cached_tokens == 0
        blocks = metric(server, "berth_prefix_cache_blocks")
        assert blocks >= first.usage.prompt_tokens // BLOCK
        hits = metric(server, "berth_prefix_cache_hits_total")
        second = chat(c, [system, {"role": "user", "content": "And what about parcel 99?"}], 4)
        shared = second.usage.prompt_tokens_details.cached_tokens
        assert shared >= 1000 // BLOCK * BLOCK and shared < second.usage.prompt_tokens
        assert metric(server, "berth_prefix_cache_hits_total") - hits == shared
        # The second conversation added only its own blocks, not another copy of the system prompt.
        added = metric(server, "berth_prefix_cache_blocks") - blocks
        assert added <= (second.usage.prompt_tokens - shared) // BLOCK + 1, added

        r = http.post(server.base + "/reset_prefix_cache")
        assert r.status_code == 200
        assert metric(server, "berth_prefix_cache_blocks") == 0
        again = chat(c, [system, {"role": "user", "content": "And what about parcel 99?"}], 4)
        assert again.usage.prompt_tokens_details.cached_tokens == 0
        assert again.choices[0].message.content == second.choices[0].message.content
    finally:
        server.stop()


def test_no_prefix_caching(start_server):
    server = start_server("--no-prefix-caching")
    c = client(server)
    messages = [{"role": "system", "content": system_prompt()[:600]},
                {"role": "user", "content": "Where is parcel 3?"}]
    for _ in range(2):
        r = chat(c, messages, 4)
        assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert metric(server, "berth_prefix_cache_hits_total") == 0
    assert metric(server, "berth_prefix_cache_blocks") == 0
