"""Bring a complete local DTG cluster up or down on 127.0.0.1, configured as production is.

PostgreSQL (a fresh instance database), Redis (the Celery broker and result backend), N Celery
run workers (``dagster-celery worker start -- --pool=solo``), the code location's gRPC server
(``dagster api grpc``, which the daemon and the webserver load the definitions from, as from the
Helm chart's user-code deployment), the Dagster daemon (schedules, backfills, the run queue, run
retries) and the webserver, all with ``deploy/dagster.yaml`` and
``deploy/celery_worker.yaml`` as the instance and worker configuration. Each service is started
in its own process group on a free loopback port and stopped by that handle; nothing else on the
machine is touched. Run as root, PostgreSQL (which refuses root) runs as the ``postgres`` user, or
a system user ``dtg-postgres`` created for it. The same code starts the services of the
integration tests (``dtg_assets_tests/test_distributed.py``). Usage, from the project's venv with
the ``distributed`` extra installed::

    python deploy/cluster.py up --dir .cluster --workers 2     # prints the UI address
    python deploy/cluster.py down --dir .cluster
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PG_USER = "dagster"
PG_DB = "dagster"
STATE = "cluster.json"
# The code location's name (pyproject.toml's [tool.dagster] code_location_name).
LOCATION = "dtg_assets"


class ClusterError(RuntimeError):
    """A service did not start; the message is one line naming it and where its log is."""


@dataclasses.dataclass
class Service:
    """A started service: its name, process (group leader) and log file."""

    name: str
    process: subprocess.Popen
    log: Path
    # Where this process's output starts in the log (a restarted service appends to it).
    log_start: int = 0

    def output(self) -> str:
        """What this process has written to its log so far."""
        with open(self.log, "rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")

    @property
    def pid(self) -> int:
        """The process id, which is also the id of the service's process group."""
        return self.process.pid


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, else the newest Debian/Ubuntu packaged one."""
    found = shutil.which(name)
    if found:
        return found
    packaged = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(re.search(r"/(\d+)/bin/", p).group(1)),
    )
    if not packaged:
        raise ClusterError(
            f"PostgreSQL's {name} was not found on PATH or in /usr/lib/postgresql/*/bin: "
            "install PostgreSQL (Debian: apt-get install postgresql)"
        )
    return packaged[-1]


def _unprivileged_user() -> pwd.struct_passwd:
    """The user PostgreSQL runs as when we are root: ``postgres``, else ``dtg-postgres``."""
    for name in ("postgres", "dtg-postgres"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "dtg-postgres"],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam("dtg-postgres")


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class Cluster:
    """The services of one local cluster, all under one directory.

    Args:
        root: Directory of the instance (``home/``), logs and Redis; created if missing.
        workers: Number of Celery run workers.
        env: Extra environment of every Dagster process (``DTG_*`` settings).
        visibility_timeout: Seconds after which a run whose worker died is handed to another
            worker (``deploy/dagster.yaml``: 3600); :meth:`start_worker` gives one its own.
        durable: False runs PostgreSQL without fsync: much faster event writes on a busy disk,
            for throwaway test clusters only (a crash of the machine can lose the database).
    """

    def __init__(
        self,
        root: Path,
        workers: int = 2,
        env: dict[str, str] | None = None,
        visibility_timeout: int | None = None,
        durable: bool = True,
    ) -> None:
        self.root = Path(root).resolve()
        self.home = self.root / "home"
        self.logs = self.root / "logs"
        self.workers = workers
        self.extra_env = dict(env or {})
        self.visibility_timeout = visibility_timeout
        self.durable = durable
        self.services: dict[str, Service] = {}
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.web_port = free_port()
        self.code_port = free_port()
        self.pg_password = secrets.token_urlsafe(18)
        self.pg_data: Path | None = None

    # --- configuration -------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The environment of the Dagster processes: instance, database, broker, settings."""
        redis = f"redis://127.0.0.1:{self.redis_port}"
        return {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.pg_port),
            "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_PASSWORD": self.pg_password,
            "DAGSTER_PG_DB": PG_DB,
            "DAGSTER_CELERY_BROKER_URL": f"{redis}/0",
            "DAGSTER_CELERY_BACKEND_URL": f"{redis}/1",
            # Two runs per worker: the next run already waits in Redis when a worker is done.
            "DAGSTER_MAX_CONCURRENT_RUNS": str(2 * self.workers),
            **self.extra_env,
        }

    @staticmethod
    def _config_text(name: str, visibility_timeout: int | None) -> str:
        """A file of deploy/, with another visibility timeout if one is given."""
        text = (DEPLOY / name).read_text()
        if visibility_timeout is None:
            return text
        return text.replace(
            "visibility_timeout: 3600", f"visibility_timeout: {visibility_timeout}"
        ).replace("unacked_restore_interval: 10", "unacked_restore_interval: 1")

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in ("dagster.yaml", "celery_worker.yaml"):
            (self.home / name).write_text(self._config_text(name, self.visibility_timeout))
        # The webserver and the daemon load the code from the cluster's code server, as the
        # Helm chart's user-code deployment serves it, instead of each starting its own.
        (self.home / "workspace.yaml").write_text(
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {self.code_port}\n      location_name: {LOCATION}\n"
        )
        env_file = self.root / "cluster.env"
        env_file.touch(mode=0o600)
        keys = [k for k in self.env() if k.startswith("DAGSTER_") or k.startswith("DTG_")]
        env_file.write_text("".join(f"export {k}={self.env()[k]!r}\n" for k in sorted(keys)))

    # --- processes -----------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Service:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            start = out.tell()
            process = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env or self.env(),
                cwd=self.root,
                start_new_session=True,  # its own process group: stopped with its children
            )
        service = Service(name, process, log, start)
        self.services[name] = service
        return service

    def _wait(self, service: Service, ready, what: str, deadline_s: float = 120) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise ClusterError(
                    f"{service.name} exited with {service.process.returncode} before {what} "
                    f"(log {service.log}: {_tail(service.log)})"
                )
            with contextlib.suppress(OSError, ValueError):
                if ready():
                    return
            time.sleep(0.2)
        raise ClusterError(f"{service.name} not {what} after {deadline_s:.0f} s ({service.log})")

    def start_postgres(self) -> Service:
        """Initialise a fresh database cluster and start PostgreSQL on its port."""
        as_user: list[str] = []
        if os.geteuid() == 0:
            user = _unprivileged_user()
            # Not under root's private temporary directories, which the user cannot traverse.
            self.pg_data = Path(tempfile.mkdtemp(prefix="dtg-pg-"))
            os.chown(self.pg_data, user.pw_uid, user.pw_gid)
            as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
            as_user += ["--init-groups", "--"]
        else:
            self.pg_data = self.root / "postgres"
            self.pg_data.mkdir(parents=True, exist_ok=True)
        pwfile = self.pg_data / "pw"
        pwfile.write_text(self.pg_password)
        if os.geteuid() == 0:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        data = self.pg_data / "data"
        init = subprocess.run(
            [*as_user, _postgres_bin("initdb"), "-D", str(data), "-U", PG_USER,
             f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )  # fmt: skip
        pwfile.unlink()
        if init.returncode:
            last = (init.stderr.strip().splitlines() or ["?"])[-1]
            raise ClusterError(f"initdb failed in {data}: {last}")
        service = self._spawn(
            "postgres",
            [*as_user, _postgres_bin("postgres"), "-D", str(data), "-p", str(self.pg_port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             *([] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off"])],
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )  # fmt: skip
        self._wait(service, self._create_database, "accepting connections", 60)
        return service

    def _create_database(self) -> bool:
        import psycopg2

        try:
            conn = psycopg2.connect(
                host="127.0.0.1",
                port=self.pg_port,
                user=PG_USER,
                password=self.pg_password,
                dbname="postgres",
                connect_timeout=2,
            )
        except psycopg2.OperationalError:
            return False
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {PG_DB}")
        finally:
            conn.close()
        return True

    def start_redis(self) -> Service:
        """Start Redis on its port, without persistence (a fresh broker per cluster)."""
        redis_server = shutil.which("redis-server")
        if not redis_server:
            raise ClusterError(
                "redis-server was not found on PATH: install Redis (Debian: apt-get install "
                "redis-server)"
            )
        (self.root / "redis").mkdir(parents=True, exist_ok=True)
        service = self._spawn(
            "redis",
            [redis_server, "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
             "--appendonly", "no", "--dir", str(self.root / "redis")],
        )  # fmt: skip

        def ping() -> bool:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        self._wait(service, ping, "answering PING", 30)
        return service

    def start_worker(
        self, index: int, wait: bool = True, visibility_timeout: int | None = None
    ) -> Service:
        """Start Celery run worker ``dtg-worker-<index>`` (solo pool: one run at a time).

        Args:
            index: The worker's number.
            wait: Wait until it is ready for runs (else: :meth:`wait_worker` later).
            visibility_timeout: Seconds after which this worker takes over the run of a dead
                worker (None: the cluster's). A worker applies it to every run not finished, a
                running one too, which then fails: it must exceed every run's duration.
        """
        name = f"worker-{index}"
        config = self.home / "celery_worker.yaml"
        if visibility_timeout is not None:
            config = self.home / f"celery_{name}.yaml"
            config.write_text(self._config_text("celery_worker.yaml", visibility_timeout))
        service = self._spawn(
            name,
            [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(config), "-n", f"dtg-{name}",
             # No mingle: Dagster syncs nothing between workers, and it costs a second.
             "--", "--pool=solo", "--without-mingle"],
        )  # fmt: skip
        if wait:
            self.wait_worker(service)
        return service

    def wait_worker(self, service: Service) -> None:
        """Wait until a worker has connected to the broker and is ready for runs."""
        self._wait(service, lambda: " ready." in service.output(), "ready")

    def start_code_server(self) -> Service:
        """Start the code location's gRPC server (``dagster api grpc``) and wait until it
        serves: the webserver and the daemon load the definitions from it."""
        service = self._spawn(
            "code-server",
            [str(BIN / "dagster"), "api", "grpc", "-m", "dtg_assets.definitions",
             "-h", "127.0.0.1", "-p", str(self.code_port), "--location-name", LOCATION],
        )  # fmt: skip

        def serves() -> bool:
            # It opens its port once the definitions are loaded.
            with socket.create_connection(("127.0.0.1", self.code_port), timeout=1):
                return True

        self._wait(service, serves, "serving", 180)
        return service

    def start_daemon(self) -> Service:
        """Start ``dagster-daemon run`` (schedules, backfills, the run queue, run retries)."""
        workspace = str(self.home / "workspace.yaml")
        return self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])

    def start_webserver(self) -> Service:
        """Start the webserver (UI and GraphQL) on its port and wait until it answers."""
        service = self._spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.web_port),
             "-w", str(self.home / "workspace.yaml")],
        )  # fmt: skip

        def answers() -> bool:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=5):
                return True

        self._wait(service, answers, "answering", 180)
        return service

    def ensure_daemon(self) -> Service:
        """The running daemon, started if there is none."""
        return self.services.get("daemon") or self.start_daemon()

    def stop_daemon(self) -> None:
        """Stop the daemon, if it runs."""
        self.stop("daemon")

    @property
    def host(self) -> str:
        """The host name Celery puts after ``@`` in the workers' names."""
        return socket.gethostname()

    @property
    def bin(self) -> Path:
        """The directory of the venv's commands (``dagster``, ``dagster-daemon``...)."""
        return BIN

    @property
    def url(self) -> str:
        """The webserver's address."""
        return f"http://127.0.0.1:{self.web_port}"

    def up(self, daemon: bool = True) -> None:
        """Start every service; on a failure, stop those already started and re-raise."""
        self._write_config()
        try:
            self.start_postgres()
            self.start_redis()
            self.create_schema()
            # The workers load in parallel with the code server, which the daemon and the
            # webserver need first; the webserver is waited for before the workers.
            workers = [self.start_worker(i, wait=False) for i in range(1, self.workers + 1)]
            self.start_code_server()
            if daemon:
                self.start_daemon()
            self.start_webserver()
            for worker in workers:
                self.wait_worker(worker)
        except BaseException:
            self.down()
            raise

    def create_schema(self) -> None:
        """Create the instance's tables in PostgreSQL, once, before any service opens it.

        Every Dagster process creates the tables it misses when it opens the instance; workers,
        daemon and webserver starting together on an empty database race on ``CREATE TABLE``
        and the losers exit (seen in CI as a worker dying on a duplicate table).
        """
        with self.instance():
            pass

    def stop(self, name: str, timeout: float = 20, graceful: bool = True) -> None:
        """Stop one service by its handle: its whole process group, SIGKILL after a timeout.

        Not ``graceful``: SIGKILL at once, but PostgreSQL's immediate shutdown (SIGQUIT), which
        still releases its shared memory.
        """
        service = self.services.pop(name, None)
        if service is None:
            return
        if name == "postgres":
            sig = signal.SIGINT if graceful else signal.SIGQUIT
        else:
            sig = signal.SIGTERM if graceful else signal.SIGKILL
        stop_group(service.pid, sig, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.process.wait(timeout=1)

    def down(self, graceful: bool = True) -> None:
        """Stop every service (all at once, the database last) and delete PostgreSQL's data.

        Args:
            graceful: False kills every process at once (SIGKILL) instead of letting runs and
                the database shut down cleanly: for throwaway test clusters only.
        """
        others = [s for n, s in self.services.items() if n != "postgres"]
        stop_groups([s.pid for s in others], signal.SIGTERM if graceful else signal.SIGKILL, 20)
        for service in others:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=1)
            self.services.pop(service.name)
        self.stop("postgres", graceful=graceful)
        if self.pg_data is not None and self.pg_data != self.root / "postgres":
            shutil.rmtree(self.pg_data, ignore_errors=True)

    @contextlib.contextmanager
    def instance(self):
        """The cluster's PostgreSQL-backed Dagster instance, opened in this process.

        Yields:
            The instance (disposed of on exit); ``DAGSTER_*`` variables are set while open.
        """
        from unittest import mock

        import dagster as dg

        env = {k: v for k, v in self.env().items() if k.startswith("DAGSTER_")}
        with mock.patch.dict(os.environ, env):
            instance = dg.DagsterInstance.from_config(str(self.home))
            try:
                yield instance
            finally:
                instance.dispose()

    def state(self) -> dict:
        """What ``down`` needs from another process: the process groups and data to remove."""
        return {
            "pids": {n: s.pid for n, s in self.services.items()},
            "pg_data": str(self.pg_data) if self.pg_data else None,
            "url": self.url,
        }


def group_alive(pgid: int) -> bool:
    """Whether a process group still has a member that is not a zombie.

    A service's grandchildren (the daemon's code server, a worker's run process) are re-parented
    to PID 1 when they die, and stay zombies, still in the group, until it reaps them: in a
    container whose PID 1 reaps only now and then, seconds after they exited.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    if not os.path.isdir("/proc"):
        return True
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (command) state ppid pgrp ...": the command may hold spaces and parentheses.
        state, _, group = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state != "Z":
            return True
    return False


def stop_group(pgid: int, sig: int, timeout: float) -> None:
    """Signal a process group, wait for it to go, then SIGKILL what is left.

    Args:
        pgid: The group's id (its leader's pid, as started with ``start_new_session``).
        sig: The first signal.
        timeout: Seconds to wait before SIGKILL.
    """
    stop_groups([pgid], sig, timeout)


def stop_groups(pgids: list[int], sig: int, timeout: float) -> None:
    """Signal process groups together, wait for all to go, then SIGKILL what is left.

    Args:
        pgids: The groups' ids (their leaders' pids, as started with ``start_new_session``).
        sig: The first signal.
        timeout: Seconds to wait before SIGKILL.
    """
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
    deadline = time.monotonic() + timeout
    left = list(pgids)
    while left and time.monotonic() < deadline:
        for pgid in list(left):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)  # reap our own child, or it stays a zombie
            if not group_alive(pgid):
                left.remove(pgid)
        time.sleep(0.1)
    for pgid in left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _up(args: argparse.Namespace) -> int:
    root = Path(args.dir).resolve()
    if (root / STATE).exists():
        print(f"error: a cluster is already up in {root}: run `down` first", file=sys.stderr)
        return 1
    cluster = Cluster(root, workers=args.workers)
    try:
        cluster.up()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    (root / STATE).write_text(json.dumps(cluster.state(), indent=2))
    print(f"cluster up: UI {cluster.url}, {args.workers} Celery workers, logs in {cluster.logs}")
    print(f"for the dagster CLI: set -a; . {root / 'cluster.env'}; set +a")
    return 0


def _down(args: argparse.Namespace) -> int:
    root = Path(args.dir).resolve()
    try:
        state = json.loads((root / STATE).read_text())
    except FileNotFoundError:
        print(f"no cluster is up in {root}", file=sys.stderr)
        return 0
    pids = state["pids"]
    stop_groups([p for n, p in pids.items() if n != "postgres"], signal.SIGTERM, 20)
    if "postgres" in pids:  # the database last
        stop_group(pids["postgres"], signal.SIGINT, 20)
    if state.get("pg_data") and not state["pg_data"].startswith(str(root)):
        shutil.rmtree(state["pg_data"], ignore_errors=True)
    (root / STATE).unlink()
    print(f"cluster down: stopped {', '.join(pids)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and bring the cluster up or down.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start PostgreSQL, Redis, workers, daemon and webserver")
    up.add_argument("--dir", default=".cluster", help="cluster directory (default .cluster)")
    up.add_argument("--workers", type=int, default=2, help="Celery run workers (default 2)")
    down = sub.add_parser("down", help="stop every service of the cluster")
    down.add_argument("--dir", default=".cluster", help="cluster directory (default .cluster)")
    args = parser.parse_args(argv)
    if args.command == "up" and args.workers < 1:
        parser.error(f"--workers={args.workers}: expected 1 or more")
    return _up(args) if args.command == "up" else _down(args)


if __name__ == "__main__":
    sys.exit(main())
