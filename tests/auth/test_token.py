"""berth-token against the SageMaker SDK's construction, and botocore-made tokens against the C verifier.

Tokens are built here exactly as `sagemaker.core.token_generator.generate_token` builds them
(botocore's SigV4QueryAuth over POST https://sagemaker.amazonaws.com/?Action=CallWithBearerToken,
"https://" dropped, "&Version=1" appended, base64, prefix) with the clock pinned, then compared byte
for byte with berth-token's output and fed to berth-auth-verify (the test front end of
auth_check_request).
"""

import base64
import datetime
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import botocore.auth
import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BUILD = Path(os.environ.get("BERTH_BUILD_DIR", str(Path(__file__).resolve().parents[2] / "build")))
TOKEN = BUILD / "tools" / "token" / "berth-token"
VERIFY = BUILD / "tests" / "auth" / "berth-auth-verify"

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION = "FwoGZXIvYXdzEBYaDH+SECRETMARKER/session+token=="
NOW = datetime.datetime(2024, 1, 1, 0, 0, 0)
NOW_STR = "20240101T000000Z"
NOW_EPOCH = 1704067200


def sdk_token(akid, secret, token, region, expires, now=NOW, service="sagemaker", host=None,
              prefix=None):
    """The SageMaker SDK's generate_token steps, with botocore's clock pinned."""
    host = host or f"{service}.amazonaws.com"
    prefix = prefix or ("bedrock-api-key-" if service == "bedrock" else "sagemaker-api-key-")
    req = AWSRequest(method="POST", url=f"https://{host}/", headers={"host": host},
                     params={"Action": "CallWithBearerToken"})
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
        SigV4QueryAuth(Credentials(akid, secret, token), service, region, expires=expires).add_auth(req)
    url = req.url.replace("https://", "") + "&Version=1"
    return prefix + base64.b64encode(url.encode()).decode()


def decode(token):
    return base64.b64decode(token.split("-api-key-", 1)[1]).decode()


@pytest.fixture(scope="session", autouse=True)
def binaries():
    for b in (TOKEN, VERIFY):
        assert b.is_file(), f"{b} is missing: build berth-token and berth-auth-verify first (BERTH_BUILD_DIR={BUILD})"


@pytest.fixture
def env(tmp_path):
    """A clean environment: no AWS variables from the caller, files that do not exist, no IMDS."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(HOME=str(tmp_path), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
             AWS_CONFIG_FILE=str(tmp_path / "config"), AWS_EC2_METADATA_DISABLED="true",
             BERTH_TOKEN_NOW=NOW_STR)
    return e


def run_token(env, *args, check=True):
    p = subprocess.run([str(TOKEN), *args], env=env, capture_output=True, text=True, timeout=30)
    if check:
        assert p.returncode == 0, p.stderr
        assert p.stderr == ""
    return p


KEYS = {
    "identities": [
        {"access_key_id": AKID, "secret_access_key": SECRET,
         "principal_arn": "arn:aws:iam::111122223333:user/alice",
         "policy": {"Version": "2012-10-17", "Statement": [
             {"Effect": "Allow", "Action": "sagemaker:CallWithBearerToken", "Resource": "*"},
             {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
              "Resource": ["arn:aws:sagemaker:*:111122223333:endpoint/llm-?",
                           "arn:aws:sagemaker:us-east-1:111122223333:endpoint/prod"]},
             {"Effect": "Deny", "Action": "sagemaker:InvokeEndpoint",
              "Resource": "arn:aws:sagemaker:*:*:endpoint/llm-x"}]}},
        {"access_key_id": "ASIATEMPORARY", "secret_access_key": "temp-SECRETMARKER-secret",
         "principal_arn": "arn:aws:sts::111122223333:assumed-role/role/session",
         "session_token": SESSION, "expiration": "2024-01-01T06:00:00Z",
         "policy": {"Statement": {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}}},
    ]
}


def verify(tmp_path, header, endpoint="prod", now=NOW_STR, regions=("us-east-1", "us-west-2"), extra=()):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEYS))
    args = [str(VERIFY), "--keys", str(keys), "--now", str(now), "--endpoint", endpoint, *extra]
    for r in regions:
        args += ["--region", r]
    p = subprocess.run(args, input=header, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    status, reason = p.stdout.splitlines()[0].split()
    message = p.stdout.splitlines()[1]
    assert "SECRETMARKER" not in p.stdout + p.stderr
    assert "api-key" not in message
    return int(status), reason


# ---- berth-token == the SDK ---------------------------------------------------------------------

@pytest.mark.parametrize("region,expiry,expires", [
    ("us-east-1", None, 43200), ("us-west-2", "1h", 3600), ("eu-central-1", "90m", 5400),
    ("ap-southeast-2", "1", 1), ("us-east-1", "43200", 43200), ("us-east-1", "12h", 43200),
    ("us-east-1", "30s", 30)])
def test_token_matches_sdk(env, region, expiry, expires):
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET)
    args = ["--region", region] + (["--expiry", expiry] if expiry else [])
    got = run_token(env, *args).stdout.strip()
    assert got == sdk_token(AKID, SECRET, None, region, expires)


def test_token_with_session_matches_sdk(env):
    env.update(AWS_ACCESS_KEY_ID="ASIATEMPORARY", AWS_SECRET_ACCESS_KEY="temp-SECRETMARKER-secret",
               AWS_SESSION_TOKEN=SESSION, AWS_REGION="us-west-2")
    got = run_token(env, "--expiry", "2h").stdout.strip()
    assert got == sdk_token("ASIATEMPORARY", "temp-SECRETMARKER-secret", SESSION, "us-west-2", 7200)
    assert "X-Amz-Security-Token=FwoGZXIvYXdzEBYaDH%2BSECRETMARKER%2Fsession%2Btoken%3D%3D" in decode(got)


def test_bedrock_token_matches_sdk(env):
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1")
    got = run_token(env, "--service", "bedrock", "--expiry", "1h").stdout.strip()
    assert got == sdk_token(AKID, SECRET, None, "us-east-1", 3600, service="bedrock")


def test_endpoint_url_sets_the_signed_host(env, tmp_path):
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1")
    got = run_token(env, "--endpoint-url", "https://sagemaker.example.internal/").stdout.strip()
    assert got == sdk_token(AKID, SECRET, None, "us-east-1", 43200, host="sagemaker.example.internal")
    assert verify(tmp_path, bearer(got), now=NOW_EPOCH) == (401, "malformed")
    assert verify(tmp_path, bearer(got), now=NOW_EPOCH, extra=["--host", "sagemaker.example.internal"]) == (200, "ok")
    bad = run_token(env, "--endpoint-url", "http://x/", check=False)
    assert bad.returncode == 2 and "https://HOST" in bad.stderr


def test_unix_seconds_clock(env):
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
               BERTH_TOKEN_NOW=str(NOW_EPOCH + 61))
    got = run_token(env, "--expiry", "60").stdout.strip()
    assert got == sdk_token(AKID, SECRET, None, "us-east-1", 60, now=NOW + datetime.timedelta(seconds=61))


@pytest.mark.parametrize("expiry", ["0", "0s", "43201", "13h", "721m", "abc", "1d", "-5", ""])
def test_expiry_out_of_range_is_a_clear_error(env, expiry):
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1")
    p = run_token(env, "--expiry", expiry, check=False)
    assert p.returncode == 2 and p.stdout == ""
    assert "expected 1s..12h" in p.stderr


def test_help_and_usage(env):
    p = run_token(env, "--help")
    assert "--expiry" in p.stdout and "BERTH_TOKEN_NOW" in p.stdout
    bad = run_token(env, "--service", "s3", check=False)
    assert bad.returncode == 2 and "sagemaker or bedrock" in bad.stderr


def test_no_region_is_an_error(env):
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET)
    p = run_token(env, check=False)
    assert p.returncode == 1 and "no region" in p.stderr and "--region" in p.stderr


def test_no_credentials_is_an_error(env):
    p = run_token(env, "--region", "us-east-1", check=False)
    assert p.returncode == 1 and "no AWS credentials found" in p.stderr


# ---- the C verifier accepts SDK tokens and rejects bad ones with the right class ---------------

def bearer(token):
    return f"Bearer {token}\n"


def test_sdk_tokens_verify(tmp_path):
    tok = sdk_token(AKID, SECRET, None, "us-east-1", 43200)
    assert verify(tmp_path, bearer(tok)) == (200, "ok")
    assert verify(tmp_path, bearer(tok), endpoint="llm-a") == (200, "ok")
    tok = sdk_token("ASIATEMPORARY", "temp-SECRETMARKER-secret", SESSION, "us-west-2", 3600)
    assert verify(tmp_path, bearer(tok), endpoint="anything") == (200, "ok")


def test_berth_token_output_verifies(env, tmp_path):
    env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1")
    tok = run_token(env, "--expiry", "1h").stdout.strip()
    assert verify(tmp_path, bearer(tok)) == (200, "ok")


def test_permission_is_403(tmp_path):
    tok = sdk_token(AKID, SECRET, None, "us-east-1", 3600)
    assert verify(tmp_path, bearer(tok), endpoint="other") == (403, "ok")
    assert verify(tmp_path, bearer(tok), endpoint="llm-x") == (403, "ok")  # explicit Deny wins
    assert verify(tmp_path, bearer(tok), endpoint="prod", regions=["us-east-1"]) == (200, "ok")
    tok = sdk_token(AKID, SECRET, None, "us-west-2", 3600)
    assert verify(tmp_path, bearer(tok), endpoint="prod") == (403, "ok")  # the ARN names us-east-1


def tamper(token):
    url = decode(token)
    i = url.index("X-Amz-Signature=") + len("X-Amz-Signature=") + 5
    url = url[:i] + ("0" if url[i] != "0" else "1") + url[i + 1:]
    return "sagemaker-api-key-" + base64.b64encode(url.encode()).decode()


def test_rejections(tmp_path):
    good = sdk_token(AKID, SECRET, None, "us-east-1", 3600)
    later = NOW_EPOCH + 3601
    cases = {
        "tampered": (tamper(good), NOW_STR, (401, "bad_signature")),
        "expired": (good, later, (401, "expired")),
        "future-dated": (sdk_token(AKID, SECRET, None, "us-east-1", 3600,
                                   now=NOW + datetime.timedelta(minutes=6)), NOW_STR, (401, "not_yet_valid")),
        "wrong-region": (sdk_token(AKID, SECRET, None, "eu-west-1", 3600), NOW_STR, (401, "wrong_region")),
        "wrong-service": (sdk_token(AKID, SECRET, None, "us-east-1", 3600, service="bedrock",
                                    host="sagemaker.amazonaws.com", prefix="sagemaker-api-key-"),
                          NOW_STR, (401, "wrong_service")),
        "bedrock-not-enabled": (sdk_token(AKID, SECRET, None, "us-east-1", 3600, service="bedrock"),
                                NOW_STR, (401, "wrong_service")),
        "unknown-key": (sdk_token("AKIAUNKNOWNKEY", SECRET, None, "us-east-1", 3600), NOW_STR,
                        (401, "unknown_key")),
        "wrong-secret": (sdk_token(AKID, "not-the-secret", None, "us-east-1", 3600), NOW_STR,
                         (401, "bad_signature")),
        "wrong-session-token": (sdk_token("ASIATEMPORARY", "temp-SECRETMARKER-secret", "other-token",
                                          "us-east-1", 3600), NOW_STR, (401, "session_token_mismatch")),
        "missing-session-token": (sdk_token("ASIATEMPORARY", "temp-SECRETMARKER-secret", None,
                                            "us-east-1", 3600), NOW_STR, (401, "session_token_mismatch")),
        "credentials-expired": (sdk_token("ASIATEMPORARY", "temp-SECRETMARKER-secret", SESSION, "us-east-1",
                                          43200), NOW_EPOCH + 6 * 3600 + 1, (401, "expired")),
        "not-base64": ("sagemaker-api-key-%%%", NOW_STR, (401, "malformed")),
        "plain-url": ("sagemaker-api-key-" + decode(good), NOW_STR, (401, "malformed")),
    }
    for name, (tok, now, want) in cases.items():
        assert verify(tmp_path, bearer(tok), now=now) == want, name
    assert verify(tmp_path, "") == (401, "missing")
    assert verify(tmp_path, "Basic YTpi\n") == (401, "malformed")


def test_bedrock_tokens_when_enabled(tmp_path):
    tok = sdk_token(AKID, SECRET, None, "us-east-1", 3600, service="bedrock")
    # the identity may call sagemaker:CallWithBearerToken but not bedrock:CallWithBearerToken
    assert verify(tmp_path, bearer(tok), extra=["--bedrock"]) == (403, "ok")


# ---- the credential chain -----------------------------------------------------------------------

class _AwsEndpoints(BaseHTTPRequestHandler):
    """Container credentials and IMDSv2 on loopback, strict about the headers a client must send."""

    def log_message(self, *args):
        pass

    def _reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        self.server.seen.append(("PUT", self.path, self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")))
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self._reply(200, "imds-session-token")
        self._reply(400, "")

    def do_GET(self):
        if self.path.startswith("/container/"):
            self.server.seen.append(("GET", self.path, self.headers.get("Authorization")))
            return self._reply(200, json.dumps({
                "AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "sc", "Token": "ctok",
                "Expiration": "2030-01-01T00:00:00Z"}))
        self.server.seen.append(("GET", self.path, self.headers.get("X-aws-ec2-metadata-token")))
        if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
            return self._reply(401, "")
        if self.path == "/latest/meta-data/iam/security-credentials/":
            return self._reply(200, "my-role\n")
        if self.path == "/latest/meta-data/iam/security-credentials/my-role":
            return self._reply(200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAIMDS", "SecretAccessKey": "si",
                "Token": "itok", "Expiration": "2030-01-01T00:00:00Z"}))
        self._reply(404, "")


@pytest.fixture
def aws_http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AwsEndpoints)
    server.seen = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()



def akid_of(token):
    cred = [p for p in decode(token).split("&") if p.startswith("X-Amz-Credential=")][0]
    return cred.split("=", 1)[1].split("%2F")[0]


def session_of(token):
    parts = [p for p in decode(token).split("&") if p.startswith("X-Amz-Security-Token=")]
    return parts[0].split("=", 1)[1] if parts else None


def test_shared_files_and_profiles(env, tmp_path):
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n"
        "[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=s2\naws_session_token = tok2\n")
    (tmp_path / "config").write_text(
        "[default]\nregion = eu-west-1\n\n[profile dev]\nregion = ap-south-1\n"
        "s3 =\n  max_concurrent_requests = 5\n\n"
        "[profile cfgonly]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = s3\nregion = us-east-2\n")
    tok = run_token(env).stdout.strip()
    assert tok == sdk_token("AKIADEFAULT", "s1", None, "eu-west-1", 43200)
    tok = run_token(env, "--profile", "dev").stdout.strip()
    assert tok == sdk_token("AKIADEV", "s2", "tok2", "ap-south-1", 43200)
    env["AWS_PROFILE"] = "cfgonly"
    tok = run_token(env).stdout.strip()
    assert tok == sdk_token("AKIACONFIG", "s3", None, "us-east-2", 43200)
    # region precedence: --region, AWS_REGION, AWS_DEFAULT_REGION, profile
    env["AWS_DEFAULT_REGION"] = "sa-east-1"
    assert "%2Fsa-east-1%2F" in decode(run_token(env).stdout.strip())
    env["AWS_REGION"] = "ca-central-1"
    assert "%2Fca-central-1%2F" in decode(run_token(env).stdout.strip())
    assert "%2Fme-south-1%2F" in decode(run_token(env, "--region", "me-south-1").stdout.strip())


def test_environment_first_unless_profile_given(env, tmp_path):
    (tmp_path / "credentials").write_text("[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=s2\n")
    env.update(AWS_ACCESS_KEY_ID="AKIAENV", AWS_SECRET_ACCESS_KEY="senv", AWS_REGION="us-east-1",
               AWS_PROFILE="dev")
    assert akid_of(run_token(env).stdout.strip()) == "AKIAENV"
    assert akid_of(run_token(env, "--profile", "dev").stdout.strip()) == "AKIADEV"
    p = run_token(env, "--profile", "nope", check=False)
    assert p.returncode == 1 and "profile nope not found" in p.stderr
    del env["AWS_SECRET_ACCESS_KEY"]
    p = run_token(env, check=False)
    assert p.returncode == 1 and "AWS_SECRET_ACCESS_KEY is not" in p.stderr


def test_credential_process(env, tmp_path):
    script = tmp_path / "creds.py"
    script.write_text(
        "import json, sys\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'ASIAPROCESS', 'SecretAccessKey': 'sp',"
        " 'SessionToken': 'ptok/+=', 'Expiration': '2030-01-01T00:00:00Z'}))\n")
    bad = tmp_path / "bad.py"
    bad.write_text("print('{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"SECRETMARKER\"')\n")
    fails = tmp_path / "fails.py"
    fails.write_text("import sys\nsys.exit(3)\n")
    py = os.path.realpath(sys.executable)
    (tmp_path / "config").write_text(
        f"[profile proc]\nregion = us-west-1\ncredential_process = {py} {script}\n"
        f"[profile badproc]\nregion = us-west-1\ncredential_process = {py} {bad}\n"
        f"[profile failproc]\nregion = us-west-1\ncredential_process = {py} {fails}\n"
        "[profile role]\nregion = us-west-1\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n")
    tok = run_token(env, "--profile", "proc").stdout.strip()
    assert tok == sdk_token("ASIAPROCESS", "sp", "ptok/+=", "us-west-1", 43200)
    p = run_token(env, "--profile", "badproc", check=False)
    assert p.returncode == 1 and "credential_process" in p.stderr and "SECRETMARKER" not in p.stderr
    p = run_token(env, "--profile", "failproc", check=False)
    assert p.returncode == 1 and "exit status 3" in p.stderr
    p = run_token(env, "--profile", "role", check=False)
    assert p.returncode == 1 and "role_arn" in p.stderr


def test_container_credentials(env, tmp_path, aws_http):
    env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{aws_http.url}/container/creds",
               AWS_CONTAINER_AUTHORIZATION_TOKEN="container-auth-token", AWS_REGION="us-east-1")
    tok = run_token(env).stdout.strip()
    assert tok == sdk_token("ASIACONTAINER", "sc", "ctok", "us-east-1", 43200)
    assert aws_http.seen[-1] == ("GET", "/container/creds", "container-auth-token")
    tokfile = tmp_path / "auth-token"
    tokfile.write_text("file-auth-token\n")
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(tokfile)
    run_token(env)
    assert aws_http.seen[-1] == ("GET", "/container/creds", "file-auth-token")
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://example.com/creds"
    p = run_token(env, check=False)
    assert p.returncode == 1 and "loopback" in p.stderr


def test_imdsv2(env, aws_http):
    env.update(AWS_EC2_METADATA_DISABLED="false", AWS_EC2_METADATA_SERVICE_ENDPOINT=aws_http.url,
               AWS_REGION="us-east-1")
    tok = run_token(env).stdout.strip()
    assert tok == sdk_token("ASIAIMDS", "si", "itok", "us-east-1", 43200)
    assert [s[:2] for s in aws_http.seen] == [
        ("PUT", "/latest/api/token"),
        ("GET", "/latest/meta-data/iam/security-credentials/"),
        ("GET", "/latest/meta-data/iam/security-credentials/my-role")]
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    p = run_token(env, check=False)
    assert p.returncode == 1 and "instance metadata is disabled" in p.stderr
