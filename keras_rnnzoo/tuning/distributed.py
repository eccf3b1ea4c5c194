"""Distributed search: keep workers alive, and run chief + workers on one machine.

keras-tuner's chief waits forever for a trial whose worker died. Here each
worker runs as a child process of a small supervisor that restarts it under
the same tuner id when it dies; the chief then hands the restarted worker
its unfinished trial, which reruns into the same MLflow run.

- `supervise_worker(...)`: `rnnzoo tune SPEC --worker ID --chief HOST:PORT`
  on every worker machine.
- `launch_local(...)`: `rnnzoo tune SPEC --workers N` on one machine: the
  chief in this process, N supervised workers as child processes, all on
  loopback.

Each supervised worker writes its pid to `<dir>/<project>/workers/<id>.pid`
and its output to `<id>.log` next to it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

_log = logging.getLogger(__name__)
DEFAULT_MAX_RESTARTS = 3
RESTART_DELAY_SECONDS = 1.0
USAGE_ERROR = 2


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def workers_dir(directory: str | Path, project: str) -> Path:
    path = Path(directory) / project / "workers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def worker_command(spec_path: str | Path, directory: str | Path, worker: str, chief: str,
                   tracking_uri: str | None, track: bool, verbose: int) -> list[str]:
    """The command line of one (unsupervised) worker process."""
    command = [sys.executable, "-m", "keras_rnnzoo", "tune", str(spec_path), "--dir", str(directory),
               "--worker", str(worker), "--chief", chief, "--supervised", "--verbose", str(verbose)]
    if tracking_uri:
        command += ["--tracking-uri", tracking_uri]
    if not track:
        command.append("--no-tracking")
    return command


class WorkerSupervisor:
    """Run one worker command; restart it (same tuner id) whenever it dies.

    Args:
        command: the worker's command line.
        name: tuner id, for the pid / log files and messages.
        directory: where `<name>.pid` and `<name>.log` go.
        max_restarts: restarts allowed before giving up.
        stop_event: set it to stop supervising (the child is terminated).
    """

    def __init__(self, command: list[str], name: str, directory: Path, max_restarts: int = DEFAULT_MAX_RESTARTS,
                 stop_event: threading.Event | None = None, env: dict | None = None):
        self.command = command
        self.name = name
        self.directory = Path(directory)
        self.max_restarts = max_restarts
        self.stop_event = stop_event or threading.Event()
        self.env = env
        self.restarts = 0
        self.exit_codes: list[int] = []
        self.process: subprocess.Popen | None = None

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    def run(self) -> int:
        """Supervise until the worker exits 0 (returns 0) or restarts run out (returns its code)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            with self.log_file.open("ab") as log:
                log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} start {self.name} "
                          f"(restart {self.restarts})\n".encode())
                log.flush()
                self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=self.env)
            self.pid_file.write_text(str(self.process.pid))
            code = self._wait()
            self.exit_codes.append(code)
            if code == 0 or self.stop_event.is_set():
                return code
            if code == USAGE_ERROR:
                _log.error("Worker %s exited with a usage error; not restarting (see %s).", self.name, self.log_file)
                return code
            if self.restarts >= self.max_restarts:
                _log.error("Worker %s died %d times; giving up (see %s).", self.name, self.restarts + 1, self.log_file)
                return code
            self.restarts += 1
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            _log.warning("Worker %s died (%s); restarting it under the same id (%d/%d).",
                         self.name, how, self.restarts, self.max_restarts)
            time.sleep(RESTART_DELAY_SECONDS)

    def _wait(self) -> int:
        while True:
            try:
                return self.process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if self.stop_event.is_set():
                    self.terminate()

    def terminate(self, grace: float = 10.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def supervise_worker(spec_path, directory, project: str, worker: str, chief: str, *, tracking_uri=None,
                     track=True, verbose=0, max_restarts=DEFAULT_MAX_RESTARTS) -> int:
    """`rnnzoo tune SPEC --worker ID --chief HOST:PORT`: one supervised worker; returns its exit code."""
    from keras_rnnzoo.tuning.search import tuner_id_for

    name = tuner_id_for(worker)
    command = worker_command(spec_path, directory, worker, chief, tracking_uri, track, verbose)
    supervisor = WorkerSupervisor(command, name, workers_dir(directory, project), max_restarts)
    try:
        return supervisor.run()
    finally:
        supervisor.stop_event.set()
        supervisor.terminate()


def launch_local(spec, workers: int, *, tracking_uri=None, track=True, overwrite=False, verbose=0,
                 max_restarts=DEFAULT_MAX_RESTARTS, chief: str | None = None) -> dict:
    """Chief in this process plus `workers` supervised worker processes on loopback; returns the summary."""
    from keras_rnnzoo.tuning.search import run_search

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}.")
    chief = chief or f"127.0.0.1:{free_port()}"
    if overwrite:
        # Clear the old search before any worker could read its record.
        import shutil

        shutil.rmtree(Path(spec.directory) / spec.name, ignore_errors=True)
    abort = threading.Event()
    stop = threading.Event()
    log_dir = workers_dir(spec.directory, spec.name)
    supervisors = [
        WorkerSupervisor(
            worker_command(spec.path, spec.directory, str(index), chief, tracking_uri, track, verbose),
            f"worker{index}", log_dir, max_restarts, stop_event=stop,
        )
        for index in range(workers)
    ]

    def watch(supervisor: WorkerSupervisor) -> None:
        if supervisor.run() != 0 and not stop.is_set():
            abort.set()

    threads = [threading.Thread(target=watch, args=(s,), name=s.name, daemon=True) for s in supervisors]
    for thread in threads:
        thread.start()
    _log.info("Chief on %s; worker logs in %s", chief, log_dir)
    try:
        summary = run_search(spec, tracking_uri=tracking_uri, track=track, overwrite=False, role="chief",
                             chief=chief, verbose=verbose, abort_event=abort)
        for thread in threads:  # workers exit by themselves once the oracle says stop
            thread.join(timeout=60)
    finally:
        stop.set()
        for supervisor in supervisors:
            supervisor.terminate()
        for thread in threads:
            thread.join(timeout=15)
    summary["workers"] = {
        s.name: {"restarts": s.restarts, "exit_codes": s.exit_codes, "log": str(s.log_file)} for s in supervisors
    }
    return summary
