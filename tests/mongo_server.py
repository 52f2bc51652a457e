"""A real MongoDB wire-protocol server for tests: SecantusDB (PyPI ``secantusdb``, GPL-2.0) run as a
separate process on 127.0.0.1 and reached only through pymongo; nothing imports it.

:func:`start_server` starts ``secantusd-py`` on a free port with its data in a temporary folder
and waits for ``ping``; :meth:`MongoServer.stop` ends that process by its PID. Where the server is
not installed the tests that need it skip, except under ``SEMCGCNN_REQUIRE_BACKENDS=1``
(``tests/backends_required.py``), where they fail.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"  # the only address these tests ever serve or reach
SERVER_BIN = "secantusd-py"
PING_TIMEOUT_S = 20.0


def server_binary() -> str | None:
    """The ``secantusd-py`` launcher of this virtual environment (or on PATH), or ``None``."""
    here = Path(sys.executable).with_name(SERVER_BIN)
    return str(here) if here.exists() else shutil.which(SERVER_BIN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class MongoServer:
    """A running server: where it listens, its process and its log file."""

    host: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}"

    def client(self, **kwargs):
        """A pymongo client of this server (close it when done)."""
        import pymongo

        return pymongo.MongoClient(self.host, self.port, serverSelectionTimeoutMS=5000, **kwargs)

    def mongo_store(self, database: str, collection: str) -> dict:
        """A maggma ``MongoStore`` spec on this server, as jobflow's and jobflow-remote's YAML take it."""
        return {
            "type": "MongoStore",
            "host": self.host,
            "port": self.port,
            "database": database,
            "collection_name": collection,
        }

    def job_store(self, database: str) -> dict:
        """A jobflow ``JOB_STORE`` spec: job documents and the ``data`` additional store in ``database``."""
        return {
            "docs_store": self.mongo_store(database, "outputs"),
            "additional_stores": {"data": self.mongo_store(database, "outputs_data")},
        }

    def write_jobflow_config(self, path: Path, database: str) -> Path:
        """A jobflow config file (for ``JOBFLOW_CONFIG_FILE``) whose ``JOB_STORE`` is :meth:`job_store`."""
        path.write_text(json.dumps({"JOB_STORE": self.job_store(database)}))  # JSON is YAML
        return path

    def stop(self, grace_s: float = 10.0) -> None:
        """End the server process by its PID: terminate, then kill if it has not exited."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(grace_s)


class ServerError(RuntimeError):
    """The test server could not be started (one message naming why and its log)."""


def start_server(folder: Path, timeout_s: float = PING_TIMEOUT_S) -> MongoServer:
    """Start ``secantusd-py`` on a free port of 127.0.0.1, its data under ``folder``, and wait until
    it answers ``ping``. Raises :class:`ServerError` when it is not installed, exits early or does
    not answer within ``timeout_s``."""
    import pymongo
    from pymongo.errors import PyMongoError

    binary = server_binary()
    if binary is None:
        raise ServerError(f"{SERVER_BIN} not found (pip install 'sem-cgcnn[test]' installs secantusdb)")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "secantusd.toml"
    config.write_text("")  # an explicit, empty config: no secantusd.toml of the user's is read
    port, log = free_port(), folder / "server.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [
                binary,
                "--config",
                str(config),
                "--host",
                HOST,
                "--port",
                str(port),
                "--storage-path",
                str(folder / "data"),
                "--log-level",
                "WARNING",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = MongoServer(HOST, port, proc, log)
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise ServerError(
                f"{SERVER_BIN} exited with {proc.returncode} before answering ping; "
                f"log {log}: {log.read_text()[-2000:]}"
            )
        client = pymongo.MongoClient(HOST, port, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
        try:
            client.admin.command("ping")
            return server
        except PyMongoError as exc:
            if time.monotonic() > deadline:
                server.stop()
                raise ServerError(
                    f"{SERVER_BIN} on {HOST}:{port} did not answer ping within "
                    f"{timeout_s:.0f} s ({type(exc).__name__}); log {log}: "
                    f"{log.read_text()[-2000:]}"
                ) from exc
        finally:
            client.close()
        time.sleep(0.1)


def largest_documents(client, database: str) -> dict[str, int]:
    """BSON size (bytes) of the largest document of each collection of ``database``."""
    import bson

    db, sizes = client[database], {}
    for name in db.list_collection_names():
        sizes[name] = max((len(bson.encode(d)) for d in db[name].find({})), default=0)
    return sizes
