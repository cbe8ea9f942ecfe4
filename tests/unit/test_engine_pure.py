"""The engine does no I/O: it imports with aiohttp and asyncpg unavailable."""

import subprocess
import sys

BLOCKED = """
import sys
sys.modules["aiohttp"] = None  # an import of it now raises ImportError
sys.modules["asyncpg"] = None
import switchboard.engine
import switchboard.engine.table
assert "aiohttp" not in [m for m, v in sys.modules.items() if v is not None]
print("imported")
"""


def test_the_engine_imports_without_aiohttp_or_asyncpg() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
