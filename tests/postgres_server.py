"""A throwaway PostgreSQL server for tests: Debian's postgresql binaries, a cluster in a temp
directory, listening only on a unix socket there, started and removed by the caller.

initdb and postgres refuse to run as root, so as root the cluster belongs to ``nobody``."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        # /tmp, not pytest's root-only temp dir: the server's user must reach its directory, and a
        # unix socket's path must stay short (about 100 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix="rnn-pg-"))
        self.data, self.socket = self.dir / "data", self.dir
        self.user = "nobody" if os.geteuid() == 0 else None

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run(prefix + list(cmd), check=True, capture_output=True, text=True, cwd=self.dir)

    def start(self) -> "PostgresServer":
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-instructions")
        # no TCP at all (listen_addresses=''): only the socket in our own directory
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "-o",
                  f"-k {self.socket} -c listen_addresses='' -c fsync=off", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(host=str(self.socket), user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
