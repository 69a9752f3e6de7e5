"""ImageNet decoding backends: how one sample's bytes become a (3, S, S) uint8 crop.

Every backend applies the same draws to the same bytes: the box `_inception_box` picks from
(seed, epoch, sample) and the mirror flag for training, the central box ("resize 256, crop 224")
for evaluation. They differ in the decoder and the resampler only:

  pil     PIL decodes the whole image, PIL's bilinear filter resizes the box (the reference: what
          every run before the backends existed used, pixel for pixel).
  turbo   libjpeg-turbo through simplejpeg (torchvision.io's decoder when simplejpeg is missing),
          decoding at 1/2, 1/4 or 1/8 scale in the DCT when the box still covers the output size
          there, then torch's antialiased bilinear uint8 resize of the box. Training crops use
          libjpeg-turbo's fast integer IDCT and fast chroma upsampling (a few % of the decode);
          evaluation crops the accurate ones, so evaluation parity with pil is what it was.
          Anything it cannot decode (PNG or CMYK inside a .JPEG, progressive oddities) goes
          through the pil path.
  nvjpeg  the workers only read the bytes and the header; the training process decodes the batch
          on the GPU (engine/data/gpudecode.py). Not bit-identical to the CPU decoders.

A file no decoder can read is skipped (the batch is one image shorter) and counted, never a crashed
epoch: `Unreadable` says which sample and why.
"""
from __future__ import annotations

import io
import math
from functools import lru_cache
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .layout import imagenet_backend


DCT_SCALES = (8, 4, 2)  # 1/8, 1/4, 1/2: the IDCT scalings that are cheaper than a full decode
Box = tuple[float, float, float, float]  # left, top, right, bottom in source pixels


class Unreadable(Exception):
    """A sample's bytes that no decoder could turn into pixels (corrupt, truncated, not an image)."""


def center_box(width: int, height: int, size: int, resize: Optional[int] = None) -> Box:
    """The box that "resize the short side to `resize` (default size*256/224), take the central size x size" reads."""
    side = min(width, height) * size / (resize or round(size * 256 / 224))
    left, top = (width - side) / 2, (height - side) / 2
    return left, top, left + side, top + side


def ticket_view(ticket, seed: int, size: int, resize: Optional[int] = None) -> tuple[int, Callable[[int, int], Box], bool]:
    """(index, box of an image's (width, height), mirror flag) of a ticket: (index, epoch) takes the
    training draws of (seed, epoch, index); a plain index the evaluation's central box (`center_box`)."""
    from .draws import _inception_box, _sample_draws

    index, epoch = ticket if isinstance(ticket, tuple) else (ticket, None)
    if epoch is None:
        return index, (lambda w, h: center_box(w, h, size, resize)), False
    draws = _sample_draws(seed, epoch, index)
    return index, (lambda w, h: _inception_box(w, h, draws)), draws[22] < 0.5


def rgb_jpeg_size(data: bytes) -> Optional[tuple[int, int]]:
    """(width, height) from PIL's parse of the header, when the bytes are a JPEG that libjpeg-turbo
    and nvjpeg decode to RGB (YCbCr or grayscale); None for a PNG, a CMYK/YCCK JPEG or no image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return (im.width, im.height) if im.format == "JPEG" and im.mode in ("RGB", "L") else None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def pixel_box(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """A box rounded to whole pixels inside a width x height image, at least one pixel each way."""
    left, top, right, bottom = (int(round(v)) for v in box)
    left, top = min(max(left, 0), width - 1), min(max(top, 0), height - 1)
    return left, top, min(max(right, left + 1), width), min(max(bottom, top + 1), height)


# ---------------------------------------------------------------- pil (the reference)

def decode_pil(data: bytes, size: int, box_of: Callable[[int, int], Box], flip: bool) -> torch.Tensor:
    """PIL decode, PIL bilinear resize of the box, mirror: (3, size, size) uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            img = im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise Unreadable(f"{type(e).__name__}: {e}") from None
    img = img.resize((size, size), Image.BILINEAR, box=box_of(*img.size))
    if flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


# ---------------------------------------------------------------- turbo

@lru_cache(maxsize=None)  # called for every image: a missing package is looked for once
def _simplejpeg():
    try:
        import simplejpeg
    except ImportError:
        return None
    return simplejpeg


def turbo_decoder() -> str:
    """Which libjpeg-turbo binding `turbo` uses here: simplejpeg, or torchvision.io's decoder."""
    return "simplejpeg" if _simplejpeg() is not None else "torchvision.io"


def dct_scale(width: int, height: int, box: Box, size: int) -> int:
    """The largest k in 1/2, 1/4, 1/8 at which the box still spans `size` pixels each way (else 1)."""
    short = min(box[2] - box[0], box[3] - box[1])
    for k in DCT_SCALES:
        if short / k >= size and width >= k and height >= k:
            return k
    return 1


def _turbo_pixels(data: bytes, width: int, height: int, k: int, binding: str, fast: bool = False) -> torch.Tensor:
    """RGB (H, W, 3) uint8 at scale 1/k, or Unreadable when libjpeg-turbo refuses the bytes."""
    try:
        if binding == "simplejpeg":
            pixels = _simplejpeg().decode_jpeg(data, "RGB", fastdct=fast, fastupsample=fast,
                                               min_height=math.ceil(height / k),
                                               min_width=math.ceil(width / k))
            return torch.from_numpy(pixels)
        from torchvision.io import ImageReadMode, decode_jpeg

        chw = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        return chw.permute(1, 2, 0)
    except Exception as e:  # each binding raises its own types for bytes it cannot decode
        raise Unreadable(f"{type(e).__name__}: {e}") from None


def _turbo_header(data: bytes, binding: str) -> Optional[tuple[int, int]]:
    """(width, height) of a JPEG libjpeg-turbo decodes to RGB, or None (PNG, CMYK, unparsable)."""
    if binding == "simplejpeg":
        try:
            height, width, colorspace, _ = _simplejpeg().decode_jpeg_header(data)
        except Exception:  # not a JPEG simplejpeg can parse: the reference path decides
            return None
        return (width, height) if colorspace in ("Gray", "YCbCr", "RGB") else None
    return rgb_jpeg_size(data)


def resize_box(pixels_hwc: torch.Tensor, box: Box, size: int, flip: bool) -> torch.Tensor:
    """Bilinear (antialiased) resize of a box of an (H, W, 3) uint8 image to (3, size, size) uint8."""
    left, top, right, bottom = pixel_box(box, pixels_hwc.shape[1], pixels_hwc.shape[0])
    crop = pixels_hwc[top:bottom, left:right].permute(2, 0, 1).unsqueeze(0)  # channels_last strides
    out = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    return (out.flip(-1) if flip else out).contiguous()


def decode_turbo(data: bytes, size: int, box_of: Callable[[int, int], Box], flip: bool,
                 binding: Optional[str] = None, fast: bool = False) -> torch.Tensor:
    """libjpeg-turbo at the cheapest DCT scale that covers the box, torch's uint8 resize: (3, S, S).

    `binding`: simplejpeg (DCT scaling; `fast`: fast IDCT and chroma upsampling) or torchvision.io
    (full size, accurate only); default: simplejpeg when installed. What libjpeg-turbo cannot decode
    to RGB goes through the PIL path.
    """
    binding = binding or turbo_decoder()
    header = _turbo_header(data, binding)
    if header is None:  # PNG named .JPEG, CMYK, YCCK, or garbage: the reference path (or Unreadable)
        return decode_pil(data, size, box_of, flip)
    width, height = header
    box = box_of(width, height)
    k = dct_scale(width, height, box, size) if binding == "simplejpeg" else 1
    try:
        pixels = _turbo_pixels(data, width, height, k, binding, fast)
    except Unreadable:
        return decode_pil(data, size, box_of, flip)  # raises Unreadable itself if PIL cannot either
    sy, sx = pixels.shape[0] / height, pixels.shape[1] / width
    return resize_box(pixels, (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy), size, flip)


def decode_turbo_training(data: bytes, size: int, box_of: Callable[[int, int], Box], flip: bool,
                          binding: Optional[str] = None) -> torch.Tensor:
    """`decode_turbo` with libjpeg-turbo's fast IDCT and upsampling: the training crops' path."""
    return decode_turbo(data, size, box_of, flip, binding, fast=True)


def decode_floor(data: bytes) -> None:
    """Entropy decoding alone: libjpeg-turbo at 1/8 scale (DC coefficients, no IDCT, no crop or resize).

    No full-resolution CPU crop can cost less than this; beyond it only fewer stored pixels or the
    GPU help. Needs simplejpeg (torchvision.io cannot scale in the DCT)."""
    _simplejpeg().decode_jpeg(data, "RGB", fastdct=True, fastupsample=True, min_factor=8)


# backend -> (training-crop decoder, evaluation-crop decoder)
CPU_DECODERS: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "pil": (decode_pil, decode_pil), "turbo": (decode_turbo_training, decode_turbo)}


# ---------------------------------------------------------------- choosing one

def nvjpeg_available(device: torch.device) -> bool:
    """torchvision can decode JPEG batches on this (CUDA) device."""
    if torch.device(device).type != "cuda" or not torch.cuda.is_available():
        return False
    try:
        import torchvision.io
    except ImportError:
        return False
    return hasattr(torchvision.io, "decode_jpeg")


def resolve_backend(loader: str, device: torch.device) -> str:
    """The backend `data.loader` names for ImageNet folders or shards ("auto": the fastest here)."""
    return imagenet_backend(loader, loader == "auto" and nvjpeg_available(device))


def unreadable_note(skipped: dict[str, str], limit: int = 3) -> Optional[str]:
    """One log line for the samples skipped in a pass, or None when none was."""
    if not skipped:
        return None
    shown = "; ".join(f"{name} ({why})" for name, why in list(skipped.items())[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return f"skipped {len(skipped)} unreadable image{'s' if len(skipped) != 1 else ''}: {shown}{more}"
