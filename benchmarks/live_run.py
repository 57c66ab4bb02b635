"""The "Distill it yourself" tab's default run: seconds for both students, and the KD gain.

    python benchmarks/live_run.py                     # 3 runs; prints each and the median
    python benchmarks/live_run.py --readme README.md  # and writes them into the README

Each run trains the tab's default settings (`kd.serving.live.LiveSettings()`) as the app
does: your student and its labels-only twin in one thread, on one torch thread, the teacher
answering from its record in `checkpoints/`. The data is prepared once, before the first
run, as the server does in the background when it starts. Target: well inside the tab's
60 s limit on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    parser.add_argument("--readme", type=Path, help="write the figures between the README's live-run markers")
    a = parser.parse_args()

    import torch

    from kd.config import DataConfig, from_dict
    from kd.layout import Layout
    from kd.models.checkpoint import read_config
    from kd.serving.live import TIME_LIMIT_S, LiveSettings
    from kd.serving.live_lab import LiveLab, LiveRun

    torch.set_num_threads(1)  # as the app trains: the other core keeps answering
    folder = Layout(a.checkpoints)
    config = read_config(folder.teacher)
    lab = LiveLab(folder.teacher_outputs, from_dict(DataConfig, config["data"]), teacher_sha256=config["weights_sha256"])
    data = lab.data()
    settings = LiveSettings()
    lines = [f"{machine()}; default settings: {settings.describe()}, {settings.epochs} epochs"]
    print(lines[0], flush=True)
    seconds = []
    for i in range(1, a.runs + 1):
        run = LiveRun(data, settings)
        for _ in run.epochs():
            pass
        r = run.result
        seconds.append(r.seconds)
        line = (f"run {i}: {r.seconds:.1f} s for both students; test accuracy {r.test['accuracy']:.3f}, "
                f"labels-only twin {r.twin_test['accuracy']:.3f} ({r.kd_gain:+.1f} points)")
        lines.append(line)
        print(line, flush=True)
    lines.append(f"default run: median {statistics.median(seconds):.1f} s over {a.runs} runs (limit {TIME_LIMIT_S:.0f} s)")
    print(lines[-1])
    if a.readme:
        from kd.study.report import write_command_output

        command = "python benchmarks/live_run.py" + (f" --runs {a.runs}" if a.runs != 3 else "")
        write_command_output(a.readme, "live-run", command, lines)


def machine() -> str:
    """The machine and how busy it was: figures on a shared machine need both."""
    return f"{platform.machine()}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f} at the start"


if __name__ == "__main__":
    main()
