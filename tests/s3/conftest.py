"""pytest fixtures for the S3 tests; the harness itself is s3_harness.py (a uniquely named module,
so that test folders do not shadow each other's conftest)."""
from s3_harness import moto, driver, sharded_model  # noqa: F401  (pytest fixtures)
