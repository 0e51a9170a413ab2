"""Routing: /v1 paths, SageMaker endpoint and inference-component paths, unknown endpoints and paths
(404), wrong methods (405 with Allow), all errors in the OpenAI envelope."""
import httpx

CHAT = {"model": "", "messages": [{"role": "user", "content": "one two three"}]}


def assert_envelope(r, status, code=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    if code is not None:
        assert err["code"] == code
    return err


def test_v1_chat_answers(server):
    r = httpx.post(server.base + "/v1/chat/completions", json=CHAT)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "one two three"
    assert server.debug()["last_endpoint"] == ""


def test_sagemaker_endpoint_path_passes_the_endpoint(server):
    r = httpx.post(server.base + "/endpoints/my-endpoint/openai/v1/chat/completions", json=CHAT)
    assert r.status_code == 200
    d = server.debug()
    assert (d["last_endpoint"], d["last_component"]) == ("my-endpoint", "")


def test_inference_component_path_passes_both_names(server):
    url = server.base + "/endpoints/my-endpoint/inference-components/ic-7/openai/v1/completions"
    r = httpx.post(url, json={"prompt": "a b"})
    assert r.status_code == 200
    assert r.json()["object"] == "text_completion"
    d = server.debug()
    assert (d["last_endpoint"], d["last_component"]) == ("my-endpoint", "ic-7")


def test_models_under_every_prefix(server):
    for prefix in ["/v1", "/endpoints/my-endpoint/openai/v1",
                   "/endpoints/my-endpoint/inference-components/c/openai/v1"]:
        r = httpx.get(server.base + prefix + "/models")
        assert r.status_code == 200
        body = r.json()
        assert body["object"] == "list"
        assert body["data"][0]["id"] == "fake-model" and body["data"][0]["object"] == "model"


def test_unknown_endpoint_is_404_envelope(server):
    r = httpx.post(server.base + "/endpoints/other/openai/v1/chat/completions", json=CHAT)
    err = assert_envelope(r, 404, "endpoint_not_found")
    assert "other" in err["message"]


def test_unknown_paths_are_404(server):
    for path in ["/v2/chat/completions", "/v1/chat", "/endpoints/my-endpoint/v1/chat/completions",
                 "/endpoints//openai/v1/models", "/endpoints/my-endpoint/openai/v1/nothing", "/"]:
        assert_envelope(httpx.get(server.base + path), 404, "not_found")


def test_wrong_method_is_405_with_allow(server):
    r = httpx.get(server.base + "/v1/chat/completions")
    assert_envelope(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"
    r = httpx.post(server.base + "/v1/models", json={})
    assert_envelope(r, 405)
    assert r.headers["allow"] == "GET"
    r = httpx.delete(server.base + "/endpoints/my-endpoint/openai/v1/completions")
    assert_envelope(r, 405)
    assert r.headers["allow"] == "POST"


def test_invocations_dispatches_on_the_body(server):
    r = httpx.post(server.base + "/invocations", json=CHAT)
    assert r.json()["object"] == "chat.completion"
    r = httpx.post(server.base + "/invocations", json={"prompt": "x y"})
    assert r.json()["object"] == "text_completion"
    assert_envelope(httpx.post(server.base + "/invocations", json={"input": "x"}), 400)


def test_ping_and_health(server):
    assert httpx.get(server.base + "/ping").status_code == 200
    assert httpx.get(server.base + "/health").status_code == 200
