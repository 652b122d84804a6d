"""A throw-away PostgreSQL server for tests and benchmarks: Debian's ``initdb`` and
``pg_ctl`` in a temporary folder, listening only on a unix socket in that folder.

PostgreSQL refuses to run as root, so under root (CI containers) the cluster runs as the
``postgres`` user Debian's package creates. ``make postgres`` installs the package when
the binaries are missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from servicekit import free_port

USER = "packshot"


def bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, else the newest Debian install."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    return versions[-1].parent if versions else None


@dataclass
class Postgres:
    root: Path
    port: int
    binaries: Path
    run_as: Callable[[], None] | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3 over the unix socket)."""
        return f"postgresql+psycopg://{USER}@/{database}?host={self.root}&port={self.port}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            host=str(self.root), port=self.port, user=USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def pg(self, tool: str, *args: str, check: bool = True) -> None:
        subprocess.run(
            [str(self.binaries / tool), *args],
            check=check,
            capture_output=True,
            preexec_fn=self.run_as,
            cwd=self.root,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses='' -c fsync=off "
            "-c max_connections=200"
        )
        self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


def _as_owner(uid: int, gid: int) -> Callable[[], None] | None:
    if os.geteuid() != 0:
        return None

    def drop() -> None:
        os.setgid(gid)
        os.setuid(uid)

    return drop


@contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A fresh cluster (superuser ``packshot``, trust auth, fsync off); removed after."""
    binaries = bin_dir()
    if binaries is None:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or in "
            "/usr/lib/postgresql/*/bin; `make postgres` installs Debian's postgresql."
        )
    # Short path: a unix socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
    uid, gid = os.getuid(), os.getgid()
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        uid, gid = account.pw_uid, account.pw_gid
        os.chown(root, uid, gid)
    cluster = Postgres(root, free_port(), binaries, _as_owner(uid, gid))
    try:
        cluster.pg(
            "initdb", "-D", str(cluster.data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync"
        )
        cluster.start()
    except subprocess.CalledProcessError as exc:
        log = cluster.log.read_text() if cluster.log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr.decode()}{log}") from None
    try:
        yield cluster
    finally:
        cluster.pg("pg_ctl", "-D", str(cluster.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)
