"""Teacher and student: multimodal classifiers built by name from a registry.

Both follow one interface, so training, distillation, evaluation and the demo treat them
alike:

    inputs   = model.preprocess(images, texts)   # canonical uint8 pictures, strings -> tensors
    features = model.forward_features(inputs)    # one embedding per modality + presence masks
    logits, fused = model.forward_head(features) # late fusion -> (B, K) logits, (B, H) embedding
    logits   = model(inputs)                     # all of the above

Either modality may be absent (`images=None`, `texts=None`, or an empty string for one
example): the head then uses a learned "missing" vector in its place, so image-only and
text-only questions have defined answers. Training drops modalities at random to teach it.

Registered models (`create_model(name, ...)`):
- `teacher`: frozen pretrained EfficientNet-Lite0 + all-MiniLM-L6-v2, trained MLP fusion head;
- `teacher_resnet18_bert`: the seed project's design, frozen ResNet-18 + bert-base-uncased
  concatenated into a linear head;
- `student`: the teacher's first image blocks (frozen) under a small trained CNN + a bag of
  WordPiece embeddings + a small fusion head;
- `student_image`, `student_text`: the student with one branch only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from kd.data.text import wordpiece_tokenizer
from kd.models import backbones
from kd.models.trunk import PretrainedTrunk


@dataclass
class Features:
    """Per-modality embeddings of a batch; a missing modality is zeros with its mask False."""

    image: torch.Tensor  # (B, Di)
    text: torch.Tensor  # (B, Dt)
    has_image: torch.Tensor  # (B,) bool
    has_text: torch.Tensor  # (B,) bool

    def masked(self, has_image: torch.Tensor, has_text: torch.Tensor) -> Features:
        """The same features with extra modalities switched off (for modality dropout)."""
        return Features(self.image, self.text, self.has_image & has_image, self.has_text & has_text)


def _batch_size(images: torch.Tensor | None, texts: list[str] | None) -> int:
    if images is None and texts is None:
        raise ValueError("a batch needs images, texts or both")
    if images is not None and texts is not None and len(images) != len(texts):
        raise ValueError(f"{len(images)} images but {len(texts)} texts")
    return len(images) if images is not None else len(texts)


def _text_mask(texts: list[str] | None, batch: int) -> torch.Tensor:
    if texts is None:
        return torch.zeros(batch, dtype=torch.bool)
    return torch.tensor([bool(t and t.strip()) for t in texts], dtype=torch.bool)


class FusionHead(nn.Module):
    """Late fusion: project each modality to `hidden`, concatenate, mix, classify.

    A missing modality's projection is replaced by a learned vector, so the head answers
    from the other modality alone. Returns the logits and the fused embedding (the input
    of the classifier), which hint losses match between teacher and student.
    """

    def __init__(self, image_dim: int, text_dim: int, num_classes: int, hidden: int, dropout: float):
        super().__init__()
        self.image_proj = nn.Sequential(nn.LayerNorm(image_dim), nn.Linear(image_dim, hidden), nn.GELU())
        self.text_proj = nn.Sequential(nn.LayerNorm(text_dim), nn.Linear(text_dim, hidden), nn.GELU())
        self.missing_image = nn.Parameter(torch.zeros(hidden))
        self.missing_text = nn.Parameter(torch.zeros(hidden))
        self.mix = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, hidden), nn.GELU())
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, f: Features) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.where(f.has_image[:, None], self.image_proj(f.image), self.missing_image)  # (B, H)
        text = torch.where(f.has_text[:, None], self.text_proj(f.text), self.missing_text)  # (B, H)
        fused = self.mix(torch.cat([image, text], dim=1))  # (B, H)
        return self.classifier(fused), fused


class LinearFusionHead(nn.Module):
    """The seed project's head: the two embeddings concatenated into one linear layer.

    A missing modality is replaced by a learned vector of the embedding's size.
    """

    def __init__(self, image_dim: int, text_dim: int, num_classes: int):
        super().__init__()
        self.missing_image = nn.Parameter(torch.zeros(image_dim))
        self.missing_text = nn.Parameter(torch.zeros(text_dim))
        self.classifier = nn.Linear(image_dim + text_dim, num_classes)

    def forward(self, f: Features) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.where(f.has_image[:, None], f.image, self.missing_image)
        text = torch.where(f.has_text[:, None], f.text, self.missing_text)
        fused = torch.cat([image, text], dim=1)  # (B, Di + Dt)
        return self.classifier(fused), fused


class EnsembleHead(nn.Module):
    """Several heads over the same features, answering with the mean of their logits; the
    fused embedding is theirs side by side. Each head is trained on its own loss
    (`kd.training.train.LabelsOnly`), so each learns as it would alone."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, f: Features) -> tuple[torch.Tensor, torch.Tensor]:
        logits, fused = zip(*(member(f) for member in self.members))
        return torch.stack(logits).mean(dim=0), torch.cat(fused, dim=1)


class MultimodalClassifier(nn.Module):
    """What teacher and student share: preprocess -> forward_features -> forward_head."""

    config: object
    fused_dim: int  # width of the embedding forward_head returns next to the logits
    # A `Teacher`: frozen pretrained backbones under a trained head, so its backbone
    # features can be cached (kd.training.features) and its size counts the backbones' files.
    is_teacher: bool = False

    @property
    def modalities(self) -> tuple[str, ...]:
        """What the model reads: "image", "text" or both."""
        return ("image", "text")

    def forward_head(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(features)

    def forward(self, inputs: dict) -> torch.Tensor:
        return self.forward_head(self.forward_features(inputs))[0]

    @torch.no_grad()
    def predict_logits(self, images: torch.Tensor | None, texts: list[str] | None) -> torch.Tensor:
        self.eval()
        return self(self.preprocess(images, texts))

    def training_inputs(self, images: torch.Tensor | None, texts: list[str] | None) -> dict:
        """`preprocess` of the fixed inputs a training run shows again and again, computed
        once per run; a model may compute more of its forward pass here (`Student`)."""
        return self.preprocess(images, texts)

    def num_params(self) -> int:
        """Every parameter the forward pass uses, frozen backbones included."""
        return sum(p.numel() for p in self.parameters())

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint must store: everything but the frozen pretrained backbones."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(self.frozen_prefixes)}

    frozen_prefixes: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- teacher


@dataclass
class TeacherConfig:
    num_classes: int = 9
    image_backbone: str = "efficientnet_lite0"
    text_backbone: str = "minilm_l6"
    # Side the canonical picture is resized to for the image backbone (its ImageNet size).
    image_size: int = 224
    # Longer texts are truncated; emoji names are 2 to 12 tokens.
    max_tokens: int = 32
    head: str = "mlp"  # "mlp" (FusionHead) or "linear" (LinearFusionHead, the seed's design)
    hidden: int = 256
    dropout: float = 0.3
    # Fusion heads over the same features, each trained from its own first weights and seed
    # (kd.study.pipeline.train_teacher); the teacher answers with the mean of their logits: an
    # ensemble, the case Hinton et al. (2015) distil. Out of domain, one head's answer is much
    # the chance of its seed, the mean of five far less: two teachers of five heads agree on
    # far more of the held-out clip art than two of one, and the student follows the teacher
    # of five more closely (the distillation study's reference rows and the eighth release's). The heads
    # are a few percent of the teacher's time; the backbones, run once, are the rest.
    heads: int = 5


class Teacher(MultimodalClassifier):
    """Frozen pretrained image and text encoders and a trained fusion head."""

    frozen_prefixes = ("image_backbone.", "text_backbone.")
    is_teacher = True

    def __init__(self, config: TeacherConfig, pretrained: bool = True):
        super().__init__()
        self.config = config
        self.image_backbone = backbones.create_image_backbone(
            config.image_backbone, pretrained=pretrained, input_size=config.image_size
        )
        self.text_backbone = backbones.create_text_backbone(
            config.text_backbone, pretrained=pretrained, max_tokens=config.max_tokens
        )
        di, dt = self.image_backbone.out_dim, self.text_backbone.out_dim
        if config.head == "mlp":
            build, width = (lambda: FusionHead(di, dt, config.num_classes, config.hidden, config.dropout)), config.hidden
        elif config.head == "linear":
            build, width = (lambda: LinearFusionHead(di, dt, config.num_classes)), di + dt
        else:
            raise ValueError(f"unknown teacher head {config.head!r}; use 'mlp' or 'linear'")
        if config.heads < 1:
            raise ValueError(f"a teacher needs at least one head, not {config.heads}")
        # One head stays a bare head, so the checkpoints of one-head teachers keep their names.
        self.head = build() if config.heads == 1 else EnsembleHead([build() for _ in range(config.heads)])
        self.fused_dim = width * config.heads

    @property
    def backbone_weights(self) -> list[backbones.WeightsRecord]:
        return [self.image_backbone.weights, self.text_backbone.weights]

    def preprocess(self, images: torch.Tensor | None, texts: list[str] | None) -> dict:
        batch = _batch_size(images, texts)
        inputs = {"has_text": _text_mask(texts, batch)}
        if images is not None:
            inputs["pixels"] = self.image_backbone.preprocess(images)  # (B, 3, 224, 224)
        if texts is not None:
            inputs.update(self.text_backbone.tokenize(texts))  # input_ids, attention_mask: (B, L)
        return inputs

    def forward_features(self, inputs: dict) -> Features:
        batch = len(inputs["has_text"])
        if "pixels" in inputs:
            image = self.image_backbone(inputs["pixels"])  # (B, 1280)
            has_image = torch.ones(batch, dtype=torch.bool)
        else:
            image = torch.zeros(batch, self.image_backbone.out_dim)
            has_image = torch.zeros(batch, dtype=torch.bool)
        if "input_ids" in inputs:
            text = self.text_backbone(inputs["input_ids"], inputs["attention_mask"])  # (B, 384)
        else:
            text = torch.zeros(batch, self.text_backbone.out_dim)
        return Features(image, text, has_image, inputs["has_text"])


# ----------------------------------------------------------------------------- student


@dataclass
class StudentConfig:
    num_classes: int = 9
    modalities: tuple[str, ...] = ("image", "text")
    # The picture branch: "trunk" starts from the first `trunk_blocks` blocks of the
    # teacher's pretrained EfficientNet-Lite0, frozen (kd.models.trunk), under trained conv
    # stages; "cnn" is a plain CNN trained from scratch (the first releases' student).
    # From the trunk the student follows its teacher on pictures unlike its training
    # emoji far better (README, distillation study); it costs about 2 ms more per picture.
    # Seven blocks: the closest follower of the depths the study tried that stays well
    # within the speed budget (benchmarks/trunk_speed.py); the first trunk students had five.
    image_encoder: str = "trunk"
    trunk_blocks: int = 7
    # How many of the trunk's last blocks train too, from their pretrained weights. Training
    # reads the frozen blocks' maps, computed once. Shipped 0, the whole trunk frozen: training
    # the last one or two blocks followed the teacher no more closely (the study, seed 0).
    trunk_tuned: int = 0
    # The canonical 72 px picture is resized to this side; the trunk's seven blocks divide it
    # by 16, leaving a 6 x 6 map for the trained stages. At 96 px, not the eighth release's 48,
    # the student follows its teacher on clip art and stamps it never saw far more closely (the
    # study, 3 seeds): at 48 px much of the detail the teacher answers from is gone (the teacher
    # itself, shown 48 px pictures, changes many of its picture-only answers on clip art: the
    # study's reference row), and the pretrained blocks see things nearer the scale they learnt
    # on (224 px photographs). It costs about a millisecond a picture: still more than 10 times
    # faster than the teacher (benchmarks/trunk_speed.py). Past 96 px it follows no more closely:
    # 112 and 128 px stayed within the seeds' spread (the study, seed 0). (The CNN read 32 px.)
    image_size: int = 96
    # Channels of the trained conv stages (after the trunk, if any); each stage after the
    # first halves the resolution. The CNN's were (24, 48, 96, 192), the tenth release's
    # (128, 192): wider and trained half as long again (DISTILL_TRAIN), the student follows its
    # teacher on clip art it never saw a little more closely with the text and about as closely
    # from the picture alone (the study, 3 seeds), within the parameter budget.
    channels: tuple[int, ...] = (160, 224)
    # The student reads text with the teacher's WordPiece vocabulary (30,522 tokens); at
    # 24 dimensions the table is most of the student's parameters.
    vocab_size: int = 30522
    text_dim: int = 24
    max_tokens: int = 32
    hidden: int = 64
    dropout: float = 0.1


# The picture branches a student may have (StudentConfig.image_encoder).
IMAGE_ENCODERS = ("trunk", "cnn")
# The first releases' picture branch, whole: a CNN from scratch on 32 px pictures.
CNN_STUDENT = {"image_encoder": "cnn", "image_size": 32, "channels": (24, 48, 96, 192)}


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """A plain CNN: (B, C, S, S) -> (B, channels[-1]) by global average pooling."""

    def __init__(self, channels: tuple[int, ...], in_channels: int = 3):
        super().__init__()
        stages, cin = [], in_channels
        for i, cout in enumerate(channels):
            stages.append(_conv_bn_relu(cin, cout, stride=1 if i == 0 else 2))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.out_dim = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x).mean(dim=(2, 3))


class TrunkCNN(nn.Module):
    """The teacher's first pretrained blocks, frozen but for the last `tuned`, then trained
    conv stages: (B, 3, S, S) -> (B, channels[-1])."""

    def __init__(self, blocks: int, channels: tuple[int, ...], pretrained: bool = True, tuned: int = 0):
        super().__init__()
        if not 0 <= tuned <= blocks:
            raise ValueError(f"trunk_tuned must be between 0 and trunk_blocks ({blocks}), got {tuned}")
        self.trunk = PretrainedTrunk(blocks, pretrained=pretrained)
        # The trunk's layers are the stem, its activation, then one per block.
        self.split = len(self.trunk.layers) - tuned
        for p in self.trunk.layers[self.split :].parameters():
            p.requires_grad_(True)
        self.stages = SmallCNN(channels, in_channels=self.trunk.out_channels)
        self.out_dim = self.stages.out_dim

    @property
    def frozen_layers(self) -> nn.Sequential:
        """The trunk's layers that never train (a view of `trunk.layers`, not a copy)."""
        return self.trunk.layers[: self.split]

    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        """The maps of the blocks that never train: what training reads, computed once."""
        return self.frozen_layers(x)

    def from_frozen(self, maps: torch.Tensor) -> torch.Tensor:
        """The rest of the branch, from `frozen`'s maps."""
        return self.stages(self.trunk.layers[self.split :](maps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            # Channels-last pictures spare oneDNN a change of layout at every convolution: at
            # batch 1, about a tenth of the student's time. (Training reads the trunk's maps
            # computed once, `Student.training_inputs`, and keeps the default layout.)
            x = x.contiguous(memory_format=torch.channels_last)
        return self.stages(self.trunk(x))


def build_image_encoder(config: StudentConfig, pretrained: bool) -> nn.Module:
    if config.image_encoder == "trunk":
        return TrunkCNN(config.trunk_blocks, config.channels, pretrained=pretrained, tuned=config.trunk_tuned)
    if config.image_encoder == "cnn":
        return SmallCNN(config.channels)
    raise ValueError(f"unknown image_encoder {config.image_encoder!r}; use one of {', '.join(IMAGE_ENCODERS)}")


class BagOfTokens(nn.Module):
    """Mean of WordPiece token embeddings: (B, L) ids, 0 = padding -> (B, dim)."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=0.02)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.out_dim = dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)


class Student(MultimodalClassifier):
    """A small image branch and a small text branch, fused like the teacher.

    Trained from scratch but for the picture branch's pretrained trunk, which stays frozen
    (but for its last `trunk_tuned` blocks, which train from their pretrained weights);
    `pretrained=True` reads the trunk's weights from the EfficientNet-Lite0 package (a
    saved student holds them, and loads with `pretrained=False`).
    """

    def __init__(self, config: StudentConfig, pretrained: bool = True):
        super().__init__()
        self.config = config
        unknown = set(config.modalities) - {"image", "text"}
        if unknown or not config.modalities:
            raise ValueError(f"student modalities must be 'image' and/or 'text', got {config.modalities}")
        self.image_encoder = build_image_encoder(config, pretrained) if "image" in config.modalities else None
        self.text_encoder = BagOfTokens(config.vocab_size, config.text_dim) if "text" in config.modalities else None
        self._tokenizer = None
        # A branch the student lacks still has a (never used) slot in the head, of size 1.
        self.image_dim = self.image_encoder.out_dim if self.image_encoder else 1
        self.text_dim = self.text_encoder.out_dim if self.text_encoder else 1
        self.head = FusionHead(self.image_dim, self.text_dim, config.num_classes, config.hidden, config.dropout)
        self.fused_dim = config.hidden

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.config.modalities)

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = wordpiece_tokenizer(self.config.max_tokens)
        return self._tokenizer

    def preprocess(self, images: torch.Tensor | None, texts: list[str] | None) -> dict:
        batch = _batch_size(images, texts)
        has_text = _text_mask(texts, batch) if self.text_encoder else torch.zeros(batch, dtype=torch.bool)
        inputs = {"has_text": has_text}
        if images is not None and self.image_encoder is not None:
            size = self.config.image_size
            x = images.float().div_(255.0)
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            inputs["pixels"] = (x - 0.5) / 0.5  # (B, 3, 32, 32)
        if texts is not None and self.text_encoder is not None:
            encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
            inputs["token_ids"] = torch.tensor([e.ids for e in encodings], dtype=torch.long).reshape(batch, -1)
        return inputs

    @property
    def trunk(self) -> PretrainedTrunk | None:
        return self.image_encoder.trunk if isinstance(self.image_encoder, TrunkCNN) else None

    def training_inputs(self, images: torch.Tensor | None, texts: list[str] | None) -> dict:
        """With a frozen trunk, its maps ("trunk_maps") in place of the pixels: the trunk
        never changes during training, and run at every step it would be most of the work."""
        if self.trunk is None or images is None:
            return self.preprocess(images, texts)
        inputs = self.preprocess(None, texts) if texts is not None else {"has_text": torch.zeros(len(images), dtype=torch.bool)}
        with torch.no_grad():
            frozen = self.image_encoder.frozen
            inputs["trunk_maps"] = torch.cat([frozen(self.preprocess(chunk, None)["pixels"]) for chunk in images.split(256)])
        return inputs

    def forward_features(self, inputs: dict) -> Features:
        batch = len(inputs["has_text"])
        image = torch.zeros(batch, self.image_dim)
        has_image = torch.zeros(batch, dtype=torch.bool)
        # Pixels, or the frozen trunk's maps of them (`training_inputs`).
        key = "trunk_maps" if "trunk_maps" in inputs else "pixels"
        if key in inputs:
            encode = self.image_encoder.from_frozen if key == "trunk_maps" else self.image_encoder
            # An optional "has_image" mask skips the CNN for examples that show no picture.
            has_image = inputs.get("has_image", torch.ones(batch, dtype=torch.bool))
            if has_image.all():
                image = encode(inputs[key])  # (B, C)
            elif has_image.any():
                image = image.index_put((has_image,), encode(inputs[key][has_image]))
        if "token_ids" in inputs and inputs["token_ids"].shape[1] > 0:
            text = self.text_encoder(inputs["token_ids"])  # (B, text_dim)
        else:
            text = torch.zeros(batch, self.text_dim)
        return Features(image, text, has_image, inputs["has_text"])


# ---------------------------------------------------------------------- classic MLPs


@dataclass
class MLPConfig:
    num_classes: int = 9
    # The seed project's classic example: 28 x 28 greyscale pictures, flattened.
    image_size: int = 28
    hidden: tuple[int, ...] = (256, 128, 64)
    modalities: tuple[str, ...] = ("image",)


class MLP(MultimodalClassifier):
    """The seed's classic pair, image only: a teacher MLP 784-256-128-64-K and a student
    MLP 784-128-64-K, both trained from scratch on 28 x 28 greyscale pictures.

    Its "features" are the flattened pixels, so the same trainer, Distiller and
    checkpoints run it: the teacher's head is the whole MLP.
    """

    def __init__(self, config: MLPConfig, pretrained: bool = False):
        super().__init__()
        self.config = config
        layers, width = [], config.image_size**2
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.layers = nn.Sequential(*layers, nn.Linear(width, config.num_classes))
        self.fused_dim = config.num_classes  # its "fused embedding" is its logits

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.config.modalities)

    def preprocess(self, images: torch.Tensor | None, texts: list[str] | None) -> dict:
        batch = _batch_size(images, texts)
        inputs = {"has_text": torch.zeros(batch, dtype=torch.bool)}
        if images is not None:
            size = self.config.image_size
            grey = images.float().div_(255.0).mean(dim=1, keepdim=True)  # (B, 1, S, S)
            grey = F.interpolate(grey, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            inputs["pixels"] = (grey.flatten(1) - 0.5) / 0.5  # (B, 784)
        return inputs

    def forward_features(self, inputs: dict) -> Features:
        batch = len(inputs["has_text"])
        if "pixels" not in inputs:
            raise ValueError("the classic MLP reads pictures only")
        return Features(inputs["pixels"], torch.zeros(batch, 1), torch.ones(batch, dtype=torch.bool), inputs["has_text"])

    def forward_head(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.layers(features.image)
        return logits, logits

    @property
    def head(self) -> nn.Module:
        return self.layers


# ---------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "teacher" or "student"
    build: Callable[..., MultimodalClassifier]
    config_class: type
    defaults: dict = field(default_factory=dict)
    description: str = ""


MODELS: dict[str, ModelSpec] = {
    "teacher": ModelSpec(
        "teacher", Teacher, TeacherConfig, {}, "frozen EfficientNet-Lite0 + all-MiniLM-L6-v2, MLP fusion head"
    ),
    "teacher_resnet18_bert": ModelSpec(
        "teacher",
        Teacher,
        TeacherConfig,
        {"image_backbone": "resnet18", "text_backbone": "bert_base_uncased", "head": "linear", "heads": 1},
        "the seed's design: frozen ResNet-18 + bert-base-uncased, concatenated into a linear head",
    ),
    "student": ModelSpec("student", Student, StudentConfig, {}, "pretrained trunk + small CNN, bag of WordPiece embeddings"),
    "student_image": ModelSpec("student", Student, StudentConfig, {"modalities": ("image",)}, "the student's image branch alone"),
    "student_text": ModelSpec("student", Student, StudentConfig, {"modalities": ("text",)}, "the student's text branch alone"),
    "mlp_teacher": ModelSpec("teacher", MLP, MLPConfig, {}, "the seed's classic MLP teacher, 784-256-128-64-K, 28 px greyscale"),
    "mlp_student": ModelSpec("student", MLP, MLPConfig, {"hidden": (128, 64)}, "the seed's classic MLP student, 784-128-64-K"),
}


def create_model(name: str, pretrained: bool = True, **overrides) -> MultimodalClassifier:
    """Build a registered model; `overrides` change its config (e.g. num_classes=99).

    `pretrained=False` gives a teacher with random backbones: for tests only.
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    spec = MODELS[name]
    config = spec.config_class(**{**spec.defaults, **overrides})
    return spec.build(config, pretrained=pretrained)


def model_config(model: MultimodalClassifier) -> dict:
    return asdict(model.config)
