"""The speed frontier: how much faster than the teacher a student is, by the depth of its
pretrained trunk and the side of the pictures it reads.

    python benchmarks/trunk_speed.py                     # prints one line per shape
    python benchmarks/trunk_speed.py --readme README.md  # and writes them into the README

Each student is the shipped one (`checkpoints/student`'s settings) with another trunk
depth or picture side; weights do not change the time, so they are built, not trained (the
distillation study's rows with the same shapes say how closely each follows the teacher).
All are timed in one run with the teacher, as `python -m kd evaluate` times the shipped
pair (`kd.study.evaluate.measure_latency`: batch 1, from the prepared picture to logits, in
turns), so the ratios compare like with like on a shared machine; the run is repeated
(--rounds) and each figure printed as the range of its rounds, on one torch thread as the
app serves a request (--threads 2 shows a busy 2-core machine's other picture). Target: >= 10x.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kd.config import SERVING_THREADS  # noqa: E402

# (trunk blocks, picture side): the shipped shape and its neighbours.
SHAPES = ((4, 48), (5, 48), (6, 48), (7, 48), (8, 48), (5, 64), (7, 64), (8, 64), (7, 96), (7, 128))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    parser.add_argument("--repeats", type=int, default=200, help="timed requests per model")
    parser.add_argument("--rounds", type=int, default=3, help="measurements, each of every model in turn")
    parser.add_argument("--threads", type=int, default=SERVING_THREADS,
                        help=f"torch threads (default {SERVING_THREADS}: as the app serves, and python -m kd evaluate times)")
    parser.add_argument("--readme", type=Path, help="write the figures between the README's trunk-speed markers")
    a = parser.parse_args()

    import torch

    from kd.config import DataConfig, from_dict
    from kd.data.dataset import load_dataset
    from kd.layout import Layout
    from kd.models.checkpoint import load_checkpoint, read_config
    from kd.models.classifiers import create_model
    from kd.study.evaluate import measure_latency
    from live_run import machine

    torch.set_num_threads(a.threads)
    folder = Layout(a.checkpoints)
    teacher, teacher_config = load_checkpoint(folder.teacher)
    student_args = read_config(folder.student)["model_args"]
    data = from_dict(DataConfig, teacher_config["data"])
    test = load_dataset(data, progress=False).split("test")
    shipped = (student_args["trunk_blocks"], student_args["image_size"])
    base = {k: v for k, v in student_args.items() if k not in ("trunk_blocks", "image_size")}
    models = {"teacher": teacher}
    for blocks, side in SHAPES:
        name = f"{blocks} blocks, {side} px" + (" (shipped)" if (blocks, side) == shipped else "")
        models[name] = create_model("student", trunk_blocks=blocks, image_size=side, **base).eval()
    # The teacher's time (on two threads especially) jumps between runs of the same
    # measurement while the students' barely moves: each round is a draw, so several are shown.
    rounds = [measure_latency(models, test, data.image_size, repeats=a.repeats) for _ in range(a.rounds)]
    teacher_ms = [r["teacher"]["latency_ms_p50"] for r in rounds]
    lines = [f"{machine()}; batch 1, p50 of {a.repeats} requests per model and round, {a.rounds} rounds, {a.threads} torch thread{'s' if a.threads > 1 else ''}",
             f"teacher: {_span(teacher_ms, '{:.1f}')} ms"]
    for name, model in models.items():
        if name != "teacher":
            ms = [r[name]["latency_ms_p50"] for r in rounds]
            ratios = [t / m for t, m in zip(teacher_ms, ms)]
            lines.append(f"student, trunk of {name}: {_span(ms, '{:.2f}')} ms, {_span(ratios, '{:.1f}')}x faster, "
                         f"{model.num_params() / 1e6:.2f} M params")
    print("\n".join(lines))
    if a.readme:
        from kd.study.report import write_command_output

        write_command_output(a.readme, "trunk-speed", "python benchmarks/trunk_speed.py", lines)


def _span(values: list[float], fmt: str) -> str:
    """'a' if every round gave the same figure, else 'lowest-highest'."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}-{high}"


if __name__ == "__main__":
    main()
