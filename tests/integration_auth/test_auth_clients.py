"""Real clients against an authenticating `berth serve`: the OpenAI SDK over HTTPS (a CA and a server
certificate made here with the openssl CLI) with a SageMaker token, the OpenAI SDK with the
httpx.Auth auto-refresh pattern of PROTOCOL.md §2 over short-lived tokens, and the SDK on both
SageMaker base URLs with a token from berth-token."""
import shutil
import ssl
import subprocess
import time

import httpx
import openai
import pytest

from auth_harness import ALICE, CHAT, assert_envelope, bearer, server_env, write_key_store
from berth_process import BUILD


def openssl(*args, cwd):
    exe = shutil.which("openssl")
    if not exe:
        pytest.fail("the openssl CLI is missing (apt-get install openssl)")
    subprocess.run([exe, *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls(tmp_path):
    """ca.pem, and cert.pem/key.pem for 127.0.0.1 and localhost signed by it."""
    d = tmp_path
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=berth test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d


@pytest.fixture
def key_store(tmp_path):
    store = tmp_path / "store.json"
    write_key_store(store, [ALICE])
    return store


def test_openai_sdk_over_https_with_a_token(start_server, tls, key_store):
    s = start_server("--auth-key-store", key_store, "--auth-region", "us-east-1",
                     "--tls-cert", tls / "cert.pem", "--tls-key", tls / "key.pem")
    assert s.base.startswith("https://")
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls / "ca.pem")),
                      timeout=120) as hc:
        client = openai.OpenAI(base_url=s.base + "/endpoints/prod/openai/v1", api_key=ALICE.token(),
                               http_client=hc)
        r = client.chat.completions.create(**CHAT)
        assert r.object == "chat.completion" and r.usage.completion_tokens == 2
        chunks = list(client.chat.completions.create(**CHAT, stream=True))
        assert chunks[-1].choices[0].finish_reason == "length"
        assert hc.get(s.base + "/ping").status_code == 200
        assert_envelope(hc.get(s.base + "/metrics"), 401)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=s.v1, api_key="sk-wrong", http_client=hc, max_retries=0).models.list()
    # the certificate is real: without the CA the client refuses it, and plain HTTP gets no answer
    with pytest.raises(httpx.ConnectError):
        httpx.get(s.base + "/ping", timeout=30)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{s.port}/ping", timeout=30)


class SageMakerTokenAuth(httpx.Auth):
    """The auto-refresh pattern users copy: a token kept until it nears expiry, then a new one."""

    def __init__(self, lifetime, margin):
        self.lifetime, self.margin = lifetime, margin
        self.token, self.expires_at, self.made = None, 0.0, []

    def auth_flow(self, request):
        if self.token is None or time.time() > self.expires_at - self.margin:
            self.token = ALICE.token(expires=self.lifetime)
            self.expires_at = time.time() + self.lifetime
            self.made.append((self.token, time.time()))
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def test_openai_sdk_with_auto_refreshing_tokens(start_server, key_store):
    s = start_server("--auth-key-store", key_store, "--auth-region", "us-east-1")
    auth = SageMakerTokenAuth(lifetime=3, margin=1)
    with httpx.Client(auth=auth, timeout=120) as hc:
        client = openai.OpenAI(base_url=s.v1, api_key="unused", http_client=hc, max_retries=0)
        for i in range(6):
            r = client.chat.completions.create(**CHAT)
            assert r.choices[0].finish_reason == "length"
            if i % 2:
                time.sleep(1.1)
        assert [m.id for m in client.models.list()] == ["demo"]
    # the refresh was needed: several tokens were made, and the first one has expired by now
    assert len(auth.made) >= 2
    first, made_at = auth.made[0]
    time.sleep(max(0.0, made_at + 4.5 - time.time()))
    assert_envelope(httpx.get(s.v1 + "/models", headers=bearer(first), timeout=30), 401)


def test_openai_sdk_on_sagemaker_paths_with_a_berth_token(start_server, key_store):
    """What a SageMaker user's code does once its host points at berth: the base URL is the endpoint's
    (or its inference component's) OpenAI path and the api_key a bearer token from berth-token, the
    project's generator (as the SageMaker SDK's generate_token makes it); streaming and not."""
    s = start_server("--auth-key-store", key_store, "--auth-region", "us-east-1")
    made = subprocess.run([str(BUILD / "tools" / "token" / "berth-token"), "--region", "us-east-1",
                           "--expiry", "10m"],
                          env=server_env(AWS_ACCESS_KEY_ID=ALICE.akid, AWS_SECRET_ACCESS_KEY=ALICE.secret),
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("sagemaker-api-key-")
    for prefix in ("/endpoints/prod/openai/v1", "/endpoints/prod/inference-components/ic-1/openai/v1"):
        client = openai.OpenAI(base_url=s.base + prefix, api_key=token, max_retries=0)
        r = client.chat.completions.create(**CHAT)
        assert r.object == "chat.completion" and r.usage.completion_tokens == 2
        chunks = list(client.chat.completions.create(**CHAT, stream=True,
                                                     stream_options={"include_usage": True}))
        assert chunks[-1].usage.completion_tokens == 2
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == r.choices[0].message.content  # temperature 0
        assert [m.id for m in client.models.list()] == ["demo"]
    # alice's policy denies the "secret" endpoint: the SDK's PermissionDeniedError, for its components too
    for prefix in ("/endpoints/secret/openai/v1", "/endpoints/secret/inference-components/ic-1/openai/v1"):
        with pytest.raises(openai.PermissionDeniedError):
            openai.OpenAI(base_url=s.base + prefix, api_key=token, max_retries=0).chat.completions.create(**CHAT)
