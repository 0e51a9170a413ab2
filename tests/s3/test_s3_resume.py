"""Interrupted and disturbed transfers: a stopped or killed download resumes without fetching the
parts it had (checked against moto's request log), 5xx responses are retried, corrupted bytes
never reach the model directory, and a download that cannot fit is refused up front."""

import json
import os
import signal
import subprocess
import time

import pytest

from s3_harness import DRIVER, files_of, fetch, make_env

SIZE = 8 * 1024 * 1024 + 4321
PART = 512 * 1024
N_PARTS = (SIZE + PART - 1) // PART


@pytest.fixture(scope="module")
def blob(moto):
    moto.s3.create_bucket(Bucket="big")
    data = os.urandom(SIZE)
    moto.s3.put_object(Bucket="big", Key="m/config.json", Body=b'{"model_type": "qwen3"}')
    moto.s3.put_object(Bucket="big", Key="m/model.safetensors", Body=data, ChecksumAlgorithm="SHA256")
    return data


def ranges(moto):
    return [r for r in moto.gets("model.safetensors")]


def manifest_paths(dest):
    m = dest / ".berth-manifest.json"
    return [f["path"] for f in json.loads(m.read_text())["files"]] if m.exists() else []


def test_interrupted_transfer_resumes_without_refetching(moto, blob, tmp_path):
    env = make_env(tmp_path, moto)
    dest = tmp_path / "m"
    args = (f"s3://big/m/", dest, "--part-size", PART, "--concurrency", "1")
    moto.faults()
    moto.clear()
    p, stats = fetch({**env, "BERTH_S3_TEST_FAIL_AFTER_PARTS": "6"}, *args, check=False)
    assert p.returncode == 1 and "stopped after 6 parts" in p.stderr
    first = ranges(moto)
    assert len(first) == 5  # config.json was the first part
    # Nothing half-written is visible: the model file only exists once complete.
    assert not (dest / "model.safetensors").exists()
    assert manifest_paths(dest) == ["config.json"]  # complete files are kept across runs

    moto.clear()
    _, stats = fetch(env, *args)
    second = ranges(moto)
    assert stats["parts_resumed"] == 5 and stats["parts_fetched"] == N_PARTS - 5
    assert not set(first) & set(second)
    assert len(set(first) | set(second)) == N_PARTS
    assert (dest / "model.safetensors").read_bytes() == blob


def test_killed_process_resumes(moto, blob, tmp_path):
    env = make_env(tmp_path, moto)
    dest = tmp_path / "m"
    sidecar = dest / ".berth-partial" / "model.safetensors.parts"
    moto.faults(delay_ms=60)
    moto.clear()
    proc = subprocess.Popen([str(DRIVER), "fetch", "--progress", "none", "--part-size", str(PART),
                             "--concurrency", "2", "s3://big/m/", str(dest)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    done = []
    while time.time() < deadline:
        lines = sidecar.read_text().splitlines()[1:] if sidecar.exists() else []
        if len(lines) >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [int(line.split()[0]) for line in sidecar.read_text().splitlines()[1:]]
    assert 4 <= len(done) < N_PARTS
    assert not (dest / "model.safetensors").exists()

    moto.faults()
    moto.clear()
    _, stats = fetch(env, "s3://big/m/", dest, "--part-size", PART, "--concurrency", "2")
    refetched = {int(r[len("bytes="):].split("-")[0]) // PART for r in ranges(moto)}
    assert not refetched & set(done), (sorted(refetched), done)
    assert stats["parts_resumed"] >= len(done)
    assert (dest / "model.safetensors").read_bytes() == blob


def test_server_errors_are_retried(moto, blob, tmp_path):
    moto.faults(key="model.safetensors", fail_503=3)
    moto.clear()
    dest = tmp_path / "m"
    _, stats = fetch(make_env(tmp_path, moto), "s3://big/m/", dest, "--part-size", "4M")
    moto.faults()
    assert stats["retries"] == 3
    assert len(ranges(moto)) == 3 + 3  # three parts, three of the attempts answered 503
    assert (dest / "model.safetensors").read_bytes() == blob


def test_retries_give_up_with_a_message(moto, blob, tmp_path):
    moto.faults(key="model.safetensors", fail_503=100)
    p, _ = fetch(make_env(tmp_path, moto), "s3://big/m/", tmp_path / "m", "--part-size", "4M",
                 "--max-attempts", "2", check=False)
    moto.faults()
    assert p.returncode == 1
    assert "503 SlowDown" in p.stderr and "gave up after 2 attempts" in p.stderr


def test_corrupted_bytes_never_reach_the_model_directory(moto, blob, tmp_path):
    env = make_env(tmp_path, moto)
    dest = tmp_path / "m"
    moto.faults(key="model.safetensors", corrupt=True)
    p, _ = fetch(env, "s3://big/m/", dest, check=False)
    moto.faults()
    assert p.returncode == 1
    assert "s3://big/m/model.safetensors: SHA-256 mismatch" in p.stderr
    assert not (dest / "model.safetensors").exists()
    assert "model.safetensors" not in manifest_paths(dest)
    # The bad part was discarded, so the next run fetches good bytes.
    fetch(env, "s3://big/m/", dest)
    assert (dest / "model.safetensors").read_bytes() == blob


def test_not_enough_disk_space_is_refused_up_front(moto, blob, tmp_path):
    moto.clear()
    dest = tmp_path / "m"
    p, _ = fetch(make_env(tmp_path, moto, BERTH_S3_TEST_FREE_BYTES="1M"), "s3://big/m/", dest,
                 check=False)
    assert p.returncode == 1
    assert f"not enough disk space in {dest}: the download needs {SIZE + 23} more bytes" in p.stderr
    assert ranges(moto) == []
