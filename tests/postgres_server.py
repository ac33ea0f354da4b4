"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` into a temp dir on a
loopback port, trust authentication, nothing shared with a system server.

``initdb`` refuses to run as root (CI runs as root), so when we are root the server runs as
the ``postgres`` system user through ``runuser``, in a directory that user owns.

    python -m tests.postgres_server start DIR   # prints the server's URL
    python -m tests.postgres_server stop DIR
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

SERVER_USER = "postgres"
DATABASE_USER = "rag"


def bin_dir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` live (Debian keeps them out of PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise RuntimeError("PostgreSQL's server binaries are missing: no initdb and no pg_config")
    out = subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", SERVER_USER, "--", *argv]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str]) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr}")


def url_for(port: int, database: str = "postgres") -> str:
    return f"postgresql+psycopg://{DATABASE_USER}@127.0.0.1:{port}/{database}"


def start(base: Path) -> str:
    """Create a cluster under ``base`` and start it; return a SQLAlchemy URL. As root,
    every directory above ``base`` must be searchable by the server user (``/tmp`` is;
    pytest's private temp root is not)."""
    base.mkdir(parents=True, exist_ok=True)
    data = base / "pgdata"
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        os.chown(base, user.pw_uid, user.pw_gid)
    binaries = bin_dir()
    _run(
        [str(binaries / "initdb"), "-D", str(data), "-U", DATABASE_USER, "-A", "trust",
         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
    )  # fmt: skip
    port = _free_port()
    # fsync off: a throwaway test server trades durability for speed (crash tests kill the
    # client process, never the server).
    options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=200"
    _run(
        [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
         "-o", options, "-w", "start"]
    )  # fmt: skip
    (base / "port").write_text(str(port))
    return url_for(port)


def create_database(server_url: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(database_url: str) -> None:
    server_url, name = database_url.rsplit("/", 1)
    with psycopg.connect(_libpq_url(server_url + "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def stop(base: Path) -> None:
    subprocess.run(
        _as_server_user(
            [str(bin_dir() / "pg_ctl"), "-D", str(base / "pgdata"), "-m", "fast", "-w", "stop"]
        ),
        check=False, capture_output=True,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        sys.stderr.write("usage: python -m tests.postgres_server start|stop DIR\n")
        return 2
    command, base = argv[0], Path(argv[1])
    if command == "start":
        sys.stdout.write(start(base) + "\n")
    else:
        stop(base)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
