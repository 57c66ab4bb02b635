"""Consistent augmentation: the teacher and the student see the same augmented picture.

Beyer et al. (2022), "Knowledge distillation: A good teacher is patient and consistent"
(arXiv:2106.05237), find that distillation works best as *function matching*: the
student matches the teacher on aggressively augmented inputs (random crops mixed with
mixup), with the teacher's output computed on exactly the view the student sees, never on
the clean picture. A student matches its teacher only where it has seen the teacher's
function, so the views here also move the pictures toward what a visitor uploads: a
photograph's busy background, its framing, its colours and its blur.

Each picture gets a fixed number of views, made once with a fixed seed; the teacher's
backbone features of every view are computed once and cached (`picture_features`), so a
distillation epoch costs no more than before.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from kd import cache
from kd.models.classifiers import Teacher

if TYPE_CHECKING:
    import torchvision.transforms.v2 as T


def _transforms():
    """torchvision's transforms, imported when a view is made: importing them takes seconds,
    and the app (which imports this module through the pipeline) never makes a view."""
    import torchvision.transforms.v2 as T

    return T

# Bump when the augmentation changes.
AUGMENT_VERSION = 2
# Pixels this close to white, and connected to the border, are a canonical picture's background.
WHITE_TOLERANCE = 8
# Chance of each kind of background behind a view's subject: kept white, one colour, a
# gradient, noise, or a crop of another picture (the busiest, closest to a photograph).
BACKGROUNDS = {"white": 0.2, "colour": 0.2, "gradient": 0.2, "noise": 0.1, "picture": 0.3}
# Chance that a view is blended with another view (mixup), and of a blur.
MIXUP_P = 0.3
BLUR_P = 0.3


def augmentation(size: int) -> T.Compose:
    """Crops, mirror images and colour changes: an emoji, or a drawing, stays itself under each."""
    T = _transforms()
    return T.Compose(
        [
            T.RandomResizedCrop(size, scale=(0.35, 1.0), ratio=(0.75, 1.33), antialias=True),
            T.RandomHorizontalFlip(),
            T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.5, hue=0.08),
        ]
    )


def background_mask(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, S, S) bool: the white pixels connected to the border (a flood fill), so the
    white inside a drawing (an eye, a cloud) stays part of the subject."""
    white = (images.int() >= 255 - WHITE_TOLERANCE).all(dim=1, keepdim=True).float()  # (N, 1, S, S)
    border = torch.zeros_like(white)
    border[..., 0, :] = border[..., -1, :] = border[..., :, 0] = border[..., :, -1] = 1
    filled = white * border
    for _ in range(images.shape[-1]):
        grown = F.max_pool2d(filled, 3, stride=1, padding=1) * white
        if torch.equal(grown, filled):
            break
        filled = grown
    return filled.bool()


def backgrounds(n: int, size: int, pool: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, size, size) float in [0, 255]: a background of a kind drawn from `BACKGROUNDS`."""
    kinds = torch.multinomial(torch.tensor(list(BACKGROUNDS.values())), n, replacement=True, generator=generator)
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    out = torch.full((n, 3, size, size), 255.0)
    colour = rand(n, 3, 1, 1) * 255
    out = torch.where((kinds == 1).view(n, 1, 1, 1), colour.expand_as(out), out)
    ramp = torch.linspace(0, 1, size)
    angle = rand(n, 1, 1, 1) * 2 * torch.pi
    t = (torch.cos(angle) * ramp.view(1, 1, 1, size) + torch.sin(angle) * ramp.view(1, 1, size, 1)).clamp(0, 1)
    gradient = colour * (1 - t) + rand(n, 3, 1, 1) * 255 * t
    out = torch.where((kinds == 2).view(n, 1, 1, 1), gradient, out)
    coarse = F.interpolate(rand(n, 3, size // 8, size // 8) * 255, size=(size, size), mode="bilinear", align_corners=False)
    noise = (coarse + (rand(n, 3, size, size) - 0.5) * 80).clamp(0, 255)
    out = torch.where((kinds == 3).view(n, 1, 1, 1), noise, out)
    picture = kinds == 4
    if picture.any() and len(pool):
        crop = _transforms().RandomResizedCrop(size, scale=(0.1, 0.6), antialias=True)
        idx = torch.randint(0, len(pool), (int(picture.sum()),), generator=generator)
        out[picture] = torch.stack([crop(pool[i]) for i in idx.tolist()]).float()
    return out


def photo_views(images: torch.Tensor, views: int, seed: int, pool: torch.Tensor | None = None) -> torch.Tensor:
    """(views, N, 3, S, S) uint8 views of canonical pictures (N, 3, S, S): the subject put
    on a background (colour, gradient, noise or a crop of a picture from `pool`, default
    the pictures themselves), then cropped, mirrored, recoloured, sometimes blurred, and
    sometimes blended with another view by a weight drawn from [0, 1] (mixup)."""
    n, _, size, _ = images.shape
    pool = images if pool is None else pool
    augment = augmentation(size)
    mask = background_mask(images)  # (N, 1, S, S)
    out = torch.empty(views, *images.shape, dtype=torch.uint8)
    with torch.random.fork_rng():  # torchvision draws from the global generator
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        for v in range(views):
            behind = backgrounds(n, size, pool, g)
            composed = torch.where(mask, behind, images.float()).round().to(torch.uint8)
            augmented = torch.stack([augment(img) for img in composed]).float()
            blur = torch.rand(n, generator=g) < BLUR_P
            if blur.any():
                sigma = float(torch.empty(1).uniform_(0.4, 1.5, generator=g))
                augmented[blur] = _transforms().functional.gaussian_blur(augmented[blur], kernel_size=5, sigma=sigma)
            partner = torch.randint(0, n, (n,), generator=g)
            weight = torch.where(torch.rand(n, generator=g) < MIXUP_P, torch.rand(n, generator=g), torch.ones(n)).view(n, 1, 1, 1)
            out[v] = (weight * augmented + (1 - weight) * augmented[partner]).round().clamp(0, 255).to(torch.uint8)
    return out


def cached_views(images: torch.Tensor, views: int, seed: int, pool: torch.Tensor | None = None) -> torch.Tensor:
    """`photo_views`, read from the disk cache when the same pictures, pool and seed made
    them before (making them costs ~15 ms a view and picture)."""
    digest = hashlib.sha256(images.numpy().tobytes() + (pool.numpy().tobytes() if pool is not None else b"")).hexdigest()
    path = cache.cached_tensors("views", cache.cache_key("views", AUGMENT_VERSION, digest, views, seed))
    if (hit := cache.load_tensors(path)) is not None:
        return hit[0]["views"]
    made = photo_views(images, views, seed, pool)
    cache.save_tensors(path, {"views": made}, {"pictures": len(images), "views": views, "seed": seed})
    return made


@torch.no_grad()
def picture_features(
    teacher: Teacher, pictures: torch.Tensor, batch_size: int = 8, progress: bool = True, desc: str = "", side: int | None = None
) -> torch.Tensor:
    """The teacher's image features of canonical pictures (N, 3, S, S) -> (N, Di), its image
    backbone reading them at its own input size or at `side` px, cached under a hash of the
    pictures themselves and the image backbone's weights and side (about 60 ms a picture on 2
    cores at 224 px, once)."""
    side = side or teacher.config.image_size
    weights = teacher.image_backbone.weights.to_dict()
    digest = hashlib.sha256(pictures.numpy().tobytes()).hexdigest()
    key = cache.cache_key("picture-features", AUGMENT_VERSION, digest, weights, side) if weights["sha256"] else None
    path = cache.cached_tensors("features", key) if key else None
    if path is not None and (hit := cache.load_tensors(path)) is not None:
        return hit[0]["image"]
    backbone = teacher.image_backbone.eval()
    chunks = [
        backbone(backbone.preprocess(pictures[i : i + batch_size], side))
        for i in tqdm(range(0, len(pictures), batch_size), desc=desc or "teacher features of pictures", disable=not progress, mininterval=1.0)
    ]
    features = torch.cat(chunks) if chunks else torch.zeros(0, backbone.out_dim)
    if path is not None:
        cache.save_tensors(path, {"image": features}, {"pictures": len(pictures)})
    return features
