"""Shared fixtures for the S3 model-source tests: moto's S3 on loopback (with a request log and fault
injection, see moto_s3_server.py), a botocore client to stage objects, the fetch driver, a sharded
fixture model, and a clean environment for each run."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import botocore.session
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD = Path(os.environ.get("BERTH_BUILD_DIR", REPO / "build"))
DRIVER = BUILD / "tests" / "s3" / "berth-s3-driver"
BERTH = BUILD / "server" / "cli" / "berth"
FIXTURES = REPO / "tests" / "fixtures"

AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class MotoS3:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(HERE / "moto_s3_server.py")],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"moto server did not start: {line!r}"
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        self.s3 = self.client("s3")

    def client(self, service, akid=AKID, secret=SECRET):
        return botocore.session.get_session().create_client(
            service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=akid,
            aws_secret_access_key=secret)

    def _post(self, route, body=b""):
        req = urllib.request.Request(self.url + route, data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def log(self):
        return json.loads(self._post("/__berth/log"))

    def clear(self):
        self._post("/__berth/clear")

    def faults(self, **kw):
        self._post("/__berth/faults", json.dumps(kw).encode())

    def enable_auth(self):
        """From now on moto checks every request's SigV4 signature against its IAM users."""
        self._post("/moto-api/reset-auth", b"0")

    def gets(self, key):
        """Range headers of the GETs of one object since the last clear()."""
        return [e["range"] for e in self.log() if e["method"] == "GET" and e["path"].endswith("/" + key)]

    def upload_dir(self, bucket, prefix, folder, checksum="SHA256"):
        for f in sorted(Path(folder).rglob("*")):
            if f.is_file():
                self.s3.put_object(Bucket=bucket, Key=prefix + f.relative_to(folder).as_posix(),
                                   Body=f.read_bytes(), ChecksumAlgorithm=checksum)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def moto():
    m = MotoS3()
    yield m
    m.stop()


@pytest.fixture(scope="session", autouse=True)
def driver():
    assert DRIVER.is_file(), f"{DRIVER} is missing: build berth-s3-driver first (BERTH_BUILD_DIR={BUILD})"
    return DRIVER


def make_env(tmp_path, moto, **extra):
    """No AWS settings from the caller; static keys, the moto endpoint, no instance metadata."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BERTH_S3_"))}
    e.update(HOME=str(tmp_path), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
             AWS_CONFIG_FILE=str(tmp_path / "no-config"), AWS_EC2_METADATA_DISABLED="true",
             AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
             AWS_ENDPOINT_URL=moto.url, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    e.update({k: str(v) for k, v in extra.items()})
    return e


def fetch(env, *args, check=True, timeout=120):
    p = subprocess.run([str(DRIVER), "fetch", "--stats", "--progress", "log", *map(str, args)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stderr
    stats = json.loads(p.stdout.splitlines()[0]) if p.stdout.strip() else None
    return p, stats


def files_of(folder):
    """Relative path -> bytes for every file except our own bookkeeping."""
    folder = Path(folder)
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in folder.rglob("*")
            if f.is_file() and not f.name.startswith(".berth-") and ".berth-partial" not in f.parts}


@pytest.fixture(scope="session")
def sharded_model(tmp_path_factory):
    """tests/fixtures/qwen3-tiny-f32-sharded when it exists, else the tied fixture split here into two
    shards with a model.safetensors.index.json, as HF writes sharded checkpoints."""
    ready = FIXTURES / "qwen3-tiny-f32-sharded"
    if (ready / "model.safetensors.index.json").is_file():
        return ready
    src = FIXTURES / "qwen3-tiny-f32-tied"
    assert (src / "model.safetensors").is_file(), f"fixture model missing: {src}"
    from safetensors.numpy import load_file, save_file
    out = tmp_path_factory.mktemp("qwen3-tiny-sharded")
    for name in ("config.json", "generation_config.json"):
        shutil.copy(src / name, out / name)
    tensors = load_file(str(src / "model.safetensors"))
    names = sorted(tensors)
    half = len(names) // 2
    weight_map = {}
    for i, part in enumerate((names[:half], names[half:])):
        fname = f"model-{i + 1:05d}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, str(out / fname), metadata={"format": "pt"})
        weight_map.update({n: fname for n in part})
    total = sum(t.nbytes for t in tensors.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    return out
