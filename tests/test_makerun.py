"""`make run` for a newcomer: a taken port is named before anything starts, `manage.py` works in a second
terminal from the `.env` it writes, and Ctrl-C stops every process on its own (no SIGKILL)."""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gitops_portal.env import env_file_load
from sandbox.makerun import env_file_write
from sandbox.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("web", "worker", "clusters", "githost", "beat")


def test_it_names_a_taken_port_and_how_to_pick_another_before_anything_starts(tmp_path):
    env, receivers = environment(tmp_path), ("--receivers-port", str(free_port()))
    with listening() as port:
        proc = makerun("prepare", "--port", str(port), "--clusters-port", str(free_port()), *receivers, env=env)
    assert proc.returncode == 1
    message = proc.stderr.strip()
    assert message.startswith(f"error: port {port} on 127.0.0.1, for the web server, is taken: stop what listens there")
    suggested = int(re.search(r"pick another port: make run PORT=(\d+)$", message)[1])  # type: ignore[index]
    assert suggested != port
    assert not (tmp_path / ".env").exists(), "nothing is written"

    with listening() as clusters:
        proc = makerun("prepare", "--port", str(free_port()), "--clusters-port", str(clusters), *receivers, env=env)
    assert proc.returncode == 1
    assert f"port {clusters} on 127.0.0.1, for the demo's clusters, is taken" in proc.stderr
    assert "make run CLUSTERS_PORT=" in proc.stderr


def test_make_run_stops_at_a_taken_port_before_it_says_where_the_portal_is(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if subprocess.run(["make", "-q", ".venv/.installed"], cwd=ROOT, check=False).returncode != 0:
        pytest.skip("the virtualenv is not up to date: `make run` would install packages first")
    with listening() as port:
        proc = subprocess.run(["make", "run", f"PORT={port}", f"CLUSTERS_PORT={free_port()}"], cwd=ROOT,
                              env=environment(tmp_path), capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode != 0
    assert f"error: port {port} on 127.0.0.1, for the web server, is taken" in proc.stderr
    assert "make run PORT=" in proc.stderr
    assert "GitOps Portal on" not in proc.stdout
    assert not (tmp_path / "data" / "portal.sqlite3").exists(), "not migrated"


def test_the_readme_commands_work_in_a_second_terminal_with_only_the_env_file(tmp_path):
    demo(tmp_path)
    second_terminal = {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_ENV_FILE": str(tmp_path / ".env")}
    matrix = manage("matrix", env=second_terminal)
    assert matrix.returncode == 0, matrix.stderr
    assert re.search(r"^web\s+1\.5\.0", matrix.stdout, re.MULTILINE)
    token = manage("apitoken", "create", "--user", "alice", env=second_terminal)
    assert token.returncode == 0, token.stderr
    assert "store it now" in token.stderr


def test_the_env_file_keeps_its_secret_key_and_a_persons_own_lines(tmp_path):
    path = tmp_path / ".env"
    env_file_write(path, {"DEBUG": "true", "GITOPS_PORTAL_URL": "http://127.0.0.1:8000"})
    secret = read(path)["SECRET_KEY"]
    assert len(secret) > 50
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text(path.read_text() + "# mine\nGITHUB_TOKEN=ghp_mine\n")
    env_file_write(path, {"DEBUG": "true", "GITOPS_PORTAL_URL": "http://127.0.0.1:8110"})
    assert read(path) == {"DEBUG": "true", "GITOPS_PORTAL_URL": "http://127.0.0.1:8110", "SECRET_KEY": secret,
                          "GITHUB_TOKEN": "ghp_mine"}  # fmt: skip
    assert "# mine\n" in path.read_text()


def test_the_environment_wins_over_the_env_file_and_an_empty_setting_reads_none(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("# a comment\nPORTAL_T_SET=from-file\nexport PORTAL_T_UNSET='quoted value'\n\n")
    for name in ("PORTAL_T_SET", "PORTAL_T_UNSET", "PORTAL_T_FILE"):
        monkeypatch.setenv(name, "")  # restored (unset) afterwards, whatever the loader sets
    monkeypatch.delenv("PORTAL_T_UNSET")
    monkeypatch.setenv("PORTAL_T_SET", "from-environment")
    assert env_file_load("PORTAL_T_FILE", path) is None, "set but empty: no file"
    monkeypatch.delenv("PORTAL_T_FILE")
    assert env_file_load("PORTAL_T_FILE", path) == path
    assert (os.environ["PORTAL_T_SET"], os.environ["PORTAL_T_UNSET"]) == ("from-environment", "quoted value")
    assert env_file_load("PORTAL_T_FILE", tmp_path / "missing") is None


def test_a_broken_env_file_stops_start_up_naming_the_file_and_line(tmp_path):
    (tmp_path / ".env").write_text("DEBUG=true\nthis is not a setting\n")
    proc = manage("check", env={"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_ENV_FILE": str(tmp_path / ".env")})
    assert proc.returncode == 2
    assert proc.stderr == f"error: GITOPS_PORTAL_ENV_FILE: {tmp_path / '.env'}:2: expected KEY=value\n"


@pytest.mark.workers
def test_ctrl_c_stops_every_process_on_its_own(tmp_path):
    demo(tmp_path)
    port = free_port()
    env = environment(tmp_path) | {"PORTAL_PORT": str(port), "CLUSTERS_PORT": str(free_port())}
    log = tmp_path / "honcho.log"
    with open(log, "wb") as out:  # as `make run` starts them, in a session of their own (the terminal's)
        honcho = subprocess.Popen([sys.executable, "-m", "sandbox.makerun", "start", "--no-colour"], cwd=ROOT,
                                  env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    pids: list[int] = []
    try:
        up = (" ready.", "demo clusters at ", "beat: Starting...")
        wait_for(lambda: (answers(port) and all(s in log.read_text() for s in up)) or honcho.poll() is not None,
                 90, "make run's processes")  # fmt: skip
        assert honcho.poll() is None, log.read_text()[-3000:]
        pids = started_pids(log)
        started = time.monotonic()
        os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C: the terminal signals its foreground process group
        honcho.wait(30)
        stopped_in = time.monotonic() - started
        # Each process group empties on its own (the worker's pool and runserver's reloader too).
        wait_for(lambda: not any(group_alive(pid) for pid in pids), 5, "every process group to be gone")
    finally:  # whatever happened, nothing is left running: each process has a session of its own
        for group in [honcho.pid, *pids, *started_pids(log)]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
    output = log.read_text()
    assert "SIGKILL" not in output, output[-3000:]
    assert "exited with 'signal" not in output, "a pool process was killed under its worker"
    assert stopped_in < 10, output[-3000:]
    assert all(f"{name}.1 stopped" in output for name in PROCESSES), output[-3000:]
    assert len(pids) == len(PROCESSES)


# -- helpers -----------------------------------------------------------------------------------


def environment(tmp_path: Path) -> dict[str, str]:
    """A first terminal's: the data dir and the env file in `tmp_path`, nothing else set."""
    return {"PATH": "/usr/bin:/bin", "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "data"),
            "GITOPS_PORTAL_ENV_FILE": str(tmp_path / ".env")}  # fmt: skip


def demo(tmp_path: Path) -> None:
    """What `make run` does before it starts the processes, on free ports."""
    env = environment(tmp_path)
    prepared = makerun("prepare", "--port", str(free_port()), "--clusters-port", str(free_port()),
                       "--receivers-port", str(free_port()), env=env)  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    for command in (["migrate", "--noinput"], ["demo"]):
        proc = manage(*command, env={"PATH": env["PATH"], "GITOPS_PORTAL_ENV_FILE": env["GITOPS_PORTAL_ENV_FILE"]})
        assert proc.returncode == 0, proc.stderr


def makerun(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sandbox.makerun", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


class listening:
    """A socket listening on a free port of 127.0.0.1, as another program would."""

    def __enter__(self) -> int:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def started_pids(log: Path) -> list[int]:
    """The processes honcho started, each the leader of its own process group."""
    return [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", log.read_text())]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def read(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
