"""A slow and stalling S3: `berth fetch` waits as patiently as the AWS CLI and resumes where it was.

moto's S3 sits behind a small TCP proxy written here (asyncio, one request per connection: it adds
`Connection: close` to each request) that forwards the response head at once and then shapes the body
of the GETs of one key by a plan per request: pass N bytes, trickle N bytes one at a time, stall, or
cut the connection. botocore (the AWS CLI) gives up on a read only after 60 s without a byte and
retries a download stream 5 times; libcurl's low-speed limit, which berth used before, fails a
transfer whose average over its window falls below 1 byte/s, so a trickle the AWS CLI waits for
failed it. The tests shorten the read timeout (--read-timeout) to keep them quick; the rules are the
same at the default 60 s. Stalls last well beyond the read timeout, so a loaded machine that is late
to notice one still sees it."""

import asyncio
import hashlib
import os
import threading

import pytest

from s3_harness import fetch, make_env

SIZE = 3 * 1024 * 1024 + 777
PART = 1024 * 1024
KEY = "model.safetensors"


class ShapingProxy:
    """Listens on 127.0.0.1; plans[i] shapes the i-th GET of KEY, other requests pass unshaped.
    A plan is a list of steps: ("pass", n), ("trickle", n, seconds between bytes), ("stall", seconds),
    ("cut",); after the last step the rest of the body passes."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.plans = []
        self.seen = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "proxy did not start"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    def stop(self):
        async def shutdown():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self.thread.join(10)
        self.loop.close()

    async def _client(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            plan = []
            if line.startswith("GET ") and line.split()[1].split("?")[0].endswith("/" + KEY):
                plan = self.plans[self.seen] if self.seen < len(self.plans) else []
                self.seen += 1
            lines = [h for h in head[:-4].split(b"\r\n") if not h.lower().startswith(b"connection:")]
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            up_w.write(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n")
            await up_w.drain()
            resp_head = await up_r.readuntil(b"\r\n\r\n")
            writer.write(resp_head)
            await writer.drain()
            for step in plan:
                if step[0] == "pass":
                    writer.write(await up_r.readexactly(step[1]))
                elif step[0] == "trickle":
                    for _ in range(step[1]):
                        writer.write(await up_r.readexactly(1))
                        await writer.drain()
                        await asyncio.sleep(step[2])
                elif step[0] == "stall":
                    await writer.drain()
                    await asyncio.sleep(step[1])
                elif step[0] == "cut":
                    writer.transport.abort()
                    up_w.close()
                    return
                await writer.drain()
            while chunk := await up_r.read(65536):
                writer.write(chunk)
                await writer.drain()
            up_w.close()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # berth gave up on this connection (its read timeout), as it should
        finally:
            writer.close()


@pytest.fixture(scope="module")
def blob(moto):
    moto.s3.create_bucket(Bucket="slow")
    data = os.urandom(SIZE)
    moto.s3.put_object(Bucket="slow", Key="m/config.json", Body=b'{"model_type": "qwen3"}')
    moto.s3.put_object(Bucket="slow", Key="m/" + KEY, Body=data, ChecksumAlgorithm="SHA256")
    return data


@pytest.fixture
def proxy(moto):
    p = ShapingProxy(int(moto.url.rsplit(":", 1)[1]))
    yield p
    p.stop()


def slow_fetch(moto, proxy, tmp_path, *extra, check=True):
    env = make_env(tmp_path, moto, AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}")
    moto.faults()
    moto.clear()
    return fetch(env, "s3://slow/m/", tmp_path / "m", "--part-size", PART, "--concurrency", 1,
                 *extra, check=check, timeout=180)


def test_a_trickle_slower_than_a_byte_a_second_completes(moto, blob, proxy, tmp_path):
    # 5 bytes 1.5 s apart: 0.67 byte/s for 7.5 s, never a 4 s gap. libcurl's low-speed limit at
    # 1 byte/s over 4 s failed this; the AWS CLI with a 4 s read timeout would wait for it.
    proxy.plans = [[("pass", 1000), ("trickle", 5, 1.5)]]
    p, stats = slow_fetch(moto, proxy, tmp_path, "--read-timeout", 4)
    assert stats["retries"] == 0 and stats["resumes"] == 0, p.stderr
    assert (tmp_path / "m" / KEY).read_bytes() == blob


def test_stalls_resume_where_the_bytes_stopped(moto, blob, proxy, tmp_path):
    proxy.plans = [
        [("pass", 300_000), ("stall", 10)],      # part 0 stalls after 300,000 bytes
        [],                                      # its retry asks for the rest only
        [("stall", 10)],                         # part 1: nothing at all
        [],                                      # retried whole
        [("pass", 5000), ("cut",)],              # part 2: the connection drops
        [("trickle", 3, 0.5), ("stall", 10)],    # its retry brings 3 more bytes, then stalls
        [],                                      # and the next one the rest
    ]
    p, stats = slow_fetch(moto, proxy, tmp_path, "--read-timeout", 2)
    data = (tmp_path / "m" / KEY).read_bytes()
    assert hashlib.sha256(data).digest() == hashlib.sha256(blob).digest()
    assert stats["retries"] == 4 and stats["resumes"] == 3, (stats, p.stderr)
    ranges = moto.gets(KEY)
    assert ranges == [
        f"bytes=0-{PART - 1}", f"bytes=300000-{PART - 1}",
        f"bytes={PART}-{2 * PART - 1}", f"bytes={PART}-{2 * PART - 1}",
        f"bytes={2 * PART}-{3 * PART - 1}", f"bytes={2 * PART + 5000}-{3 * PART - 1}",
        f"bytes={2 * PART + 5003}-{3 * PART - 1}",
        f"bytes={3 * PART}-{SIZE - 1}",
    ], ranges
    # No byte was fetched twice: the body bytes received are the object's size.
    assert stats["bytes_downloaded"] == SIZE + len(b'{"model_type": "qwen3"}')
    assert "SHA-256" not in p.stderr


def test_progress_keeps_the_download_alive_past_max_attempts(moto, blob, proxy, tmp_path):
    # Four stalls in a row on one part, each after some bytes: with --max-attempts 2 a request
    # that made no progress would have given up twice over.
    proxy.plans = [[("pass", 1000 * (i + 1)), ("stall", 10)] for i in range(4)]
    p, stats = slow_fetch(moto, proxy, tmp_path, "--read-timeout", 1, "--max-attempts", 2)
    assert stats["resumes"] == 4, (stats, p.stderr)
    assert (tmp_path / "m" / KEY).read_bytes() == blob


def test_a_server_that_sends_nothing_gives_up_with_a_message(moto, blob, proxy, tmp_path):
    proxy.plans = [[("stall", 10)] for _ in range(3)]
    p, _ = slow_fetch(moto, proxy, tmp_path, "--read-timeout", 1, "--max-attempts", 3, check=False)
    assert p.returncode == 1
    assert "no data received for 1 s (read timeout) (gave up after 3 attempts)" in p.stderr
    assert not (tmp_path / "m" / KEY).exists()


def test_timeouts_and_attempts_from_the_environment(moto, blob, proxy, tmp_path):
    proxy.plans = [[("stall", 10)] for _ in range(2)]
    env = make_env(tmp_path, moto, AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}",
                   AWS_MAX_ATTEMPTS=2, BERTH_S3_READ_TIMEOUT=1)
    p, _ = fetch(env, "s3://slow/m/", tmp_path / "m", "--part-size", PART, "--concurrency", 1,
                 check=False, timeout=60)
    assert p.returncode == 1 and "no data received for 1 s" in p.stderr
    assert "gave up after 2 attempts" in p.stderr
    env["BERTH_S3_READ_TIMEOUT"] = "soon"
    p, _ = fetch(env, "s3://slow/m/", tmp_path / "m", check=False, timeout=60)
    assert p.returncode == 1
    assert "BERTH_S3_READ_TIMEOUT='soon': expected an integer from 1 to 3600" in p.stderr
