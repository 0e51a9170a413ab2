"""moto's S3 on loopback, wrapped so that the tests can see and disturb the traffic.

Runs moto's WSGI application (the same one `python -m moto.server` serves) behind a small
middleware that records every request (method, path, query, Range header) and, on request, injects
faults: a number of 503s for one key, a corrupted byte in one key's GET bodies, a delay per GET, or
S3's 301 + x-amz-bucket-region answer to requests signed for another region than the bucket's.
Control routes live under /__berth/ and never reach moto.

Usage: python moto_s3_server.py  — prints "PORT <n>" once listening on 127.0.0.1.
"""

import json
import sys
import threading
import time

from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                          create_backend_app)
from werkzeug.serving import make_server


class Recorder:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.log = []
        self.faults = {}

    def control(self, environ, start_response):
        path = environ["PATH_INFO"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        with self.lock:
            if path == "/__berth/log":
                out = json.dumps(self.log).encode()
            elif path == "/__berth/clear":
                self.log.clear()
                out = b"{}"
            elif path == "/__berth/faults":
                self.faults = json.loads(body or b"{}")
                out = b"{}"
            else:
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"unknown control route"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [out]

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path.startswith("/__berth/"):
            return self.control(environ, start_response)
        method = environ["REQUEST_METHOD"]
        with self.lock:
            self.log.append({"method": method, "path": path, "query": environ.get("QUERY_STRING", ""),
                             "range": environ.get("HTTP_RANGE")})
            faults = dict(self.faults)
            key = faults.get("key")
            hit = method == "GET" and key is not None and path.endswith("/" + key)
            fail = hit and self.faults.get("fail_503", 0) > 0
            if fail:
                self.faults["fail_503"] -= 1
        region = faults.get("bucket_region")
        if region and f"/{region}/s3/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            with self.lock:
                self.log[-1]["redirected"] = True
            start_response("301 Moved Permanently", [("Content-Type", "application/xml"),
                                                     ("x-amz-bucket-region", region)])
            return [b"<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to "
                    b"access must be addressed using the specified endpoint.</Message></Error>"]
        if method == "GET" and faults.get("delay_ms"):
            time.sleep(faults["delay_ms"] / 1000)
        if fail:
            start_response("503 Service Unavailable", [("Content-Type", "application/xml")])
            return [b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"]
        if hit and faults.get("corrupt"):
            captured = {}

            def capture(status, headers, exc_info=None):
                captured.update(status=status, headers=headers)

            body = bytearray(b"".join(self.app(environ, capture)))
            if captured["status"].startswith("2") and body:
                body[0] ^= 0xFF
            start_response(captured["status"], captured["headers"])
            return [bytes(body)]
        return self.app(environ, start_response)


def main():
    app = Recorder(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
