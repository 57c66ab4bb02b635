"""A disk cache of tensors, keyed by everything that went into them.

Used for the built datasets and for the teacher's backbone features. An entry is one
safetensors file (tensors plus a JSON metadata string) written atomically, so a run killed
mid-write never leaves a half file that a later run would read as valid. A file that
fails to load is treated as missing and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


def cache_dir() -> Path:
    """`$KD_CACHE_DIR`, else `~/.cache/kd`."""
    return Path(os.environ.get("KD_CACHE_DIR") or Path.home() / ".cache" / "kd")


def cache_key(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts: change any part, get a new key."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"meta": json.dumps(meta)})


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The tensors and metadata at `path`, or None if absent or unreadable."""
    if not Path(path).is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["meta"])
        return load_file(str(path)), meta
    except (SafetensorError, OSError, KeyError, ValueError):
        return None


def cached_tensors(kind: str, key: str) -> Path:
    return cache_dir() / kind / f"{key}.safetensors"
