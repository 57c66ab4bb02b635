"""Consistent augmentation: the teacher and the student see the same augmented picture.

Beyer et al. (2022), "Knowledge distillation: A good teacher is patient and consistent"
(arXiv:2106.05237), find that distillation works best as *function matching*: the
student matches the teacher on aggressively augmented inputs (random crops mixed with
mixup), with the teacher's output computed on exactly the view the student sees, never on
the clean picture. Here each training picture gets `views` such views, made once with a
fixed seed; the teacher's backbone features of every view are computed once and cached,
so a distillation epoch costs no more than before.
"""

from __future__ import annotations

import hashlib

import torch
import torchvision.transforms.v2 as T
from tqdm.auto import tqdm

from kd import cache
from kd.models import Teacher

# Bump when the augmentation changes.
AUGMENT_VERSION = 1


def augmentation(size: int) -> T.Compose:
    """Inception-style crops, mirror images and colour changes: an emoji stays itself under each."""
    return T.Compose(
        [
            T.RandomResizedCrop(size, scale=(0.5, 1.0), ratio=(0.8, 1.25), antialias=True),
            T.RandomHorizontalFlip(),
            T.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05),
        ]
    )


def mixed_views(images: torch.Tensor, views: int, seed: int) -> torch.Tensor:
    """(views, N, 3, S, S) uint8: each picture augmented, then blended with another augmented
    training picture by a weight drawn uniformly from [0, 1] (mixup), as function matching does."""
    n, _, size, _ = images.shape
    augment = augmentation(size)
    out = torch.empty(views, n, *images.shape[1:], dtype=torch.uint8)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for v in range(views):
            augmented = torch.stack([augment(img) for img in images])
            partner = torch.randint(0, n, (n,))
            weight = torch.rand(n, 1, 1, 1)
            out[v] = (weight * augmented.float() + (1 - weight) * augmented[partner].float()).round().to(torch.uint8)
    return out


@torch.no_grad()
def view_features(teacher: Teacher, views: torch.Tensor, batch_size: int = 8, progress: bool = True) -> torch.Tensor:
    """The teacher's image features of every view, (views, N, Di), cached under a hash of the
    views themselves and the image backbone's weights and input size."""
    weights = teacher.image_backbone.weights.to_dict()
    digest = hashlib.sha256(views.numpy().tobytes()).hexdigest()
    key = cache.cache_key("view-features", AUGMENT_VERSION, digest, weights, teacher.config.image_size) if weights["sha256"] else None
    path = cache.cached_tensors("features", key) if key else None
    if path is not None and (hit := cache.load_tensors(path)) is not None:
        return hit[0]["image"]
    flat = views.flatten(0, 1)
    backbone = teacher.image_backbone.eval()
    chunks = [
        backbone(backbone.preprocess(flat[i : i + batch_size]))
        for i in tqdm(range(0, len(flat), batch_size), desc="teacher features of augmented views", disable=not progress, mininterval=1.0)
    ]
    features = torch.cat(chunks).view(views.shape[0], views.shape[1], -1)
    if path is not None:
        cache.save_tensors(path, {"image": features}, {"views": list(views.shape[:2])})
    return features
