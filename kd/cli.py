"""`python -m kd <command>`: the project's jobs from the terminal.

    data           print the dataset card (counts per style, class and split; licences)
    train-teacher  train the teacher's fusion heads on frozen pretrained features
    distill        train a student from the teacher (--alpha 0: on labels alone)
    evaluate       evaluate every checkpoint in a folder; --json writes the metrics
    reproduce      all of the above, from nothing to checkpoints/ and metrics.json
    record         rewrite the teacher's recorded answers the live tab trains on
    experiments    the distillation study: which methods beat labels alone, over seeds
    report         write the results and the study's tables into the README
    examples       pick the demo's held-out examples (some the models disagree on)
    export         the student as ONNX (and int8), with its preprocessing contract
    gap            how closely the student follows its teacher on pictures it trained on and on unseen ones

Errors a user can fix (bad data, a broken checkpoint, missing weights) are printed as one
clear message and exit with status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from kd.config import DISTILL, DISTILL_TRAIN, KEEP, SERVING_THREADS, TEACHER_TRAIN, DataConfig, DistillConfig, TrainConfig, from_dict
from kd.data import clipart, gcompris, stamps
from kd.data.clipart import ClipartMissing
from kd.data.dataset import DataError, dataset_card, load_dataset
from kd.data.images import ImageError
from kd.layout import Layout
from kd.models.backbones import BackboneError
from kd.models.checkpoint import CheckpointError, load_checkpoint
from kd.models.classifiers import CNN_STUDENT, IMAGE_ENCODERS, MODELS, StudentConfig, TeacherConfig
from kd.models.compress import INITS
from kd.training import distributed
from kd.training.train import ResumeError

USER_ERRORS = (DataError, CheckpointError, BackboneError, ImageError, FileNotFoundError, ResumeError, ClipartMissing)


def _data_args(p: argparse.ArgumentParser) -> None:
    d = DataConfig()
    g = p.add_argument_group("data")
    g.add_argument("--source", default=d.source, help="'emoji' (default) or the path of your CSV (columns image,text,label)")
    g.add_argument("--label", default=d.label, choices=("category", "subcategory"), help="emoji labels: 9 categories or ~99 subcategories")
    g.add_argument("--styles", nargs="+", default=list(d.styles), help="emoji art styles to include")
    g.add_argument("--skip-bad-rows", action="store_true", help="CSV: leave out bad rows (each is reported) instead of stopping")


def _train_args(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=defaults.epochs)
    g.add_argument("--batch-size", type=int, default=defaults.batch_size)
    g.add_argument("--lr", type=float, default=defaults.lr)
    g.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    g.add_argument("--seed", type=int, default=defaults.seed)
    g.add_argument("--modality-dropout", type=float, default=defaults.modality_dropout, help="chance of hiding the image, or the text, of a training example")
    g.add_argument("--label-fraction", type=float, default=defaults.label_fraction, help="fraction of training emoji whose labels may be used")
    g.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    g.add_argument("--resume", action="store_true", help="continue a run into the same --out that was interrupted")


def _data_config(a: argparse.Namespace) -> DataConfig:
    return DataConfig(source=a.source, label=a.label, styles=tuple(a.styles), skip_bad_rows=a.skip_bad_rows)


def _train_config(a: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        weight_decay=a.weight_decay,
        seed=a.seed,
        modality_dropout=a.modality_dropout,
        label_fraction=a.label_fraction,
        threads=a.threads,
    )


def cmd_data(a: argparse.Namespace) -> int:
    config = _data_config(a)
    print(dataset_card(load_dataset(config)))
    if config.source == "emoji":  # the clip art goes with the emoji: the student's pictures beyond them
        print("\n" + clipart.card())
        print("\n" + stamps.card())
        print("\n" + gcompris.card())
    return 0


def cmd_train_teacher(a: argparse.Namespace) -> int:
    from kd.study.pipeline import train_teacher

    heads = {} if a.heads is None else {"heads": a.heads}
    if heads and MODELS[a.model].config_class is not TeacherConfig:
        print(f"error: --heads: {a.model} has no fusion heads", file=sys.stderr)
        return 2
    if heads and a.heads < 1:
        print(f"error: --heads {a.heads}: {a.model} takes one or more fusion heads", file=sys.stderr)
        return 2
    _, info = train_teacher(_data_config(a), _train_config(a), model=a.model, out=a.out, resume=a.resume, **heads)
    best = info.get("heads_val_accuracy") or [max(r["val_accuracy"] for r in info["history"])]
    print(f"saved {a.model} to {a.out}: best val accuracy {', '.join(f'{b:.3f}' for b in best)} "
          f"({'one per head' if len(best) > 1 else 'its head'}) in {info['train_seconds']:.0f} s")
    return 0


def _student_shape(a: argparse.Namespace) -> dict:
    """The student's settings `--image-encoder` asks for: the CNN comes with its own input size and widths."""
    return CNN_STUDENT if a.image_encoder == "cnn" and MODELS[a.student].config_class is StudentConfig else {}


def cmd_distill(a: argparse.Namespace) -> int:
    from kd.study.pipeline import distill, teacher_reference

    teacher, teacher_config = load_checkpoint(a.teacher)
    if teacher_config["kind"] != "teacher":
        raise CheckpointError(f"{a.teacher} holds a {teacher_config['kind']}, not a teacher.")
    data = from_dict(DataConfig, teacher_config["data"])
    teaches = a.alpha > 0  # a transfer set has no labels: without the teacher it teaches nothing
    # The picture hint needs a picture branch in the student and an image backbone in the teacher.
    reads_pictures = "image" in MODELS[a.student].defaults.get("modalities", ("image",))
    hint = a.picture_hint if teaches and reads_pictures and teacher.is_teacher else 0.0
    # Transfer pictures need the teacher's image backbone to answer them (the classic MLP has none).
    pictures = teaches and teacher.is_teacher
    config = DistillConfig(
        temperature=a.temperature, alpha=a.alpha, hint_weight=a.hint_weight, picture_hint=hint,
        transfer=a.transfer and teaches,
        words=a.words, phrases=a.phrases, transfer_batch=a.transfer_batch, transfer_mix=tuple(a.transfer_mix), pictures=a.pictures and pictures,
        pictures_per_folder=a.pictures_per_folder, stamps=a.stamps and pictures, captions=a.captions and pictures, views=a.views if pictures else 0, student_init=a.student_init,
        keep=a.keep,
    )
    world = distributed.setup()  # several processes under torchrun, else one
    try:
        _, info = distill(
            teacher, data, _train_config(a), config, student=a.student, out=a.out, teacher_ref=teacher_reference(a.teacher),
            resume=a.resume, world=world, **_student_shape(a),
        )
    finally:
        distributed.teardown(world)
    if world.main:
        kept = info["history"][info["kept_epoch"] - 1]
        how = "on labels alone" if config.alpha == 0 else f"with KD (T={config.temperature:g}, alpha={config.alpha:g})"
        on = f" on {world.size} processes" if world.distributed else ""
        print(f"saved {a.student} trained {how}{on} to {a.out} in {info['train_seconds']:.0f} s: kept epoch {kept['epoch']} "
              f"({config.keep}), val accuracy {kept['val_accuracy']:.3f}, agreement with the teacher {kept['val_agreement']:.3f}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from kd.study.evaluate import evaluate_folder, keep_speed
    from kd.study.pipeline import write_json
    from kd.study.report import results_table

    keep = json.loads(Path(a.keep_speed).read_text(encoding="utf-8")) if a.keep_speed else None
    metrics = evaluate_folder(a.checkpoints, split=a.split, speed=not (a.no_speed or keep), threads=a.threads,
                              latency_threads=a.latency_threads)
    if keep is not None:
        metrics = keep_speed(metrics, keep)
    print(results_table(metrics))
    if a.json:
        write_json(a.json, metrics)
        print(f"wrote {a.json}")
    return 0


def cmd_reproduce(a: argparse.Namespace) -> int:
    from kd.study.pipeline import reproduce
    from kd.study.report import results_table

    start = time.perf_counter()
    metrics = reproduce(a.out)
    print(results_table(metrics))
    print(f"reproduced {a.out} in {(time.perf_counter() - start) / 60:.1f} min")
    return 0


def cmd_record(a: argparse.Namespace) -> int:
    from kd.study.record import record_teacher_outputs

    path = record_teacher_outputs(a.checkpoints)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_experiments(a: argparse.Namespace) -> int:
    from kd.study.experiments import run_study
    from kd.study.tables import tables_markdown, write_tables

    if not a.tables_only:
        run_study(Path(a.out), tuple(a.seeds), a.workers, a.epochs, tuple(a.tables) if a.tables else None)
    tables = write_tables(Path(a.out), tuple(a.seeds))
    print(tables_markdown(tables))
    print(f"wrote {a.out}/tables.md and {a.out}/tables.json")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from kd.study.report import update_readme

    update_readme(Path(a.readme), Path(a.checkpoints), Path(a.experiments))
    print(f"updated {a.readme} from {Layout(a.checkpoints).metrics} and {a.experiments}/tables.json")
    return 0


def cmd_examples(a: argparse.Namespace) -> int:
    from kd.serving.examples import main as write_examples

    return write_examples(["--out", a.out, "--checkpoints", a.checkpoints])


def cmd_export(a: argparse.Namespace) -> int:
    from kd.models.export import export_folder

    for path in export_folder(a.checkpoints, a.out, a.quantize):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.json').name}")
    return 0


def cmd_gap(a: argparse.Namespace) -> int:
    from kd.study.gap import gap_lines, gap_rows
    from kd.study.report import write_command_output

    folder = Layout(a.checkpoints)
    student, config = load_checkpoint(folder.student)
    teacher, _ = load_checkpoint(folder.teacher)
    dataset = load_dataset(from_dict(DataConfig, config["data"]), progress=False)
    lines = gap_lines(gap_rows(student, teacher, dataset, from_dict(DistillConfig, config["distill"])))
    print("\n".join(lines))
    if a.readme:
        write_command_output(Path(a.readme), "gap", "python -m kd gap", lines)
        print(f"wrote them into {a.readme}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from kd.study.tables import TABLE_TITLES

    parser = argparse.ArgumentParser(prog="python -m kd", description="Multimodal knowledge distillation on emoji.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="print the dataset card")
    _data_args(p)
    p.set_defaults(run=cmd_data)

    p = sub.add_parser("train-teacher", help="train the teacher's fusion heads")
    _data_args(p)
    _train_args(p, TEACHER_TRAIN)
    p.add_argument("--model", default="teacher", choices=[n for n, s in MODELS.items() if s.kind == "teacher"])
    p.add_argument("--heads", type=int, default=None,
                   help=f"fusion heads, each trained on its own seed, answering with their mean (default: the model's; "
                        f"{TeacherConfig.heads} for teacher)")
    p.add_argument("--out", default=str(Layout().teacher))
    p.set_defaults(run=cmd_train_teacher)

    p = sub.add_parser("distill", help="train a student from the teacher (--alpha 0: labels only)")
    _train_args(p, DISTILL_TRAIN)
    p.add_argument("--teacher", default=str(Layout().teacher))
    p.add_argument("--student", default="student", choices=[n for n, s in MODELS.items() if s.kind == "student"])
    p.add_argument("--temperature", type=float, default=DISTILL.temperature)
    p.add_argument("--alpha", type=float, default=DISTILL.alpha, help="weight of the KD term; 0 trains on labels alone")
    p.add_argument("--hint-weight", type=float, default=DISTILL.hint_weight, help="weight of the hint loss on the fused embeddings")
    p.add_argument("--picture-hint", type=float, default=DISTILL.picture_hint,
                   help="weight of the hint matching the student's picture features to the teacher's image features")
    p.add_argument("--transfer", action=argparse.BooleanOptionalAction, default=DISTILL.transfer,
                   help="also distil on unlabelled vocabulary words and picture+word pairs (kd/training/transfer.py)")
    p.add_argument("--words", type=int, default=DISTILL.words,
                   help="with --transfer: this many common English words (wordfreq) join the transfer set")
    p.add_argument("--phrases", type=int, default=DISTILL.phrases,
                   help="with --transfer: this many short phrases of frequent words join the transfer set")
    p.add_argument("--captions", action=argparse.BooleanOptionalAction, default=DISTILL.captions,
                   help="show transfer pictures with their own caption too (an emoji's name, a clip-art file's words)")
    p.add_argument("--pictures", action=argparse.BooleanOptionalAction, default=DISTILL.pictures,
                   help="distil on clip art that is not emoji too (kd/data/clipart.py; needs Debian's openclipart-png)")
    p.add_argument("--stamps", action=argparse.BooleanOptionalAction, default=DISTILL.stamps,
                   help="with --pictures: two in three of Tux Paint's stamps too, the rest being the stamps check (kd/data/stamps.py; "
                        "needs Debian's tuxpaint-stamps-default)")
    p.add_argument("--pictures-per-folder", type=int, default=DISTILL.pictures_per_folder,
                   help="with --pictures: at most this many clip-art pictures from each folder (0: every picture)")
    p.add_argument("--transfer-batch", type=int, default=DISTILL.transfer_batch, help="transfer examples per step")
    p.add_argument("--transfer-mix", type=float, nargs=4, default=DISTILL.transfer_mix, metavar=("WORD", "PAIR", "PICTURE", "CAPTIONED"),
                   help="share of each kind of transfer example: a word alone, a picture with a word, a picture alone, "
                        "a picture with its caption")
    p.add_argument("--views", type=int, default=DISTILL.views,
                   help="augmented views per transfer picture, the teacher shown each view (kd/training/augment.py)")
    p.add_argument("--student-init", choices=INITS, default=DISTILL.student_init,
                   help="the student's token vectors: random, or from the teacher's text encoder: its input "
                        "embeddings ('teacher') or its outputs per token ('distilled', Model2Vec's method)")
    p.add_argument("--keep", choices=KEEP, default=DISTILL.keep,
                   help="which epoch's weights the student keeps: the best on validation accuracy or on agreement "
                        "with the teacher, or the last")
    p.add_argument("--image-encoder", choices=IMAGE_ENCODERS, default=StudentConfig.image_encoder,
                   help="the student's picture branch: the teacher's first pretrained blocks, frozen, under trained "
                        "stages ('trunk'), or the first releases' CNN from scratch on 32 px pictures ('cnn')")
    p.add_argument("--out", default=str(Layout().student))
    p.set_defaults(run=cmd_distill)

    p = sub.add_parser("evaluate", help="evaluate every checkpoint in a folder")
    p.add_argument("--checkpoints", default=str(Layout().root))
    p.add_argument("--json", help="write the metrics to this JSON file")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--no-speed", action="store_true", help="skip latency and throughput")
    p.add_argument("--keep-speed", metavar="METRICS_JSON",
                   help="do not time the models: keep the latency and throughput of this earlier evaluation of the same "
                        "checkpoints (on a machine too busy to time them fairly)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--latency-threads", type=int, default=SERVING_THREADS,
                   help=f"torch threads the latency is timed on (default {SERVING_THREADS}: as the app serves a request)")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("reproduce", help="train and evaluate everything into a folder")
    p.add_argument("--out", default=str(Layout().root))
    p.set_defaults(run=cmd_reproduce)

    p = sub.add_parser("record", help="rewrite the teacher's recorded answers (the live tab's) from the teacher in a folder")
    p.add_argument("--checkpoints", default=str(Layout().root))
    p.set_defaults(run=cmd_record)

    p = sub.add_parser("experiments", help="the distillation study (resumable; about 2 hours on 2 cores)")
    p.add_argument("--out", default="experiments", help="where runs.jsonl, tables.md and tables.json go")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2, help="worker processes, one torch thread each")
    p.add_argument("--epochs", type=int, default=None, help="every student's epochs, for a quick look (default: each row's own, 30 unless the row says)")
    p.add_argument("--tables", nargs="+", choices=list(TABLE_TITLES), help="run only these tables' rows (default: all)")
    p.add_argument("--tables-only", action="store_true", help="run nothing: write the tables of the runs finished so far")
    p.set_defaults(run=cmd_experiments)

    p = sub.add_parser("report", help="write the README's results and study tables")
    p.add_argument("--checkpoints", default=str(Layout().root))
    p.add_argument("--experiments", default="experiments", help="the study's folder (tables.json)")
    p.add_argument("--readme", default="README.md")
    p.set_defaults(run=cmd_report)

    p = sub.add_parser("examples", help="write the demo's examples (held-out test emoji) to a folder")
    p.add_argument("--out", default="examples")
    p.add_argument("--checkpoints", default=str(Layout().root))
    p.set_defaults(run=cmd_examples)

    p = sub.add_parser("export", help="export the student as ONNX (python -m kd evaluate then measures it too)")
    p.add_argument("--checkpoints", default=str(Layout().root))
    p.add_argument("--out", default=None, help="folder for student.onnx (default: <checkpoints>/onnx)")
    p.add_argument("--quantize", choices=("int8",), default=None, help="also write an int8 model (onnxruntime dynamic quantization)")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("gap", help="the student's agreement with its teacher on pictures it trained on and on unseen ones")
    p.add_argument("--checkpoints", default=str(Layout().root))
    p.add_argument("--readme", help="write the figures between this README's gap markers")
    p.set_defaults(run=cmd_gap)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
