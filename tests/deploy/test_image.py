"""The OCI image, proven from the inside: tools/image.sh builds it with buildah into a private
storage and writes the OCI archive; the test unpacks the archive's layers itself (index.json,
manifest, gzip'd tar layers: no registry, no container runtime) and runs the image's own entrypoint,
user and environment in a chroot of that root filesystem, as SageMaker runs a container: `IMAGE
serve`, the port from SAGEMAKER_BIND_TO_PORT, the model in /opt/ml/model, SageMaker bearer tokens
checked against a key store. /ping, a chat completion, /invocations, then SIGTERM drains a stream in
flight and the server exits 0.

Nothing outside the image is used: the chroot holds only the image's files, every file the running
server has mapped lies inside it, and the image's own loader resolves every library of every binary
and library in it. Building needs root (chroot) and buildah (tools/setup.sh installs it); without
them the test is skipped and says why."""
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from berth_process import BUILD, ROOT, make_demo_model, wait_for

sys.path.insert(0, str(ROOT / "tests" / "integration_auth"))
from auth_harness import ALICE, bearer, sdk_token, write_key_store  # noqa: E402

# Provided by the host's driver through the NVIDIA container toolkit, never part of the image.
DRIVER_LIBS = {"libcuda.so.1", "libnvidia-ml.so.1"}
LOADER = "/lib64/ld-linux-x86-64.so.2"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


def blob(layout, digest):
    return layout / "blobs" / digest.replace(":", "/")


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """(rootfs, image config) of the image tools/image.sh built, unpacked from its OCI archive."""
    if os.geteuid() != 0:
        pytest.skip("the image test runs the image in a chroot, which needs root")
    if not shutil.which("buildah"):
        pytest.skip("buildah is not installed (tools/setup.sh installs it: Debian package buildah)")
    tmp = tmp_path_factory.mktemp("image")
    archive = tmp / "berth.oci.tar"
    r = subprocess.run(["bash", str(ROOT / "tools" / "image.sh"), "--build-dir", str(BUILD),
                        "--storage-root", str(tmp / "storage"), "--out", str(archive),
                        "--tag", "localhost/berth:test"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    print(r.stdout)
    shutil.rmtree(tmp / "storage", ignore_errors=True)

    layout = tmp / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(layout)], check=True)
    archive.unlink()
    assert json.loads((layout / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"
    index = json.loads((layout / "index.json").read_text())
    (entry,) = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "localhost/berth:test"
    manifest = json.loads(blob(layout, entry["digest"]).read_text())
    config = json.loads(blob(layout, manifest["config"]["digest"]).read_text())
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    rootfs = tmp / "rootfs"
    rootfs.mkdir()
    for layer in manifest["layers"]:
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        with gzip.open(blob(layout, layer["digest"])) as g, tarfile.open(fileobj=g) as t:
            names = t.getnames()
            assert not [n for n in names if os.path.basename(n).startswith(".wh.")], "whiteouts in a FROM scratch image"
        # GNU tar as root keeps owners, modes and links exactly as the layer says.
        subprocess.run(["tar", "-xzf", str(blob(layout, layer["digest"])), "-C", str(rootfs),
                        "--numeric-owner", "--same-permissions"], check=True)
    shutil.rmtree(layout)
    return rootfs, config["config"]


def test_image_config_is_the_sagemaker_contract(image):
    rootfs, cfg = image
    assert cfg["Entrypoint"] == ["/usr/bin/berth"]
    assert cfg["Cmd"] == ["serve"]
    assert "8080/tcp" in cfg["ExposedPorts"]
    uid, gid = (int(x) for x in cfg["User"].split(":"))
    assert uid != 0 and gid != 0
    passwd = (rootfs / "etc/passwd").read_text()
    assert re.search(rf"^berth:x:{uid}:{gid}:", passwd, re.M), passwd
    home = rootfs / "home/berth"
    assert (home.stat().st_uid, home.stat().st_gid) == (uid, gid)  # the S3 download cache goes here
    assert (rootfs / "opt/ml/model").is_dir()
    assert (rootfs / "etc/ssl/certs/ca-certificates.crt").stat().st_size > 10000
    assert oct((rootfs / "tmp").stat().st_mode & 0o7777) == "0o1777"


def test_image_holds_no_compiler_shell_or_python(image):
    rootfs, _ = image
    names = {p.name for p in rootfs.rglob("*")}
    for bad in ("sh", "bash", "dash", "busybox", "cc", "gcc", "ld", "as", "python3", "perl", "ldd"):
        assert bad not in names, bad
    assert not [n for n in names if n.startswith(("python", "libpython", "cc1", "nvcc"))]
    binaries = sorted(p.name for p in (rootfs / "usr/bin").iterdir())
    assert binaries == ["berth", "berth-token"]


def elf_files(rootfs):
    for p in sorted(rootfs.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF":
            yield p


def test_every_library_resolves_inside_the_image(image):
    """The image's loader, run inside the chroot, lists each ELF file's libraries: none missing
    (except the driver's), every one a file of the image."""
    rootfs, _ = image
    checked = 0
    for elf in elf_files(rootfs):
        inside = "/" + str(elf.relative_to(rootfs))
        if inside == "/usr/lib64/ld-linux-x86-64.so.2":
            continue
        out = subprocess.run([CHROOT, str(rootfs), LOADER, "--list", inside], capture_output=True,
                             text=True, env={})
        assert out.returncode == 0, (inside, out.stdout, out.stderr)
        for line in out.stdout.splitlines():
            m = re.match(r"\s*(\S+) => (.*) \(0x", line)
            nf = re.match(r"\s*(\S+) => not found", line)
            if nf:
                assert nf.group(1) in DRIVER_LIBS, f"{inside} needs {nf.group(1)}, not in the image"
            elif m:
                assert (rootfs / m.group(2).lstrip("/")).exists(), (inside, line)
        checked += 1
    assert checked >= 10  # berth, berth-token and their libraries


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ImageServer:
    """The image's entrypoint + `serve` in a chroot of its root filesystem, as the image's user, with
    only the image's environment and what SageMaker adds."""

    def __init__(self, rootfs, cfg, env):
        self.port = free_port()
        full = dict(e.split("=", 1) for e in cfg["Env"])
        full.update(env, SAGEMAKER_BIND_TO_PORT=str(self.port))
        self.proc = subprocess.Popen(
            [CHROOT, f"--userspec={cfg['User']}", str(rootfs), *cfg["Entrypoint"], "serve"],
            env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                if "ready in" in line:
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not ready.wait(120) or self.proc.poll() is not None:
            self.proc.kill()
            pytest.fail("berth serve in the image did not become ready:\n" + "".join(self.log))
        self.base = f"http://127.0.0.1:{self.port}"


def stream(base, token, out, started):
    with httpx.stream("POST", base + "/v1/completions", headers=bearer(token), timeout=120, json={
            "prompt": "Drain", "max_tokens": 40, "ignore_eos": True, "stream": True}) as r:
        out["status"] = r.status_code
        for line in r.iter_lines():
            started.set()
            if line.startswith("data: {"):
                ch = json.loads(line[6:])["choices"]
                if ch and ch[0]["finish_reason"]:
                    out["finish"] = ch[0]["finish_reason"]
            elif line == "data: [DONE]":
                out["done"] = True


def test_sagemaker_contract_inside_the_image(image, tmp_path):
    rootfs, cfg = image
    # SageMaker puts the model in /opt/ml/model; berth finds it there by its config.json.
    model = rootfs / "opt/ml/model"
    shutil.rmtree(model)
    make_demo_model(tmp_path / "demo", seed=3, max_pos=1024)
    shutil.copytree(tmp_path / "demo", model)
    write_key_store(rootfs / "home/berth/keys.json", [ALICE])
    server = ImageServer(rootfs, cfg, {
        "BERTH_AUTH_KEY_STORE": "/home/berth/keys.json", "AWS_REGION": "us-east-1",
        "BERTH_BACKEND": "cpu", "BERTH_KV_CACHE_MEMORY": str(64 << 20), "OMP_NUM_THREADS": "2"})
    http = httpx.Client(timeout=120)
    try:
        log = "".join(server.log)
        assert f":{server.port}" in log and "/opt/ml/model" in log, log
        assert http.get(server.base + "/ping").status_code == 200

        # Nothing outside the image: every file the server has mapped is one of the image's.
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text().splitlines()
        files = {line.split(None, 5)[5] for line in maps if len(line.split(None, 5)) == 6}
        files = {f for f in files if f.startswith("/")}
        assert any(f.endswith("/usr/bin/berth") for f in files), files
        outside = [f for f in files if not f.startswith(str(rootfs) + "/")]
        assert not outside, outside
        # Nor any file it opened (0-2 are the test's pipes and /dev/null).
        fd_dir = Path(f"/proc/{server.proc.pid}/fd")
        opened = [os.readlink(fd) for fd in fd_dir.iterdir() if int(fd.name) > 2]
        outside = [f for f in opened if f.startswith("/") and not f.startswith(str(rootfs) + "/")]
        assert not outside, outside

        token = ALICE.token()
        chat = {"model": "model", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4,
                "temperature": 0}
        assert http.post(server.base + "/v1/chat/completions", json=chat).status_code == 401
        r = http.post(server.base + "/v1/chat/completions", json=chat, headers=bearer(token))
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "chat.completion" and r.json()["choices"][0]["message"]["content"]
        r = http.post(server.base + "/invocations", json=chat, headers=bearer(token))
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "chat.completion"
        r = http.post(server.base + "/invocations", headers=bearer(token),
                      json={"prompt": "Hello", "max_tokens": 3, "temperature": 0})
        assert r.status_code == 200 and r.json()["object"] == "text_completion", r.text
        wrong = sdk_token(ALICE.akid, "not-the-secret")
        assert http.post(server.base + "/invocations", json=chat, headers=bearer(wrong)).status_code == 401

        out, started = {}, threading.Event()
        t = threading.Thread(target=stream, args=(server.base, token, out, started))
        t.start()
        assert started.wait(60)  # the stream is running
        server.proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: http.get(server.base + "/ping").status_code == 503)
        t.join(120)
        assert server.proc.wait(60) == 0, "".join(server.log)
        log = "".join(server.log)
        assert "SIGTERM: refusing new requests, 1 in flight" in log, log
        assert out == {"status": 200, "finish": "length", "done": True}, log
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        server.reader.join(5)
