"""resnext-bench: rerun the ResNeXt paper's architecture ablations and compare against timm."""

__version__ = "0.1.0"


def _measure_baseline(spec, image_size: int):
    """models.baseline_complexity, imported only when a baseline is measured (it loads torch)."""
    from .models import baseline_complexity

    return baseline_complexity(spec, image_size)


# The composition root: config (below models) measures timm/torchvision baselines through this hook.
from .config.complexity import register_baseline_measure  # noqa: E402

register_baseline_measure(_measure_baseline)
