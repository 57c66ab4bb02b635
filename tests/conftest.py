"""Shared fixtures. Tests run offline: nothing may reach a hub."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from kd.config import DataConfig  # noqa: E402
from kd.data.dataset import load_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"


@pytest.fixture(scope="session")
def emoji_dataset():
    """The real emoji dataset (built once, then read from the cache)."""
    return load_dataset(DataConfig(), progress=False)


@pytest.fixture(scope="session")
def teacher():
    """The pretrained teacher with an untrained head (backbones from their packages)."""
    from kd.models.classifiers import create_model

    torch.manual_seed(0)
    return create_model("teacher").eval()


@pytest.fixture(scope="session")
def small_dataset(emoji_dataset):
    """About 160 emoji pictures from every split and style: small enough to train on in seconds."""
    keep = [i for i in range(len(emoji_dataset)) if i % 36 == 0]
    return emoji_dataset.subset(keep)
