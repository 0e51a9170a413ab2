"""The harness of the `berth serve` authentication tests: the real binary on a demo model (random
weights, Qwen3's tokenizer from ../shared), a key store the test writes, and SageMaker bearer tokens
made here exactly as the SageMaker SDK's generate_token makes them (botocore's SigV4QueryAuth, then the
SDK's encoding steps; copied from tests/auth/test_token.py). A missing binary or missing shared data
fails the tests, never skips them. Secrets carry the marker SECRETMARKER so logs can be searched."""
import base64
import datetime
import json
import os
import signal
import time
from pathlib import Path
from unittest import mock

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth_process import BERTH, BerthServer as _BerthServer, make_demo_model  # noqa: F401

ACCOUNT = "111122223333"
REGIONS = ("us-east-1", "us-west-2")
# Every endpoint the test servers accept; "berth" is the first, so plain /v1 paths are authorized as it.
ENDPOINTS = ("berth", "prod", "secret")
MARKER = "SECRETMARKER"
CHAT = {"model": "demo", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2,
        "temperature": 0}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def sdk_token(akid, secret, session=None, region="us-east-1", expires=3600, now=None,
              service="sagemaker", host=None):
    """The SageMaker SDK's generate_token steps, with botocore's clock pinned to `now` (default: now).
    `host` signs for another host, as `berth-token --endpoint-url https://HOST/` does."""
    host = host or f"{service}.amazonaws.com"
    prefix = "bedrock-api-key-" if service == "bedrock" else "sagemaker-api-key-"
    req = AWSRequest(method="POST", url=f"https://{host}/", headers={"host": host},
                     params={"Action": "CallWithBearerToken"})
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now or utcnow()):
        SigV4QueryAuth(Credentials(akid, secret, session), service, region, expires=expires).add_auth(req)
    url = req.url.replace("https://", "") + "&Version=1"
    return prefix + base64.b64encode(url.encode()).decode()


def decode(token):
    return base64.b64decode(token.split("-api-key-", 1)[1]).decode()


def encode(url, prefix="sagemaker-api-key-"):
    return prefix + base64.b64encode(url.encode()).decode()


class Identity:
    """One key store entry and the tokens it signs."""

    def __init__(self, name, statements, session=None, expiration=None):
        self.akid = "AKIA" + name.upper().ljust(16, "X")
        self.secret = f"{name}-{MARKER}-secret/key+0123456789"
        self.session = session
        self.expiration = expiration
        self.arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
        self.statements = statements

    def entry(self):
        e = {"access_key_id": self.akid, "secret_access_key": self.secret, "principal_arn": self.arn,
             "policy": {"Version": "2012-10-17", "Statement": self.statements}}
        if self.session:
            e["session_token"] = self.session
            e["expiration"] = self.expiration
        return e

    def token(self, **kw):
        kw.setdefault("session", self.session)
        return sdk_token(self.akid, self.secret, **kw)


def allow(action, resource):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def deny(action, resource):
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def endpoint_arn(name, region="*"):
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:endpoint/{name}"


CALL = allow("sagemaker:CallWithBearerToken", "*")
# alice: every endpoint of the account except an explicit Deny on "secret".
ALICE = Identity("alice", [CALL, allow("sagemaker:InvokeEndpoint", endpoint_arn("*")),
                           deny("sagemaker:InvokeEndpoint", endpoint_arn("secret"))])
# bob: only the "prod" endpoint (so not the plain /v1 paths, which are "berth").
BOB = Identity("bob", [CALL, allow("sagemaker:InvokeEndpoint", endpoint_arn("prod", "us-east-1"))])
# carol: may invoke, but not call with a bearer token.
CAROL = Identity("carol", [allow("sagemaker:InvokeEndpoint", "*")])
# temp: temporary credentials; its tokens must carry the session token.
TEMP = Identity("temp", [allow("sagemaker:*", "*")], session=f"FwoGZXIvYXdz/{MARKER}+session==",
                expiration="2099-01-01T00:00:00Z")
# dave: added by a reload.
DAVE = Identity("dave", [CALL, allow("sagemaker:InvokeEndpoint", endpoint_arn("*"))])


def write_key_store(path, identities):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps({"identities": [i.entry() for i in identities]}))
    os.replace(tmp, path)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory):
    return make_demo_model(tmp_path_factory.mktemp("models") / "demo", seed=7, max_pos=1024)


def server_env(**extra):
    """The caller's environment without anything that would configure auth behind the test's back."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "BERTH_AUTH_", "BERTH_API_KEY"))}
    env.update(extra)
    return env


class BerthServer(_BerthServer):
    """The shared harness's server (tests/support/berth_process.py) with every test endpoint name,
    at most 8 sequences, and an environment without the caller's AWS or berth auth settings."""

    def __init__(self, model, *args, env=None):
        super().__init__(model, "--max-num-seqs", "8",
                         *[a for e in ENDPOINTS for a in ("--endpoint-name", e)], *args,
                         env=env or server_env())

    def sighup_and_wait(self, what, timeout=10.0):
        """Sends SIGHUP and returns the log line that says how the reload went."""
        n = len(self.log)
        self.proc.send_signal(signal.SIGHUP)
        end = time.time() + timeout
        while time.time() < end:
            for line in self.log[n:]:
                if what in line:
                    return line
            time.sleep(0.02)
        pytest.fail(f"no '{what}' in the log after SIGHUP:\n" + self.text())


@pytest.fixture
def start_server(demo_model):
    started = []

    def start(*args, env=None):
        s = BerthServer(demo_model, *args, env=env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def assert_envelope(r, status):
    """A refusal in the OpenAI error envelope that reveals only its class."""
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    if status == 401:
        assert err["type"] == "authentication_error"
        assert err["message"] == "Invalid or missing authentication credentials."
    else:
        assert err["type"] == "permission_error"
        assert err["message"] == "The authenticated identity is not allowed to access this endpoint."
    assert err["param"] is None and err["code"] is None


# One client for the tests' plain requests: generous timeouts (a loaded 2-core machine can be slow).
http = httpx.Client(timeout=120)
