"""Cold start: seconds from `python app.py` to the first page served, on this machine.

    python benchmarks/cold_start.py                     # 3 runs; prints each and the median
    python benchmarks/cold_start.py --readme README.md  # and writes them into the README

Each run starts the app in a fresh process on a free port, with an empty examples cache
(as on a Space's first boot), and polls its home page until it answers 200. The page is
served only after both models are loaded and warmed up (`app.main` loads them before
`launch`), so this is also the time before the first visitor can be answered.
Target: 12 s or less on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_is_served(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def cold_start(timeout: float = 120.0) -> float:
    """Seconds from spawning `python app.py` to its first 200 on /."""
    port = free_port()
    empty_cache = tempfile.mkdtemp(prefix="kd-cold-start-")
    env = {**os.environ, **OFFLINE, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_EXAMPLES_CACHE": empty_cache}
    start = time.perf_counter()
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - start < timeout:
            if page_is_served(f"http://127.0.0.1:{port}/"):
                return time.perf_counter() - start
            if app.poll() is not None:
                raise RuntimeError(f"app.py exited with {app.returncode}:\n{app.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"no page after {timeout:.0f} s")
    finally:
        app.terminate()
        app.wait(timeout=30)
        shutil.rmtree(empty_cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--readme", type=Path, help="also write the figures into this file, between its <!-- cold-start:start/end --> markers")
    args = parser.parse_args()
    lines = [f"machine: {machine()}"]
    print(lines[0], flush=True)
    times = []
    for run in range(1, args.runs + 1):
        times.append(cold_start())
        lines.append(f"run {run}: {times[-1]:.1f} s to the first page")
        print(lines[-1], flush=True)
    lines.append(f"cold start to first served page: median {statistics.median(times):.1f} s over {args.runs} runs (target 12 s)")
    print(lines[-1])
    if args.readme:
        sys.path.insert(0, str(ROOT))
        from kd.study.report import write_command_output

        write_command_output(args.readme, "cold-start", f"python benchmarks/cold_start.py --runs {args.runs}", lines)


def machine() -> str:
    """The machine and how busy it was: figures on a shared machine need both."""
    return f"{platform.machine()}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at the start"


if __name__ == "__main__":
    main()
