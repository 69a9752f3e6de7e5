"""Data sets and loaders: scikit-learn digits, CIFAR-10/100, ImageNet folders, synthetic images.

`layout` says what a data set is without reading it (torch-free: shapes, split sizes, `check_data`,
`dataset_info`); `sources` reads the pixels; `draws` makes every training batch a pure function of
(seed, epoch, batch index), so resumed runs replay exactly; `build.build_data` picks one of two
delivery paths behind one interface (`seam`): `device` keeps a whole split on the training device
and crops/flips there, `workers` feeds a torch DataLoader. The loaders (which import torch) load
only when asked for, so planning commands stay fast.
"""
from __future__ import annotations

from .layout import IMAGE_EXTENSIONS, DatasetInfo, check_data, dataset_info

__all__ = [
    "DatasetInfo", "TrainData", "ValData", "dataset_info", "check_data", "build_data",
    "resolve_loader", "IMAGE_EXTENSIONS",
]
_LOADERS = ("TrainData", "ValData", "build_data", "resolve_loader")


def __getattr__(name: str):
    if name in _LOADERS:  # these import torch: only when asked for
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
