"""FireWorks on the real test server (``mongo_server``): a LaunchPad file, a jobflow job store on the
same server, concurrent ``rlaunch rapidfire`` workers (each in its own folder, so a launch's
folder tells which worker ran it), and what the LaunchPad recorded: states and launches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

BIN = Path(sys.executable).parent


class FireWorksSite:
    """A LaunchPad (database ``database`` on ``server``), its job store and worker folders in ``root``."""

    def __init__(self, server, database: str, root: Path):
        self.server, self.database, self.root = server, database, root
        root.mkdir(parents=True, exist_ok=True)
        self.launchpad_file = root / "my_launchpad.yaml"
        lp = {"host": server.host, "port": server.port, "name": database}
        self.launchpad_file.write_text(json.dumps(lp))
        config = server.write_jobflow_config(root / "jobflow.yaml", database)
        self.env = {**os.environ, "COLUMNS": "200", "JOBFLOW_CONFIG_FILE": str(config)}
        for name in ("MONGOMOCK_SERVERSTORE_FILE", "MP_API_KEY", "FW_CONFIG_FILE"):
            self.env.pop(name, None)
        self.client = server.client()

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess:
        """Run ``code`` in a fresh interpreter with this site's environment (LaunchPad file as argv[1])."""
        return subprocess.run(
            [sys.executable, "-c", code, str(self.launchpad_file), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def lpad(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "lpad"), "-l", str(self.launchpad_file), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def worker(self, name: str) -> subprocess.Popen:
        """``rlaunch rapidfire`` in folder ``name`` (checks for ready Fireworks every second)."""
        folder = self.root / name
        folder.mkdir(exist_ok=True)
        log = (folder / "rlaunch.log").open("w")
        cmd = [str(BIN / "rlaunch"), "-l", str(self.launchpad_file), "-s", "rapidfire", "--sleep", "1"]
        return subprocess.Popen(
            cmd, env=self.env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def db(self):
        return self.client[self.database]

    def states(self) -> dict[str, str]:
        """Firework name → state."""
        return {fw["name"]: fw["state"] for fw in self.db().fireworks.find({}, {"name": 1, "state": 1})}

    def launch_counts(self) -> dict[str, Counter]:
        """Firework name → how many of its launches (current and archived) ended in each state."""
        db = self.db()
        names = {fw["fw_id"]: fw["name"] for fw in db.fireworks.find({}, {"fw_id": 1, "name": 1})}
        counts = {name: Counter() for name in names.values()}
        for launch in db.launches.find({}, {"fw_id": 1, "state": 1}):
            counts[names[launch["fw_id"]]][launch["state"]] += 1
        return counts

    def failures(self) -> dict[str, str]:
        """Firework name → the stored traceback of each of its FIZZLED launches (what FireWorks
        recorded in the launch's action), for assertion messages."""
        db = self.db()
        names = {fw["fw_id"]: fw["name"] for fw in db.fireworks.find({}, {"fw_id": 1, "name": 1})}
        out = {}
        for launch in db.launches.find({"state": "FIZZLED"}):
            stored = (launch.get("action") or {}).get("stored_data") or {}
            trace = (stored.get("_exception") or {}).get("_stacktrace") or stored.get("_message")
            trace = trace or f"no traceback; stored data {json.dumps(stored, default=str)[:2000]}"
            out[names[launch["fw_id"]]] = f"{launch['launch_dir']}: {trace}"
        return out

    def workers_used(self) -> set[str]:
        """The worker folders whose rlaunch ran at least one launch."""
        return {
            Path(d["launch_dir"]).relative_to(self.root).parts[0]
            for d in self.db().launches.find({}, {"launch_dir": 1})
        }

    def running_launch(self, name_prefix: str) -> dict | None:
        """A RUNNING launch of a Firework whose name starts with ``name_prefix`` (with that name), if any."""
        db = self.db()
        for fw in db.fireworks.find({"state": "RUNNING", "name": {"$regex": f"^{name_prefix}"}}):
            launch = db.launches.find_one({"launch_id": {"$in": fw["launches"]}, "state": "RUNNING"})
            if launch is not None:
                return {**launch, "name": fw["name"]}
        return None


def wait_all(procs: list[subprocess.Popen], timeout_s: float) -> list[int]:
    """Wait for every process (killing all of them, by PID, if ``timeout_s`` passes); their exit codes."""
    deadline = time.monotonic() + timeout_s
    try:
        return [p.wait(max(deadline - time.monotonic(), 0.1)) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        raise


def wait_for(condition, timeout_s: float, what: str, interval_s: float = 0.05):
    """Poll ``condition()`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
