"""A real single-node Slurm for the tests, started as root in a folder of its own.

Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them): a munge key and ``munged`` on
a socket of their own, a ``slurm.conf`` with one ``NodeName`` (this host, its CPUs) and one
partition, then ``slurmctld`` and ``slurmd``. Ports and sockets are chosen free, so it starts
beside any other Slurm. ``SLURM_CONF`` points the client commands (``sbatch``, ``squeue``)
and the jobs at it.

    python -m tests.cluster.slurm_node DIR   # start one by hand; prints the export line
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def why_not_available() -> str | None:
    """Why a Slurm cannot be started here, or None."""
    if os.geteuid() != 0:
        return "a test Slurm must be started as root"
    missing = [name for name in DAEMONS if shutil.which(name) is None
               and not Path("/usr/sbin", name).exists()]
    if missing:
        return (f"{', '.join(missing)} not installed "
                "(apt-get install -y slurm-wlm munge)")
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SingleNodeSlurm:
    """One controller and one compute node (this host) under ``folder``."""

    partition = "debug"

    def __init__(self, folder: Path, cpus: int | None = None, memory_mb: int = 8000):
        self.folder = Path(folder).resolve()
        self.cpus = cpus or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.folder / "slurm.conf"
        self.munge_socket = self.folder / "munge" / "munge.socket"
        self.processes: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60) -> SingleNodeSlurm:
        for sub in ("munge", "state", "spool", "log", "jobs"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._start_munge()
        self.conf.write_text(self._config())
        self._spawn(binary("slurmctld"), "-D", "-f", str(self.conf), log="slurmctld")
        self._spawn(binary("slurmd"), "-D", "-f", str(self.conf), "-N", self.host, log="slurmd")
        self._wait_idle(timeout)
        return self

    def _start_munge(self) -> None:
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._spawn(binary("munged"), "--foreground", "--force", f"--socket={self.munge_socket}",
                    f"--key-file={key}", f"--pid-file={self.folder / 'munge' / 'munged.pid'}",
                    f"--seed-file={self.folder / 'munge' / 'munged.seed'}",
                    f"--log-file={self.folder / 'log' / 'munged.log'}", log="munged-console")
        deadline = time.monotonic() + 20
        while not self.munge_socket.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"munged did not start: {self._log('munged')}")
            time.sleep(0.1)

    def _config(self) -> str:
        f = self.folder
        return "\n".join([
            "ClusterName=pipeline-test",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "MinJobAge=30",
            "KillWait=5",
            "Waittime=0",
            # A job killed or cancelled is not requeued by Slurm: the flow retries the work.
            "JobRequeue=0",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.memory_mb} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.host} Default=YES "
            "MaxTime=INFINITE State=UP",
            "",
        ])

    def _spawn(self, *command: str, log: str) -> None:
        out = (self.folder / "log" / f"{log}.out").open("w")
        self.processes.append(subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **self.env}))

    def _log(self, name: str) -> str:
        path = self.folder / "log" / f"{name}.log"
        return path.read_text()[-2000:] if path.exists() else "(no log)"

    def run(self, *command: str) -> str:
        return subprocess.run(list(command), env={**os.environ, **self.env}, check=True,
                              capture_output=True, text=True, timeout=30).stdout

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead:
                break
            try:
                state = self.run("sinfo", "-h", "-N", "-o", "%T").strip()
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                state = ""
            if state == "idle":
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Slurm did not come up (node state {state!r}); slurmctld: "
                           f"{self._log('slurmctld')}\nslurmd: {self._log('slurmd')}")

    def jobs(self) -> list[str]:
        """Ids of the jobs queued or running."""
        return self.run("squeue", "-h", "-o", "%i").split()

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


if __name__ == "__main__":
    reason = why_not_available()
    if reason:
        sys.exit(reason)
    started = time.monotonic()
    slurm = SingleNodeSlurm(Path(sys.argv[1])).start()
    print(f"Slurm up in {time.monotonic() - started:.1f} s; export SLURM_CONF={slurm.conf}")
    print("Ctrl-C stops it")
    try:
        signal.pause()
    except KeyboardInterrupt:
        slurm.stop()
