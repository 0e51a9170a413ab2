"""Fetching a model prefix from moto's S3: byte-identical files, parallel ranged GETs, a rerun that
downloads nothing, updates that fetch only what changed, pagination, the cache layout, and the same
generation from the fetched copy as from the local one."""

import os
import subprocess

import pytest

from s3_harness import BERTH, DRIVER, files_of, fetch, make_env

PREFIX = "org/qwen3-tiny/"


@pytest.fixture(scope="module")
def bucket(moto, sharded_model):
    moto.s3.create_bucket(Bucket="models")
    moto.upload_dir("models", PREFIX, sharded_model)
    # A sibling whose name extends the prefix: must not be fetched with it.
    moto.s3.put_object(Bucket="models", Key="org/qwen3-tiny-other/config.json", Body=b"{}")
    return "models"


def test_sharded_model_downloads_byte_identical(moto, bucket, sharded_model, tmp_path):
    moto.clear()
    dest = tmp_path / "m"
    p, stats = fetch(make_env(tmp_path, moto), f"s3://{bucket}/org/qwen3-tiny", dest)
    local = files_of(sharded_model)
    assert len([n for n in local if n.endswith(".safetensors")]) >= 2
    assert files_of(dest) == local
    assert p.stdout.splitlines()[-1] == str(dest)
    assert stats["objects"] == len(local) and stats["downloaded"] == len(local)
    assert not (dest / ".berth-partial").exists()
    assert not any("qwen3-tiny-other" in e["path"] for e in moto.log() if e["method"] != "GET"
                   or "list-type" not in e["query"])


def test_rerun_downloads_nothing(moto, bucket, tmp_path):
    env = make_env(tmp_path, moto)
    dest = tmp_path / "m"
    fetch(env, f"s3://{bucket}/{PREFIX}", dest)
    before = files_of(dest)
    moto.clear()
    p, stats = fetch(env, f"s3://{bucket}/{PREFIX}", dest)
    assert stats["downloaded"] == 0 and stats["skipped"] == stats["objects"]
    assert stats["bytes_downloaded"] == 0
    log = moto.log()
    assert log and all(e["method"] == "GET" and "list-type=2" in e["query"] for e in log), log
    assert files_of(dest) == before
    assert "0 downloaded" in p.stderr


def test_changed_object_refetched_and_deleted_object_removed(moto, tmp_path, sharded_model):
    moto.s3.create_bucket(Bucket="changing")
    moto.upload_dir("changing", "m/", sharded_model)
    env = make_env(tmp_path, moto)
    dest = tmp_path / "m"
    fetch(env, "s3://changing/m/", dest)
    new_config = (sharded_model / "config.json").read_bytes() + b"\n"
    moto.s3.put_object(Bucket="changing", Key="m/config.json", Body=new_config)
    moto.s3.delete_object(Bucket="changing", Key="m/generation_config.json")
    moto.clear()
    _, stats = fetch(env, "s3://changing/m/", dest)
    assert stats["downloaded"] == 1
    got = [e["path"] for e in moto.log() if e["method"] == "GET" and "list-type" not in e["query"]]
    assert got == ["/changing/m/config.json"]
    assert (dest / "config.json").read_bytes() == new_config
    assert not (dest / "generation_config.json").exists()


def test_large_object_is_fetched_in_parallel_ranged_gets(moto, tmp_path):
    moto.s3.create_bucket(Bucket="large")
    blob = os.urandom(12 * 1024 * 1024 + 123)
    moto.s3.put_object(Bucket="large", Key="m/model.safetensors", Body=blob, ChecksumAlgorithm="SHA256")
    moto.s3.put_object(Bucket="large", Key="m/config.json", Body=b"{}")
    moto.clear()
    dest = tmp_path / "m"
    _, stats = fetch(make_env(tmp_path, moto), "s3://large/m/", dest, "--part-size", "1M",
                     "--concurrency", "4")
    assert (dest / "model.safetensors").read_bytes() == blob
    ranges = sorted(tuple(map(int, r[len("bytes="):].split("-"))) for r in moto.gets("model.safetensors"))
    assert len(ranges) == 13 and stats["parts_fetched"] == 14
    assert ranges[0][0] == 0 and ranges[-1][1] == len(blob) - 1
    assert all(b[0] == a[1] + 1 and a[1] - a[0] + 1 == 1 << 20 for a, b in zip(ranges, ranges[1:]))


def test_listing_follows_continuation_tokens(moto, bucket, sharded_model, tmp_path):
    moto.clear()
    dest = tmp_path / "m"
    fetch(make_env(tmp_path, moto, BERTH_S3_TEST_LIST_PAGE_SIZE=2), f"s3://{bucket}/{PREFIX}", dest)
    assert files_of(dest) == files_of(sharded_model)
    lists = [e["query"] for e in moto.log() if "list-type=2" in e["query"]]
    assert len(lists) == (len(files_of(sharded_model)) + 1) // 2
    assert all("continuation-token=" in q for q in lists[1:]) and "max-keys=2" in lists[0]


def test_default_cache_layout_and_resolve(moto, bucket, tmp_path):
    env = make_env(tmp_path, moto)
    p, _ = fetch(env, f"s3://{bucket}/org/qwen3-tiny")
    cached = tmp_path / "xdg" / "berth" / "s3" / bucket / "org" / "qwen3-tiny"
    assert p.stdout.splitlines()[-1] == str(cached)
    assert (cached / "config.json").is_file()
    r = subprocess.run([str(DRIVER), "resolve", f"s3://{bucket}/org/qwen3-tiny/", str(tmp_path / "cache")],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "cache" / bucket / "org" / "qwen3-tiny")


def test_fetched_model_generates_like_local_copy(moto, bucket, sharded_model, tmp_path):
    assert BERTH.is_file(), f"{BERTH} is missing: build the berth program first"
    dest = tmp_path / "m"
    fetch(make_env(tmp_path, moto), f"s3://{bucket}/{PREFIX}", dest)
    outs = []
    for model in (sharded_model, dest):
        r = subprocess.run([str(BERTH), "run", "--model", str(model), "--tokens", "1,17,42,100,7",
                            "--max-tokens", "8", "--threads", "1"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1] and outs[0].strip()


def test_region_redirect_is_followed(moto, bucket, sharded_model, tmp_path):
    moto.faults(bucket_region="eu-central-1")
    moto.clear()
    try:
        dest = tmp_path / "m"
        fetch(make_env(tmp_path, moto, AWS_REGION="us-east-1"), f"s3://{bucket}/{PREFIX}", dest)
    finally:
        moto.faults()
    log = moto.log()
    # Only the first request went to the wrong region; every later one was signed for eu-central-1.
    assert [bool(e.get("redirected")) for e in log[:2]] == [True, False]
    assert not any(e.get("redirected") for e in log[1:])
    assert files_of(dest) == files_of(sharded_model)


def test_berth_runs_and_serves_an_s3_model(moto, bucket, sharded_model, tmp_path):
    """--model s3://... downloads into the cache and generates exactly what the local copy does; the
    berth binary's own `fetch` command works the same as the driver's."""
    env = make_env(tmp_path, moto)
    args = ["--tokens", "1,17,42,100,7", "--max-tokens", "8", "--threads", "1"]
    local = subprocess.run([str(BERTH), "run", "--model", str(sharded_model), *args],
                           capture_output=True, text=True, timeout=120)
    remote = subprocess.run([str(BERTH), "run", "--model", f"s3://{bucket}/{PREFIX}", *args], env=env,
                            capture_output=True, text=True, timeout=120)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and local.stdout.strip()
    fetched = subprocess.run([str(BERTH), "fetch", f"s3://{bucket}/{PREFIX}", str(tmp_path / "f")],
                             env=env, capture_output=True, text=True, timeout=120)
    assert fetched.returncode == 0, fetched.stderr
    assert files_of(tmp_path / "f") == files_of(sharded_model)
