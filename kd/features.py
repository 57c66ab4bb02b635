"""The teacher's backbone features for a whole dataset, computed once and cached on disk.

The backbones are frozen, so their outputs on a given picture and text never change:
training the teacher's head and every distillation epoch reuse them. The cache key holds
everything the features depend on: the dataset's fingerprint, each backbone's name and
weights hash, and the preprocessing (input size, token limit). Change any of them and
the features are recomputed. Backbones with random weights (tests) are never cached.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from kd import cache
from kd.data import MultimodalDataset
from kd.models import Features, Teacher

# Bump when the way features are computed changes.
FEATURES_VERSION = 1


def features_key(teacher: Teacher, dataset: MultimodalDataset) -> str | None:
    weights = [w.to_dict() for w in teacher.backbone_weights]
    if any(w["sha256"] is None for w in weights):
        return None
    c = teacher.config
    return cache.cache_key("teacher-features", FEATURES_VERSION, dataset.fingerprint(), weights, c.image_size, c.max_tokens)


@torch.no_grad()
def teacher_features(teacher: Teacher, dataset: MultimodalDataset, batch_size: int = 8, progress: bool = True) -> Features:
    """Backbone features of every example, (N, Di) and (N, Dt), from the cache when possible."""
    key = features_key(teacher, dataset)
    path = cache.cached_tensors("features", key) if key else None
    if path is not None and (hit := cache.load_tensors(path)) is not None:
        tensors, _ = hit
        return Features(tensors["image"], tensors["text"], tensors["has_image"], tensors["has_text"])

    teacher.eval()
    images = []
    for start in tqdm(range(0, len(dataset), batch_size), desc="teacher image features", disable=not progress, mininterval=1.0):
        pixels = teacher.image_backbone.preprocess(dataset.images[start : start + batch_size])
        images.append(teacher.image_backbone(pixels))
    # Texts repeat (one emoji name, three art styles): encode each distinct text once.
    distinct = sorted(set(dataset.texts))
    encoded = []
    for start in tqdm(range(0, len(distinct), 64), desc="teacher text features", disable=not progress, mininterval=1.0):
        tokens = teacher.text_backbone.tokenize(distinct[start : start + 64])
        encoded.append(teacher.text_backbone(**tokens))
    row = {text: i for i, text in enumerate(distinct)}
    text = torch.cat(encoded)[[row[t] for t in dataset.texts]]
    has_text = dataset.has_text
    features = Features(
        image=torch.cat(images),
        text=text * has_text[:, None],
        has_image=torch.ones(len(dataset), dtype=torch.bool),
        has_text=has_text,
    )
    if path is not None:
        tensors = {"image": features.image, "text": features.text, "has_image": features.has_image, "has_text": features.has_text}
        cache.save_tensors(path, tensors, {"dataset": dataset.fingerprint(), "backbones": [w.to_dict() for w in teacher.backbone_weights]})
    return features
