"""Download throughput of `berth fetch` next to `aws s3 cp`, against the same moto S3 server on
loopback (a benchmark, not a test; results in docs/benchmarks/s3.md).

usage: .venv/bin/python tests/s3/bench_s3.py AWS_CLI [SIZE_MIB] [RUNS]
  AWS_CLI: the `aws` program from a separate venv (pip install awscli; never into .venv).
Needs BERTH_BUILD_DIR with tests/s3/berth-s3-driver built.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from s3_harness import AKID, DRIVER, SECRET, MotoS3  # noqa: E402


def main():
    aws = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    moto = MotoS3()
    try:
        moto.s3.create_bucket(Bucket="bench")
        blob = os.urandom(size << 20)
        digest = hashlib.sha256(blob).hexdigest()
        moto.s3.put_object(Bucket="bench", Key="m/model.safetensors", Body=blob, ChecksumAlgorithm="SHA256")
        moto.s3.put_object(Bucket="bench", Key="m/config.json", Body=b"{}")
        del blob
        work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true", HOME=str(work))
        cmds = {
            "berth fetch (8 MiB parts, 8 threads)":
                [str(DRIVER), "fetch", "--progress", "none", "--endpoint", moto.url, "s3://bench/m/",
                 str(work / "berth")],
            "berth fetch (16 MiB parts, 16 threads)":
                [str(DRIVER), "fetch", "--progress", "none", "--endpoint", moto.url, "--part-size", "16M",
                 "--concurrency", "16", "s3://bench/m/", str(work / "berth")],
            "aws s3 cp (defaults: 8 MiB parts, 10 threads)":
                [aws, "s3", "cp", "--only-show-errors", "--endpoint-url", moto.url,
                 "s3://bench/m/model.safetensors", str(work / "aws" / "model.safetensors")],
        }
        print(f"object: {size} MiB, {runs} runs each, moto at {moto.url}")
        for name, cmd in cmds.items():
            times = []
            for _ in range(runs):
                for d in ("berth", "aws"):
                    shutil.rmtree(work / d, ignore_errors=True)
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - t0)
                out = work / ("aws" if cmd[0] == aws else "berth") / "model.safetensors"
                assert hashlib.sha256(out.read_bytes()).hexdigest() == digest, name
            best, median = min(times), sorted(times)[len(times) // 2]
            print(f"{name}: best {best:.2f} s ({size / best:.0f} MiB/s), median {median:.2f} s "
                  f"({size / median:.0f} MiB/s)")
        shutil.rmtree(work, ignore_errors=True)
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
