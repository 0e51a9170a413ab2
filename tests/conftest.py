"""Makes tests/support importable (berth_process: the shared `berth serve` harness) from every test
folder. Folders keep their own fixtures in uniquely named modules (serve_harness.py,
auth_harness.py): pytest imports each folder's conftest.py as "conftest", so tests never import one."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))
