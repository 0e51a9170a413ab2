"""pytest fixtures for the berth serve authentication tests; the harness itself is auth_harness.py (a
uniquely named module, so that test folders do not shadow each other's conftest)."""
from auth_harness import demo_model, start_server  # noqa: F401  (pytest fixtures)
