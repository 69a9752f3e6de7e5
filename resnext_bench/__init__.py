"""resnext-bench: rerun the ResNeXt paper's architecture ablations and compare against timm."""

__version__ = "0.1.0"
