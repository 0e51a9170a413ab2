"""pytest fixtures for the berth serve integration tests; the harness itself is serve_harness.py (a
uniquely named module, so that test folders do not shadow each other's conftest)."""
from serve_harness import demo_model, server, start_server  # noqa: F401  (pytest fixtures)
