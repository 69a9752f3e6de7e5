"""Complexity measured on a built model (params by sum(numel), FLOPs by fvcore): the cross-check of
config.complexity's analytic counts, and the only count a timm/torchvision baseline has."""
from __future__ import annotations


def measured_complexity(model, input_size: int, in_chans: int = 3) -> dict:
    """Params by sum(numel) and conv+linear multiply-adds by fvcore: the independent cross-check."""
    import warnings

    import torch

    with warnings.catch_warnings():
        # fvcore.nn scripts its focal loss with torch.jit.script at import, which torch now
        # deprecates: a warning about fvcore's internals, not the user's business.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
        from fvcore.nn import FlopCountAnalysis

    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter from fvcore, not about our counts
            analysis = FlopCountAnalysis(model, torch.zeros(1, in_chans, input_size, input_size))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            by_op = analysis.by_operator()
    finally:
        model.train(was_training)
    flops = sum(v for k, v in by_op.items() if k in ("conv", "linear", "addmm", "matmul"))
    return {"params": params, "flops": int(flops), "by_operator": dict(by_op)}

