"""Data sets and loaders: scikit-learn digits, CIFAR-10/100, ImageNet folders, synthetic images.

`layout` says what a data set is without reading it (torch-free: shapes, split sizes, `check_data`,
`dataset_info`); `sources` reads the pixels; `draws` makes every training batch a pure function of
(seed, epoch, batch index), so resumed runs replay exactly; `build.build_data` picks one of two
delivery paths behind one interface (`seam`): `device` keeps a whole split on the training device
and crops/flips there, `workers` feeds a torch DataLoader. The loaders (which import torch) load
only when asked for, so planning commands stay fast.

This module is the public face: code outside engine/data (bench, train, cli, cluster) imports
from here, never a private (`_`) name of a module inside.
"""
from __future__ import annotations

from .folders import IMAGE_EXTENSIONS
from .layout import DatasetInfo, FolderSource, check_data, dataset_info, imagenet_backend

# name -> the module that defines it; these import torch (or PIL): loaded only when asked for
_LAZY = {
    "TrainData": "build", "ValData": "build", "build_data": "build", "resolve_loader": "build",
    "Schedule": "draws",
    "load_arrays": "sources",
    "decode_pil": "decode", "decode_turbo": "decode", "decode_turbo_training": "decode", "decode_floor": "decode", "turbo_decoder": "decode", "ticket_view": "decode",
    "nvjpeg_available": "decode",
    "EncodedImages": "gpudecode", "decode_batch": "gpudecode",
    "FolderImages": "workers",
    "build_eval_data": "evalset", "check_view": "evalset", "trained_size": "evalset",
    "PackOptions": "packing", "pack": "packing", "stored_bytes": "packing",
}

__all__ = ["DatasetInfo", "FolderSource", "IMAGE_EXTENSIONS", "check_data", "dataset_info", "imagenet_backend",
           *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
