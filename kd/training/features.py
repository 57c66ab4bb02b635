"""The frozen backbones' outputs, computed once and cached on disk: the teacher's features
of a whole dataset, and a student's frozen-trunk maps of its pictures.

The backbones are frozen, so their outputs on a given picture and text never change:
training the teacher's head and every distillation epoch reuse them. The cache key holds
everything the features depend on: the dataset's pictures and texts, each backbone's name and
weights hash, and the preprocessing (input size, token limit). Change any of them and
the features are recomputed. Backbones with random weights (tests) are never cached, nor
are the features of a teacher without pretrained backbones (the classic MLP), which are
just its preprocessed pixels.
"""

from __future__ import annotations

import hashlib

import torch
from tqdm.auto import tqdm

from kd import cache
from kd.data.dataset import MultimodalDataset
from kd.models.classifiers import Features, MultimodalClassifier

# Bump when the way features are computed changes.
FEATURES_VERSION = 1


def features_key(teacher: MultimodalClassifier, dataset: MultimodalDataset) -> str | None:
    """The cache key of a teacher's features on a dataset; None when there is nothing worth
    caching (no pretrained backbone) or nothing safe to key on (random backbones)."""
    weights = [w.to_dict() for w in getattr(teacher, "backbone_weights", [])]
    if not weights or any(w["sha256"] is None for w in weights):
        return None
    c = teacher.config
    return cache.cache_key("teacher-features", FEATURES_VERSION, dataset.inputs_fingerprint(), weights, c.image_size, c.max_tokens)


@torch.no_grad()
def teacher_features(teacher: MultimodalClassifier, dataset: MultimodalDataset, batch_size: int = 8, progress: bool = True) -> Features:
    """`teacher.forward_features` of every example, (N, Di) and (N, Dt), from the cache when possible."""
    key = features_key(teacher, dataset)
    path = cache.cached_tensors("features", key) if key else None
    if path is not None and (hit := cache.load_tensors(path)) is not None:
        tensors, _ = hit
        return Features(tensors["image"], tensors["text"], tensors["has_image"], tensors["has_text"])

    teacher.eval()
    chunks = []
    # Small batches: on a 2-core CPU the image backbone runs fastest per picture at 4 to 8.
    for start in tqdm(range(0, len(dataset), batch_size), desc="teacher features", disable=not progress, mininterval=1.0):
        stop = start + batch_size
        chunks.append(teacher.forward_features(teacher.preprocess(dataset.images[start:stop], dataset.texts[start:stop])))
    features = Features(*(torch.cat([getattr(c, f) for c in chunks]) for f in ("image", "text", "has_image", "has_text")))
    features.text *= features.has_text[:, None]  # an empty text is no text
    if path is not None:
        tensors = {"image": features.image, "text": features.text, "has_image": features.has_image, "has_text": features.has_text}
        cache.save_tensors(path, tensors, {"inputs": dataset.inputs_fingerprint(), "backbones": [w.to_dict() for w in teacher.backbone_weights]})
    return features


def picture_inputs(student: MultimodalClassifier, pictures: torch.Tensor) -> dict[str, torch.Tensor]:
    """What a student's picture branch reads in training, for canonical pictures (N, 3, S, S):
    a frozen trunk's maps ("trunk_maps", from the disk cache), else its pixels ("pixels"),
    else nothing (a student without pictures)."""
    if getattr(student, "trunk", None) is not None:
        return {"trunk_maps": trunk_maps(student, pictures)}
    return {k: v for k, v in student.training_inputs(pictures, None).items() if k == "pixels"}


@torch.no_grad()
def trunk_maps(student: MultimodalClassifier, pictures: torch.Tensor) -> torch.Tensor:
    """A student's frozen-trunk maps of canonical pictures (N, 3, S, S) uint8, as
    `Student.training_inputs` computes them, cached under a hash of the pictures, the weights
    of the trunk's frozen blocks (all of them unless `trunk_tuned`) and the student's picture
    side: every run with that trunk reads the same maps (the dataset's, the transfer set's),
    ~2 ms a picture to compute."""
    frozen = student.image_encoder.frozen_layers
    weights = hashlib.sha256(b"".join(t.numpy().tobytes() for t in frozen.state_dict().values())).hexdigest()
    digest = hashlib.sha256(pictures.numpy().tobytes()).hexdigest()
    path = cache.cached_tensors("trunk-maps", cache.cache_key("trunk-maps", digest, weights, student.config.image_size))
    if (hit := cache.load_tensors(path)) is not None and len(hit[0]["trunk_maps"]) == len(pictures):
        return hit[0]["trunk_maps"]
    maps = student.training_inputs(pictures, None)["trunk_maps"]
    cache.save_tensors(path, {"trunk_maps": maps}, {"pictures": len(pictures)})
    return maps
