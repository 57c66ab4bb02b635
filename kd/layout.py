"""The checkpoints folder: where each shipped model and each file lives, named once here.

    checkpoints/
        teacher/                      the multimodal teacher (kd.models.checkpoint format)
        student/                      the student it distilled
        student_scratch/              the same student trained on labels only
        student_image/                the picture-only student
        student_text/                 the text-only student
        metrics.json                  `python -m kd evaluate --json` of all of them
        reproduce.json                how long `python -m kd reproduce` took, per stage (its last run)
        reproduce_cold.json           the same, for its last run that started from an empty cache
        teacher_outputs.safetensors   the teacher's recorded answers (kd.study.record), for the live tab
        familiar_pictures.safetensors the teacher's features of sample training pictures (kd.study.familiar),
                                      to say when an uploaded picture is unlike them
        onnx/student.onnx             the student exported by `python -m kd export` (kd.models.export),
        onnx/student.int8.onnx        and quantized to int8, each with its contract (.json)

Everything else (the app, the CLI, the pipeline, the tests) asks a `Layout` for a path
instead of spelling a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("checkpoints")

TEACHER = "teacher"
STUDENT = "student"
SCRATCH = "student_scratch"  # the same student, labels only: the baseline the KD gain is measured against
IMAGE_STUDENT = "student_image"
TEXT_STUDENT = "student_text"
# Every model `python -m kd reproduce` ships, in the order it trains them.
SHIPPED = (TEACHER, STUDENT, SCRATCH, IMAGE_STUDENT, TEXT_STUDENT)
# Students that answer beside the multimodal one in the demo, when their checkpoints are there.
OTHER_STUDENTS = (IMAGE_STUDENT, TEXT_STUDENT)

# `python -m kd evaluate` rows for the exported student (kd.models.export), and what each is made from.
EXPORTED = {"student_onnx": (STUDENT, "exported to ONNX"), "student_onnx_int8": (STUDENT, "exported to ONNX, int8")}

# What the page calls each model: plain words, the same in every tab (the folder names
# above are the technical names, in the README and the API).
DISPLAY_NAMES = {
    TEACHER: "teacher",
    STUDENT: "student (taught by the teacher)",
    SCRATCH: "same student, labels only",
    IMAGE_STUDENT: "picture-only student",
    TEXT_STUDENT: "text-only student",
    "student_onnx": "student, exported (ONNX)",
    "student_onnx_int8": "student, exported (ONNX int8)",
}


def display_name(name: str) -> str:
    return DISPLAY_NAMES.get(name, name)


METRICS_FILE = "metrics.json"
REPRODUCE_FILE = "reproduce.json"
REPRODUCE_COLD_FILE = "reproduce_cold.json"
TEACHER_OUTPUTS_FILE = "teacher_outputs.safetensors"
FAMILIAR_FILE = "familiar_pictures.safetensors"
ONNX_FOLDER = "onnx"


def _under_root(name: str) -> property:
    """A read-only `Layout` attribute: the path `name` inside its root."""
    return property(lambda layout: layout.root / name, doc=f"root / {name!r}")


@dataclass(frozen=True)
class Layout:
    """The paths inside one checkpoints folder."""

    root: Path = DEFAULT_ROOT

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def model(self, name: str) -> Path:
        return self.root / name

    def config_of(self, name: str) -> Path:
        """The checkpoint folder that describes `name` (an exported row: the model it was exported from)."""
        return self.model(EXPORTED.get(name, (name,))[0])

    # The fixed paths inside the folder.
    teacher = _under_root(TEACHER)
    student = _under_root(STUDENT)
    metrics = _under_root(METRICS_FILE)
    reproduce = _under_root(REPRODUCE_FILE)
    reproduce_cold = _under_root(REPRODUCE_COLD_FILE)
    teacher_outputs = _under_root(TEACHER_OUTPUTS_FILE)
    onnx = _under_root(ONNX_FOLDER)
    familiar = _under_root(FAMILIAR_FILE)
