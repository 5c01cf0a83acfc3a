"""Two real PostgreSQL clusters on loopback ports for the failover drill: a primary and
its synchronous streaming standby, made with the installed PostgreSQL binaries
(`pg_config --bindir`) in a temporary directory. When the tests run as root, initdb
and the servers run as the `postgres` OS user (PostgreSQL refuses root). Every wait is
bounded; `Pair.close` stops whatever is still running, by process id."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.live_server import free_port
from tests.support.processes import children

STANDBY_NAME = "standby1"  # application_name the primary waits for (synchronous_standby_names)


def bindir() -> Path:
    """The PostgreSQL binaries' directory, from pg_config (PATH, or Debian's layout)."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise RuntimeError("pg_config is not on PATH: the PostgreSQL server binaries are needed")
    path = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                               check=True, timeout=30).stdout.strip())
    for tool in ("initdb", "pg_ctl", "pg_basebackup", "postgres", "psql"):
        if not (path / tool).exists():
            raise RuntimeError(f"{tool} is missing from {path}: install the PostgreSQL server")
    return path


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Node:
    def __init__(self, bin_dir: Path, root: Path, name: str) -> None:
        self.bin = bin_dir
        self.root = root
        self.name = name
        self.datadir = root / name
        self.logfile = root / f"{name}.log"
        self.port = free_port()
        self.children: list[int] = []

    def run(self, tool: str, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [*_as_postgres(), str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.root,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.stdout}{done.stderr}{self.tail()}")
        return done.stdout

    def sql(self, statement: str, *, database: str = "postgres", timeout: float = 60) -> str:
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                "-c", statement,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql ({self.name}) {statement!r}: {done.stderr}")
        return done.stdout.strip()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, **settings: str) -> None:
        options = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "max_connections": "100",
            "shared_buffers": "32MB",
            **settings,
        }
        opts = " ".join(f"-c {k}={v}" for k, v in options.items())
        self.run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.datadir),
                 "-l", str(self.logfile), "-o", opts)

    def postmaster_pid(self) -> int:
        return int((self.datadir / "postmaster.pid").read_text().splitlines()[0])

    def kill_postmaster(self) -> int:
        """kill -9 of the postmaster alone, as a crashed machine would leave it; its
        backends notice and exit by themselves (their pids are kept for clean-up)."""
        pid = self.postmaster_pid()
        self.children = children(pid)
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        try:
            pid = self.postmaster_pid()
        except (OSError, ValueError, IndexError):
            pid = None
        if pid is not None and _alive(pid):
            subprocess.run(
                [*_as_postgres(), str(self.bin / "pg_ctl"), "stop", "-m", "immediate", "-w",
                 "-t", "30", "-D", str(self.datadir)],
                capture_output=True, timeout=60, check=False,
            )
        for child in self.children:  # the killed postmaster's backends, if any lingers
            if _alive(child):
                os.kill(child, signal.SIGKILL)

    def tail(self) -> str:
        try:
            return "\n" + self.logfile.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pair:
    """A primary with one synchronous standby (`synchronous_commit=on`,
    `synchronous_standby_names`): a commit is acknowledged only once the standby has
    flushed its WAL, so the standby holds every acknowledged transaction."""

    def __init__(self) -> None:
        self.bin = bindir()
        self.root = Path(tempfile.mkdtemp(prefix="escrowgate-failover-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.primary = Node(self.bin, self.root, "primary")
        self.standby = Node(self.bin, self.root, "standby")

    def start(self) -> None:
        if self.primary.port == self.standby.port:
            self.standby.port = free_port()
        self.primary.run("initdb", "-D", str(self.primary.datadir), "-U", "postgres",
                         "--auth=trust", "-E", "UTF8", "--no-sync")
        self.primary.start(
            wal_level="replica",
            max_wal_senders="5",
            synchronous_commit="on",
            synchronous_standby_names=STANDBY_NAME,
        )
        self.primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port),
                         "-U", "postgres", "-D", str(self.standby.datadir), "-X", "stream",
                         "-c", "fast", "--no-sync")
        _touch(self.standby)
        conninfo = (f"'host=127.0.0.1 port={self.primary.port} user=postgres "
                    f"application_name={STANDBY_NAME}'")
        self.standby.start(
            hot_standby="on",
            primary_conninfo=conninfo,
            synchronous_standby_names="''",  # once promoted it has no standby to wait for
        )
        self.wait_sync()

    def wait_sync(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.primary.sql(
                "SELECT sync_state FROM pg_stat_replication "
                f"WHERE application_name = '{STANDBY_NAME}'"
            )
            if state == "sync":
                return
            time.sleep(0.2)
        raise RuntimeError(f"the standby is not synchronous ({state!r}){self.standby.tail()}")

    def multi_host_url(self, database: str) -> str:
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
            f"/{database}?target_session_attrs=read-write"
        )

    def promote(self) -> None:
        """Promote the standby (what a failover manager such as Patroni does)."""
        assert self.standby.sql("SELECT pg_promote(true, 60)") == "t"

    def close(self) -> None:
        for node in (self.standby, self.primary):
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _touch(node: Node) -> None:
    signal_file = node.datadir / "standby.signal"
    signal_file.touch()
    if os.geteuid() == 0:
        shutil.chown(signal_file, "postgres", "postgres")
