"""Run one tool as a subprocess and measure it: wall time, CPU seconds and peak RSS of that
process alone (os.wait4 returns the child's own rusage, unlike RUSAGE_CHILDREN, which mixes in
every child this process ever waited for), with a time cap.

Linux carries a process's peak RSS over fork and exec: a child's ru_maxrss is at least the
benchmark's own peak RSS when it was started (hundreds of MB once it has built a million images'
inventory). So the child's VmHWM (the peak of its own address space since exec) is read from
/proc as it runs, and ru_maxrss is used only when it exceeds the benchmark's own peak (then it
is the child's)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.005  # wall time is read to within this


@dataclass(frozen=True)
class Measurement:
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    exit_code: int
    capped: bool  # stopped at the time cap


def run_measured(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    cap_seconds: float,
) -> Measurement:
    """Run `command` (stdout and stderr to `log`) until it exits or `cap_seconds` pass."""
    inherited = peak_kb("self")  # what the child's ru_maxrss starts from
    peak = 0
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        capped = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, peak_kb(process.pid))
            if not capped and time.perf_counter() - started > cap_seconds:
                capped = True
                os.kill(process.pid, signal.SIGKILL)
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - started
    # The child is reaped here; tell Popen so that it does not try again.
    process.returncode = os.waitstatus_to_exitcode(status)
    if usage.ru_maxrss > inherited or not peak:
        peak = usage.ru_maxrss
    return Measurement(
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak / 1024,  # kilobytes on Linux
        exit_code=process.returncode,
        capped=capped,
    )


def peak_kb(pid: int | str) -> int:
    """VmHWM of a process, in kB: the peak RSS of its address space (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine() -> dict[str, str]:
    """nproc, memory and CPU model, for the results file."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    return {"nproc": str(os.cpu_count()), "memory": memory, "cpu": model}
