"""The inference-component admin API (SageMaker's operations over POST / with X-Amz-Target) and its
client `berth components`: admin credentials (plain API keys never pass), a component created at
runtime serves while the other keeps serving, copies scale up and down, a deleted component refuses
new requests at once, lets its stream in flight finish, then disappears, and a SIGTERM drains."""
import json
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from berth_process import BERTH, BUILD, need, wait_for
from test_components import ENDPOINT, SMOL, BerthRouter, chat_body, events, stream, write_config

USER = {"Authorization": "Bearer user-key"}


def admin(router, op, body, key="adm-key"):
    headers = {"X-Amz-Target": f"SageMaker.{op}"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.post(router.base + "/", json=body, headers=headers, timeout=60)


def cli(router, *args):
    env = dict(os.environ, BERTH_ADMIN_API_KEY="adm-key", BERTH_URL=router.base)
    return subprocess.run([str(BERTH), "components", *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=env)


def health(router, name):
    return httpx.get(router.base + f"/endpoints/{ENDPOINT}/inference-components/{name}/health",
                     headers=USER, timeout=60)


def test_components_created_scaled_and_deleted_at_runtime(demo_model, tmp_path):
    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "kv_cache_tokens": 4096, "threads": 1}])
    r = BerthRouter(cfg, "--api-key", "user-key", "--admin-api-key", "adm-key", "--shutdown-timeout", "120")
    try:
        # admin credentials: none, a plain API key, the admin key
        assert admin(r, "ListInferenceComponents", {}, key=None).status_code == 401
        assert admin(r, "ListInferenceComponents", {}, key="user-key").status_code == 401
        listed = admin(r, "ListInferenceComponents", {}).json()["InferenceComponents"]
        assert [(c["InferenceComponentName"], c["InferenceComponentStatus"]) for c in listed] == [("qwen", "InService")]
        bad = admin(r, "NoSuchOperation", {})
        assert bad.status_code == 400 and bad.json()["__type"] == "UnknownOperationException"

        # validation names the field; shares past the machine are refused
        p = cli(r, "create", "--name", "smol", "--model", SMOL, "--berth-parameters", '{"max_num_seqs": "8"}')
        assert p.returncode == 1 and "Specification.BerthParameters.max_num_seqs: expected an integer" in p.stderr
        p = cli(r, "create", "--name", "smol", "--model", SMOL, "--memory-mib", 16 << 20)
        assert p.returncode == 1 and "ResourceLimitExceeded" in p.stderr, p.stderr
        # a model that cannot load: its workers keep exiting, it is Failed, the endpoint stays up
        p = cli(r, "create", "--name", "broken", "--model", tmp_path / "no-such-model")
        assert p.returncode == 0, p.stderr
        assert wait_for(lambda: admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "broken"})
                        .json()["InferenceComponentStatus"] == "Failed", 30), r.text()
        assert cli(r, "delete", "--name", "broken").returncode == 0
        assert wait_for(lambda: "component broken deleted" in r.text(), 30), r.text()
        resp = admin(r, "CreateInferenceComponent", {"InferenceComponentName": "smol", "EndpointName": ENDPOINT,
                                                     "Specification": {"Container": {"ArtifactUrl": str(SMOL)}},
                                                     "Colour": 1})
        assert resp.status_code == 400 and "Colour: unknown field" in resp.text

        # created at runtime while qwen serves a stream
        qwen_body = chat_body("qwen", max_tokens=300, ignore_eos=True)
        with ThreadPoolExecutor(1) as pool:
            qwen = pool.submit(stream, r.base + "/v1/chat/completions", qwen_body, USER)
            p = cli(r, "create", "--name", "smol", "--model", SMOL, "--threads", 1,
                    "--berth-parameters", '{"kv_cache_tokens": 2048, "max_model_len": 1024}')
            assert p.returncode == 0, p.stderr
            assert json.loads(p.stdout)["InferenceComponentArn"].endswith(":inference-component/smol")
            assert wait_for(lambda: health(r, "smol").status_code == 200, 60), r.text()
            status, raw = stream(r.base + "/v1/chat/completions", chat_body("smol"), USER)
            assert status == 200 and events(raw)[-1] == "[DONE]" and '"model":"smol"' in raw
            status, raw = qwen.result()
            assert status == 200 and events(raw)[-1] == "[DONE]"
        d = json.loads(cli(r, "describe", "--name", "smol").stdout)
        assert d["InferenceComponentStatus"] == "InService" and d["RuntimeConfig"]["CurrentCopyCount"] == 1
        assert d["Specification"]["BerthParameters"]["kv_cache_tokens"] == 2048
        names = [c["InferenceComponentName"] for c in json.loads(cli(r, "list").stdout)["InferenceComponents"]]
        assert names == ["qwen", "smol"]
        models = httpx.get(r.base + "/v1/models", headers=USER, timeout=60).json()["data"]
        assert [m["id"] for m in models] == ["qwen", "smol"]

        # scale qwen to 2 copies and back
        assert cli(r, "update", "--name", "qwen", "--copies", 2).returncode == 0
        assert wait_for(lambda: health(r, "qwen").json()["ready_copies"] == 2, 60), r.text()
        second = health(r, "qwen").json()["workers"][1]["pid"]
        assert cli(r, "update", "--name", "qwen", "--copies", 1).returncode == 0
        assert wait_for(lambda: len(health(r, "qwen").json()["workers"]) == 1, 30), health(r, "qwen").text
        # The router logs the exit once it has reaped the worker, which on a loaded machine can come
        # after /health stopped listing it.
        assert wait_for(lambda: f"worker pid {second} exited with status 0 (stopped)" in r.text(), 30), r.text()

        # delete smol with a stream in flight: new requests are refused at once, the stream finishes
        started = threading.Event()
        smol_pid = health(r, "smol").json()["workers"][0]["pid"]
        with ThreadPoolExecutor(1) as pool:
            inflight = pool.submit(stream, r.base + "/v1/chat/completions",
                                   chat_body("smol", max_tokens=16, ignore_eos=True), USER, started.set)
            assert started.wait(60)
            assert cli(r, "delete", "--name", "smol").returncode == 0
            # (on /v1 any model name now reaches qwen, the one component left)
            refused = httpx.post(r.base + f"/endpoints/{ENDPOINT}/inference-components/smol/openai/v1/chat/completions",
                                 json=chat_body(stream=False), headers=USER, timeout=60)
            assert refused.status_code == 404 and "'smol'" in refused.text
            status, raw = inflight.result()
            assert status == 200 and events(raw)[-1] == "[DONE]", raw[-300:]
            assert json.loads(events(raw)[-2])["choices"][0]["finish_reason"] == "length"  # all 16 tokens
        assert wait_for(lambda: "component smol deleted" in r.text(), 30), r.text()
        assert wait_for(lambda: f"worker pid {smol_pid} exited with status 0 (stopped)" in r.text(), 30), r.text()
        names = [c["InferenceComponentName"] for c in admin(r, "ListInferenceComponents", {}).json()["InferenceComponents"]]
        assert names == ["qwen"]
        assert admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "smol"}).status_code == 400
        # the name can be used again
        p = cli(r, "create", "--name", "smol", "--model", SMOL, "--threads", 1,
                "--berth-parameters", '{"kv_cache_tokens": 2048, "max_model_len": 1024}')
        assert p.returncode == 0, p.stderr
        assert wait_for(lambda: health(r, "smol").status_code == 200, 60), r.text()
        assert httpx.post(r.base + "/v1/chat/completions", json=chat_body("smol", stream=False), headers=USER,
                          timeout=120).status_code == 200

        # SIGTERM: the stream in flight finishes, then the router and its workers exit
        started.clear()
        with ThreadPoolExecutor(1) as pool:
            inflight = pool.submit(stream, r.base + "/v1/chat/completions",
                                   chat_body("qwen", max_tokens=40, ignore_eos=True), USER, started.set)
            assert started.wait(60)
            r.proc.send_signal(signal.SIGTERM)
            status, raw = inflight.result()
            assert status == 200 and events(raw)[-1] == "[DONE]", raw[-300:]
        assert r.proc.wait(timeout=150) == 0, r.text()
    finally:
        if r.proc.poll() is None:
            r.stop()


def test_memory_shares_reach_the_workers(demo_model, tmp_path):
    """memory_mib is each worker's hard share: a component that fits serves with its KV cache sized
    from the share; one whose model does not fit is Failed, and the log gives the numbers."""
    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "memory_mib": 300, "threads": 1}])
    r = BerthRouter(cfg, "--admin-api-key", "adm-key")
    try:
        status, raw = stream(r.base + "/v1/chat/completions", chat_body("qwen"))
        assert status == 200 and events(raw)[-1] == "[DONE]"
        metrics = r.get("/metrics").text
        share = [l for l in metrics.splitlines()
                 if l.startswith("berth_memory_share_bytes") and 'model_name="qwen"' in l]
        assert share and float(share[0].split()[-1]) == 300 * 2**20, metrics
        kv = [l for l in metrics.splitlines()
              if l.startswith("berth_kv_cache_tokens") and 'model_name="qwen"' in l]
        assert kv and float(kv[0].split()[-1]) > 0, metrics

        p = cli(r, "create", "--name", "tiny", "--model", demo_model, "--memory-mib", 40, "--threads", 1)
        assert p.returncode == 0, p.stderr
        assert wait_for(lambda: admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "tiny"})
                        .json()["InferenceComponentStatus"] == "Failed", 60), r.text()
        assert "> share 40.0 MiB" in r.text(), r.text()
        status, raw = stream(r.base + "/v1/chat/completions", chat_body("qwen"))
        assert status == 200 and events(raw)[-1] == "[DONE]"
    finally:
        r.stop_now()


def test_rolling_update_of_a_components_specification(demo_model, tmp_path):
    """UpdateInferenceComponent with a new Specification replaces the copies without downtime:
    requests under concurrent load keep succeeding through the switch, and the new memory share is
    in force afterwards. An update whose new copies cannot start (a share too small for the model)
    is rolled back: the old copy keeps serving and Describe gives the FailureReason; a second update
    while one is in progress is refused."""
    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "memory_mib": 300, "threads": 1}])
    r = BerthRouter(cfg, "--admin-api-key", "adm-key")

    def share(metrics):
        return [float(l.split()[-1]) for l in metrics.splitlines()
                if l.startswith("berth_memory_share_bytes") and 'model_name="qwen"' in l]

    def describe():
        return admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "qwen"}).json()

    try:
        stop = threading.Event()
        results = []

        def load(streamed):
            while not stop.is_set():
                body = chat_body("qwen", max_tokens=3, stream=streamed)
                if streamed:
                    status, raw = stream(r.base + "/v1/chat/completions", body)
                    results.append(status == 200 and events(raw)[-1] == "[DONE]")
                else:
                    resp = httpx.post(r.base + "/v1/chat/completions", json=body, timeout=120)
                    results.append(resp.status_code == 200 and resp.json()["choices"][0]["message"])

        old_pid = health(r, "qwen").json()["workers"][0]["pid"]
        with ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(load, s) for s in (False, True)]
            assert wait_for(lambda: len(results) >= 2, 60)
            p = cli(r, "update", "--name", "qwen", "--memory-mib", 320)
            assert p.returncode == 0, p.stderr
            assert describe()["InferenceComponentStatus"] == "Updating"
            assert wait_for(lambda: describe()["InferenceComponentStatus"] == "InService", 60), r.text()
            assert wait_for(lambda: f"worker pid {old_pid} exited with status 0 (stopped)" in r.text(), 30)
            n = len(results)
            assert wait_for(lambda: len(results) >= n + 2, 60)  # served by the new copy
            stop.set()
            for j in jobs:
                j.result()
        assert results and all(results), results
        assert share(r.get("/metrics").text) == [320 * 2**20], r.get("/metrics").text
        d = describe()
        assert d["Specification"]["ComputeResourceRequirements"]["MaxMemoryRequiredInMb"] == 320
        assert d["RuntimeConfig"]["CurrentCopyCount"] == 1 and "FailureReason" not in d
        new_pid = [w for w in health(r, "qwen").json()["workers"] if w["ready"]][0]["pid"]

        # a share too small for the model: rolled back, the running copy keeps serving
        p = cli(r, "update", "--name", "qwen", "--memory-mib", 40)
        assert p.returncode == 0, p.stderr
        again = admin(r, "UpdateInferenceComponent", {"InferenceComponentName": "qwen",
                                                     "RuntimeConfig": {"CopyCount": 2}})
        assert again.status_code == 400 and again.json()["__type"] == "ValidationException", again.text
        assert "in progress" in again.json()["message"]
        assert wait_for(lambda: "FailureReason" in describe(), 60), r.text()
        d = describe()
        assert d["InferenceComponentStatus"] == "InService", d
        assert "rolled back" in d["FailureReason"] and "> share 40.0 MiB" in d["FailureReason"], d
        assert d["Specification"]["ComputeResourceRequirements"]["MaxMemoryRequiredInMb"] == 320
        assert [w["pid"] for w in health(r, "qwen").json()["workers"] if w["ready"]] == [new_pid]
        status, raw = stream(r.base + "/v1/chat/completions", chat_body("qwen", max_tokens=3))
        assert status == 200 and events(raw)[-1] == "[DONE]"
        assert share(r.get("/metrics").text) == [320 * 2**20]
    finally:
        r.stop_now()


def test_admin_api_with_a_key_store_identity_and_a_berth_token(demo_model, tmp_path):
    """A key-store identity allowed Describe and Update on one component, not Delete: its SigV4
    bearer token (made with berth-token from AWS credentials in the environment, as a user would)
    passes for the allowed operations, over HTTP and through `berth components`, and Delete gets
    AccessDeniedException."""
    account, akid, secret = "111122223333", "AKIAOPSXXXXXXXXXXXXX", "ops-secret/key+0123456789"
    component_arn = f"arn:aws:sagemaker:*:{account}:inference-component/qwen"
    store = tmp_path / "keys.json"
    store.write_text(json.dumps({"identities": [{
        "access_key_id": akid, "secret_access_key": secret,
        "principal_arn": f"arn:aws:iam::{account}:user/ops",
        "policy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sagemaker:CallWithBearerToken", "Resource": "*"},
            {"Effect": "Allow", "Resource": component_arn,
             "Action": ["sagemaker:DescribeInferenceComponent", "sagemaker:UpdateInferenceComponent"]}]}}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_"))}
    token_env = dict(env, AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION="us-east-1",
                     AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                     AWS_EC2_METADATA_DISABLED="true")
    token_bin = BUILD / "tools" / "token" / "berth-token"
    need(token_bin, "berth-token (build the project first)")
    made = subprocess.run([str(token_bin), "--expiry", "10m"],
                          capture_output=True, text=True, timeout=30, env=token_env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("sagemaker-api-key-")

    cfg = write_config(tmp_path / "ep.json", [
        {"name": "qwen", "model": str(demo_model), "kv_cache_tokens": 4096, "threads": 1}])
    r = BerthRouter(cfg, "--auth-key-store", store, "--auth-region", "us-east-1")
    try:
        d = admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "qwen"}, key=token)
        assert d.status_code == 200 and d.json()["InferenceComponentStatus"] == "InService", d.text
        p = cli(r, "update", "--name", "qwen", "--copies", 1, "--api-key", token)
        assert p.returncode == 0 and json.loads(p.stdout)["InferenceComponentArn"].endswith("/qwen"), p.stderr
        gone = admin(r, "DeleteInferenceComponent", {"InferenceComponentName": "qwen"}, key=token)
        assert gone.status_code == 403 and gone.json()["__type"] == "AccessDeniedException", gone.text
        p = cli(r, "delete", "--name", "qwen", "--api-key", token)
        assert p.returncode == 1 and "AccessDeniedException" in p.stderr, p.stderr
        # the allowed actions hold for this component only, and a forged token is refused
        other = admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "other"}, key=token)
        assert other.status_code == 403 and other.json()["__type"] == "AccessDeniedException"
        forged = admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "qwen"}, key=token[:-4] + "AAAA")
        assert forged.status_code in (401, 403), forged.text
        assert admin(r, "DescribeInferenceComponent", {"InferenceComponentName": "qwen"},
                     key=token).json()["InferenceComponentStatus"] == "InService"
    finally:
        r.stop_now()


def test_a_deleted_components_idle_worker_connections_are_closed_at_once(demo_model, tmp_path):
    """The router keeps idle connections to its workers; those of a component that is deleted go at
    once (not when the pool evicts them), and a component created again under the same name (on the
    same worker socket path) starts with none: no request reuses a connection to the old worker."""
    comp = {"model": str(demo_model), "kv_cache_tokens": 2048, "threads": 1, "max_num_seqs": 4}
    cfg = write_config(tmp_path / "ep.json", [{"name": "keep", **comp}, {"name": "gone", **comp}])
    r = BerthRouter(cfg, "--admin-api-key", "adm-key")

    def post(name):
        return httpx.post(r.base + f"/endpoints/{ENDPOINT}/inference-components/{name}/openai/v1/chat/completions",
                          json=chat_body(stream=False, max_tokens=4), timeout=120)

    def idle(name):
        return sum(w["idle_connections"] for w in r.component(name)["workers"])

    def pooled():
        return r.metrics()["berth_router_idle_worker_connections"]

    try:
        # concurrent requests: each leaves its connection in the pool
        with ThreadPoolExecutor(3) as pool:
            assert all(s.status_code == 200 for s in pool.map(post, ["keep", "gone"] * 3))
        kept, stale = idle("keep"), idle("gone")
        assert kept >= 1 and stale >= 1 and pooled() == kept + stale, (kept, stale, pooled())

        assert admin(r, "DeleteInferenceComponent", {"InferenceComponentName": "gone"}).status_code == 200
        assert pooled() == kept, r.text()  # at once: the deleted copy's are closed when it retires
        assert wait_for(lambda: "component gone deleted" in r.text(), 30), r.text()
        assert pooled() == kept

        p = cli(r, "create", "--name", "gone", "--model", demo_model, "--threads", 1,
                "--berth-parameters", '{"kv_cache_tokens": 2048, "max_num_seqs": 4}')
        assert p.returncode == 0, p.stderr
        assert wait_for(lambda: health(r, "gone").status_code == 200, 60), r.text()
        assert idle("gone") == 0
        for _ in range(3):
            assert post("gone").status_code == 200
        assert idle("gone") == 1 and pooled() == kept + 1  # one connection, made to the new worker
        assert r.metrics().get('berth_component_worker_failures_total{component="gone"}', 0) == 0
    finally:
        r.stop()
