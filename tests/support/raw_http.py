"""Raw-socket helpers for the HTTP edge tests (tests/http, tests/integration), over plain or TLS
sockets; tests/conftest.py puts this folder on sys.path."""
import socket
import ssl


def read_all(s, timeout=5.0):
    """Everything the server sends until it closes: (bytes, closed). closed is False when `timeout`
    seconds passed without a byte; a reset or a TLS connection cut without close_notify counts as
    closed (a server that closes after its answer may do either)."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data, True
            data += d
    except socket.timeout:
        return data, False
    except (ConnectionResetError, ssl.SSLError):
        return data, True
