"""/predict under load: N concurrent gradio_client clients send M requests in all.

    python benchmarks/load.py                                  # starts python app.py; 32 clients, 500 requests
    python benchmarks/load.py --clients 8 --requests 100
    python benchmarks/load.py --url http://127.0.0.1:7860/ --pid 4242   # a running app; its pid for its memory

Each request uploads one of the shipped examples' pictures with its name (image + text,
T = 4) and waits for the answer, at most --timeout seconds. A request counts as an error
if it fails, times out, or names other labels than the same example got before. First
every client sends --warmup requests, not counted; the server's resident memory (VmRSS in
/proc/<pid>/status) is read after them and again after the run.

Prints the errors, p50 / p95 / p99 latency, throughput and the memory growth (with
--readme README.md, also into the README's Reliability section), and exits with status 1
if a target is missed. Targets: 0 errors, memory growth under 10%.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradio_client import Client, handle_file  # noqa: E402

from benchmarks.cold_start import OFFLINE, ROOT, free_port, page_is_served  # noqa: E402
from benchmarks.predict_load import percentile  # noqa: E402
from kd.serving.examples import load_examples  # noqa: E402
from kd.study.report import write_command_output  # noqa: E402

TEMPERATURE = 4.0
MAX_MEMORY_GROWTH = 0.10


@dataclass(frozen=True)
class Request:
    picture: str
    text: str


@dataclass
class Tally:
    """What the clients saw, shared between their threads."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    labels: dict[Request, tuple[str, str]] = field(default_factory=dict)  # the first answer to each request
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def answered(self, request: Request, answer: dict, latency_ms: float) -> None:
        labels = answer["teacher"]["label"], answer["student"]["label"]
        with self.lock:
            first = self.labels.setdefault(request, labels)
            if labels != first:
                self.errors.append(f"{Path(request.picture).name}: answered {labels}, earlier {first}")
            else:
                self.latencies_ms.append(latency_ms)

    def failed(self, error: Exception) -> None:
        with self.lock:
            self.errors.append(f"{type(error).__name__}: {error}")


class Visitor:
    """One gradio_client client, sending its requests one after another."""

    def __init__(self, url: str, timeout: float):
        self.client, self.timeout = Client(url, verbose=False), timeout

    def ask(self, request: Request, tally: Tally) -> None:
        start = time.perf_counter()
        job = self.client.submit(handle_file(request.picture), request.text, TEMPERATURE, api_name="/predict")
        try:
            answer = job.result(timeout=self.timeout)
        except TimeoutError:
            job.cancel()
            tally.failed(TimeoutError(f"no answer within {self.timeout:g} s"))
        except Exception as e:  # counted and reported, never hidden
            tally.failed(e)
        else:
            tally.answered(request, answer, (time.perf_counter() - start) * 1000)


def drive(visitors: list[Visitor], requests: list[Request], count: int, tally: Tally) -> float:
    """Send `count` requests, visitor k taking requests k, k + N, k + 2N, ...; returns the seconds taken."""

    def visit(k: int) -> None:
        for i in range(k, count, len(visitors)):
            visitors[k].ask(requests[i % len(requests)], tally)

    start = time.perf_counter()
    with ThreadPoolExecutor(len(visitors)) as pool:
        list(pool.map(visit, range(len(visitors))))
    return time.perf_counter() - start


def resident_mb(pid: int | None) -> float | None:
    """The process's resident memory (VmRSS) in MB, or None when unknown."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


@contextmanager
def started_app(startup_timeout: float = 180):
    """`python app.py` on a free port, as a visitor finds it; yields (url, pid)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, **OFFLINE, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    log = tempfile.TemporaryFile()  # not a pipe: a server whose log nobody reads would block once it fills
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout
        while not page_is_served(url):
            if app.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"app.py exited with {app.returncode}:\n{log.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"app.py served no page within {startup_timeout:.0f} s")
            time.sleep(0.2)
        yield url, app.pid
    finally:
        app.terminate()
        app.wait(timeout=30)
        log.close()


def report(clients: int, warmup: Tally, run: Tally, seconds: float, memory: tuple, load: float) -> tuple[list[str], bool]:
    """The figures, line by line, and whether every target is met. `memory` is the server's
    RSS in MB after warm-up and after the run (None: unknown); `load` the machine's load
    average before the warm-up, since other jobs on the machine slow every figure."""
    total, warmed = len(run.latencies_ms) + len(run.errors), len(warmup.latencies_ms) + len(warmup.errors)
    warmup_errors = f", {len(warmup.errors)} in warm-up" if warmup.errors else ""
    lines = [
        f"/predict under load: {clients} concurrent gradio_client clients, {total} requests after {warmed} warm-up",
        f"  machine:     {platform.machine()}, {os.cpu_count()} cpus, load average {load:.1f} before the warm-up",
        f"  errors:      {len(run.errors)} of {total} (target 0){warmup_errors}",
        *(f"    {error[:300]}" for error in sorted(set(run.errors))[:5]),
    ]
    if run.latencies_ms:
        p50, p95, p99 = (percentile(run.latencies_ms, q) for q in (50, 95, 99))
        lines.append(f"  latency:     p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms (upload to answer)")
    lines.append(f"  throughput:  {len(run.latencies_ms) / seconds:.1f} answers/s ({seconds:.0f} s in all)")
    before, after = memory
    if before is None or after is None:
        lines.append("  server RSS:  not measured (give --pid of the server)")
        return lines, not run.errors
    growth = after / before - 1
    lines.append(f"  server RSS:  {before:.0f} MB after warm-up, {after:.0f} MB after the run: {growth:+.1%} "
                 f"(target under {MAX_MEMORY_GROWTH:.0%})")
    return lines, not run.errors and growth < MAX_MEMORY_GROWTH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent gradio_client clients")
    parser.add_argument("--requests", type=int, default=500, help="requests in all, after the warm-up")
    parser.add_argument("--warmup", type=int, default=2, help="requests per client before measuring (not counted)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a request may take before it counts as an error")
    parser.add_argument("--url", help="a running app to load, instead of starting python app.py")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, to read its memory")
    parser.add_argument("--readme", type=Path, help="also write the figures into this file, between its <!-- load:start/end --> markers")
    args = parser.parse_args(argv)

    requests = [Request(str(ROOT / "examples" / e.file), e.text) for e in load_examples(ROOT / "examples")]
    load = os.getloadavg()[0]
    with nullcontext((args.url, args.pid)) if args.url else started_app() as (url, pid):
        visitors = [Visitor(url, args.timeout) for _ in range(args.clients)]
        warmup = Tally()
        drive(visitors, requests, args.warmup * args.clients, warmup)
        before = resident_mb(pid)
        run = Tally(labels=warmup.labels)
        seconds = drive(visitors, requests, args.requests, run)
        after = resident_mb(pid)
    lines, met = report(args.clients, warmup, run, seconds, (before, after), load)
    print("\n".join(lines))
    if args.readme:
        command = f"python benchmarks/load.py --clients {args.clients} --requests {args.requests} --warmup {args.warmup}"
        write_command_output(args.readme, "load", command, lines)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
