"""/predict under load: round-trip latency seen by concurrent clients.

    python benchmarks/predict_load.py                 # 2 clients x 100 requests; prints p50 / p95
    python benchmarks/predict_load.py --clients 16
    python benchmarks/predict_load.py --readme README.md  # and writes the figures into the README

Starts `python app.py` on a free port (as a visitor would find it), then each client
thread sends the shipped examples' pictures and names, in turn, to the `/predict`
endpoint, uploading the picture each time: upload, queue, both models and the JSON back.
The first requests of each client warm the connection and are not counted. It runs
twice, with two kinds of client:

- `gradio_client` (`Client.predict`, as in the README), which checks for the server's
  answer every 50 ms, so its figures include up to 50 ms of waiting on the client's side;
- plain HTTP (`httpx`, the calls the API page shows for curl), which sees the server's
  answer as soon as it is sent.

Targets with 2 clients: p50 150 ms or less, p95 300 ms or less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cold_start import OFFLINE, ROOT, free_port, machine, page_is_served  # noqa: E402
from kd.serving.examples import load_examples  # noqa: E402

WARMUP_REQUESTS = 3


def gradio_client_caller(url: str):
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    return lambda picture, text: client.predict(handle_file(picture), text, 4.0, api_name="/predict")


def http_caller(url: str):
    import httpx

    http = httpx.Client(base_url=f"{url}gradio_api", timeout=60)

    def call(picture: str, text: str) -> dict:
        with open(picture, "rb") as f:
            path = http.post("/upload", files={"files": (Path(picture).name, f, "image/png")}).json()[0]
        data = [{"path": path, "meta": {"_type": "gradio.FileData"}}, text, 4.0]
        event_id = http.post("/call/predict", json={"data": data}).json()["event_id"]
        with http.stream("GET", f"/call/predict/{event_id}") as events:
            lines = events.iter_lines()
            for line in lines:
                if line.startswith("event: "):
                    kind, payload = line[len("event: "):], next(lines)[len("data: "):]
                    if kind == "complete":
                        return json.loads(payload)[0]
                    if kind == "error":
                        raise RuntimeError(payload)
        raise RuntimeError("the answer stream ended without an answer")

    return call


def client_run(make_caller, url: str, requests: int, examples: list, times: list[float], errors: list[str]) -> None:
    call = make_caller(url)
    for i in range(WARMUP_REQUESTS + requests):
        picture, text = examples[i % len(examples)]
        start = time.perf_counter()
        try:
            answer = call(picture, text)
            assert answer["teacher"]["label"] and answer["student"]["label"]
        except Exception as e:  # counted and reported, never hidden
            errors.append(f"{type(e).__name__}: {e}")
            continue
        if i >= WARMUP_REQUESTS:
            times.append((time.perf_counter() - start) * 1000)


def load(make_caller, url: str, clients: int, requests: int, examples: list) -> str:
    times: list[float] = []
    errors: list[str] = []
    arguments = (make_caller, url, requests, examples, times, errors)
    threads = [threading.Thread(target=client_run, args=arguments) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if not times:
        return f"no answers; {len(errors)} errors" + "".join(f"\n  error: {e}" for e in sorted(set(errors))[:5])
    report = (f"p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms, "
              f"{len(times) / elapsed:.1f} requests/s, {len(errors)} errors")
    return report + "".join(f"\n  error: {e}" for e in sorted(set(errors))[:5])


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100, help="per client")
    parser.add_argument("--readme", type=Path, help="also write the figures into this file, between its <!-- predict:start/end --> markers")
    args = parser.parse_args()

    examples = [(str(ROOT / "examples" / e.file), e.text) for e in load_examples(ROOT / "examples")]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, **OFFLINE, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not page_is_served(url):
            if app.poll() is not None:
                raise RuntimeError("app.py exited before serving")
            time.sleep(0.2)
        lines = [f"/predict, {args.clients} concurrent clients x {args.requests} requests; {machine()} "
                 "(targets with 2 clients: p50 <= 150 ms, p95 <= 300 ms)"]
        print(lines[0], flush=True)
        for name, caller in (("gradio_client:", gradio_client_caller), ("plain HTTP:   ", http_caller)):
            lines.append(f"  {name} {load(caller, url, args.clients, args.requests, examples)}")
            print(lines[-1], flush=True)
    finally:
        app.terminate()
        app.wait(timeout=30)
    if args.readme:
        from kd.study.report import write_command_output

        command = f"python benchmarks/predict_load.py --clients {args.clients} --requests {args.requests}"
        write_command_output(args.readme, "predict", command, lines)


if __name__ == "__main__":
    main()
