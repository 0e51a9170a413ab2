"""deploy/Dockerfile (not built here: no Docker, no registry) gives its image the same runtime
layout as tools/image.sh's, which tests/deploy/test_image.py runs: a drift between the two fails."""
import re

from berth_process import ROOT

RUNTIME = ("ENV", "USER", "WORKDIR", "EXPOSE", "ENTRYPOINT", "CMD")


def instructions(text):
    """The last stage's runtime instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", text)
    stage = re.split(r"^FROM ", text, flags=re.M)[-1]
    return [line.strip() for line in stage.splitlines() if line.strip().startswith(RUNTIME)]


def test_dockerfile_matches_image_sh():
    image_sh = (ROOT / "tools/image.sh").read_text()
    containerfile = re.search(r"<<'EOF'\n(.*?)\nEOF\n", image_sh, re.S).group(1)
    ours = instructions(containerfile)
    theirs = instructions((ROOT / "deploy/Dockerfile").read_text())
    assert {i.split()[0] for i in ours} == set(RUNTIME)
    # image.sh also sets PATH: a scratch image has none, NVIDIA's image keeps its own.
    ours = [re.sub(r"^ENV PATH=/usr/bin ", "ENV ", i) for i in ours]
    assert ours == theirs


def test_dockerfile_builds_on_the_cuda_runtime_image():
    text = (ROOT / "deploy/Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms[-1] == "nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU}"
    assert re.search(r"^ARG CUDA_VERSION=13\.", text, re.M)
    for tool in ("berth", "berth-token"):
        assert f"--target berth berth-token" in text and f"/out/usr/bin/{tool}" in text
    assert "useradd -u 1000 -g 1000" in text and "mkdir -p /opt/ml/model" in text
