"""A private PostgreSQL cluster for the fault campaign, that it may stop and start.

The machine's shared PostgreSQL (127.0.0.1:5432) is never touched: this is a
throw-away cluster made with the installed server binaries, ``initdb`` run as the
``postgres`` OS user into a temporary folder, listening on 127.0.0.1:PORT only,
trust authentication. ``stop()`` is PostgreSQL going away under load (fast
shutdown: open connections are closed), ``start()`` its return.

    with PgCluster(port=55432) as pg:
        url = pg.url          # postgresql://postgres@127.0.0.1:55432/postgres
        pg.stop(); ...; pg.start()
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


def pg_bin() -> Path:
    """The newest installed server's bin folder (/usr/lib/postgresql/NN/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if not found:
        raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


class PgCluster:
    def __init__(self, port: int = 55432, directory: Path | None = None) -> None:
        self.port = port
        self.bin = pg_bin()
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.stops = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 60.0) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])}: {done.stdout}{done.stderr}{tail}")

    def init(self) -> PgCluster:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self.directory.chmod(0o700)
        self._as_postgres(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        return self

    def start(self) -> float:
        """Start and wait until it accepts connections; returns when it did (time.time())."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c max_connections=200"
        )
        self._as_postgres(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        return time.time()

    def stop(self) -> float:
        """Fast shutdown (clients are disconnected); returns when it began (time.time())."""
        began = time.time()
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.stops += 1
        return began

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        self.init()
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.destroy()
