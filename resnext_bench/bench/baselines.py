"""Parity of our ResNeXt family with timm and torchvision: size, state_dict layout, function.

For each named configuration the report puts our model beside the library model of the same
name and asks three questions: do params and multiply-adds agree (ours analytic, theirs
counted by fvcore), do the state_dicts load into each other with strict=True, and do the two
compute the same function once they hold the same weights. A mismatch is a finding: it is
written into the row, never raised.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from ..config.complexity import complexity
from ..errors import UserError
from ..models import build_model, measured_complexity, named_spec
from ..config.specs import BaselineSpec
from ..progress import progress
from ..reference import REFERENCE_DIR

PUBLISHED_CSV = REFERENCE_DIR / "published_imagenet.csv"

# The configurations the report covers by default (resnext101_32x4d exists in timm only).
DEFAULT_NAMES = (
    "resnet50",
    "resnet101",
    "resnext50_32x4d",
    "resnext101_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
)
LIBRARIES = ("timm", "torchvision")
FLOPS_SIZE = 224  # multiply-adds are quoted at the paper's 224 crop
COMPARE_SIZE = 64  # the nets are fully convolutional: a small input checks the same function
TOLERANCE = 1e-4  # allowed max |diff|, relative to the largest |output|


# ---------------------------------------------------------------- published numbers

def load_published(path: str | Path = PUBLISHED_CSV) -> list[dict]:
    """The rows of published_imagenet.csv, numbers kept as the strings transcribed."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None


def published_for(published: list[dict], library: str, model: str) -> dict:
    """Top-1 of every published weight set of `library`/`model`, with params/GMACs and sources."""
    rows = [r for r in published if r["library"] == library and r["model"] == model]
    first = lambda key: next((r[key] for r in rows if r.get(key)), "")
    return {
        "published_top1": "; ".join(f"{r['top1_acc']} ({r['weights']})" for r in rows),
        "published_params": first("params"),
        "published_gmacs": first("gmacs"),
        "published_source": "; ".join(dict.fromkeys(r["source"] for r in rows)),
    }


# ---------------------------------------------------------------- comparing a pair

def layout_difference(a: dict, b: dict) -> str | None:
    """Why state_dict `a` cannot load into a model holding `b` with strict=True; None if it can."""
    missing = [k for k in b if k not in a]
    unexpected = [k for k in a if k not in b]
    shapes = [k for k in a if k in b and tuple(a[k].shape) != tuple(b[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
    if shapes:
        k = shapes[0]
        problems.append(
            f"{len(shapes)} shape mismatch(es), e.g. {k} {tuple(a[k].shape)} vs {tuple(b[k].shape)}"
        )
    return "; ".join(problems) or None


def _load_strict(model: nn.Module, state: dict) -> str | None:
    """Load `state` with strict=True; the error's first informative line, or None on success."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        # The first line only names the class ("Error(s) in loading state_dict for X:").
        return (lines[1] if len(lines) > 1 else lines[0])[:300]
    return None


@torch.no_grad()
def randomise_norms(model: nn.Module, seed: int = 0) -> None:
    """Give every batch norm random affine weights and running stats, so no BN is the identity."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
            if m.affine:
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))


def fixed_input(size: int = COMPARE_SIZE, batch: int = 2, in_chans: int = 3, seed: int = 0) -> torch.Tensor:
    """A reproducible random image batch."""
    return torch.randn(batch, in_chans, size, size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def compare_outputs(ours: nn.Module, theirs: nn.Module, x: torch.Tensor, tol: float = TOLERANCE) -> dict:
    """Eval-mode outputs of both models on `x`: max |diff|, relative diff, and whether they match."""
    modes = (ours.training, theirs.training)
    ours.eval(), theirs.eval()
    try:
        a, b = ours(x).float(), theirs(x).float()
    finally:
        ours.train(modes[0]), theirs.train(modes[1])
    if a.shape != b.shape:
        return {"outputs_match": False, "max_abs_diff": None, "rel_diff": None,
                "output_note": f"output shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"}
    diff = (a - b).abs().max().item()
    scale = max(a.abs().max().item(), b.abs().max().item(), 1e-12)
    match = math.isfinite(diff) and diff <= tol * scale
    return {"outputs_match": match, "max_abs_diff": diff, "rel_diff": diff / scale, "output_note": ""}


def compare_pair(
    ours: nn.Module,
    theirs: nn.Module,
    x: torch.Tensor | None = None,
    share_weights: bool = True,
    tol: float = TOLERANCE,
) -> dict:
    """Are `ours` and `theirs` interchangeable (strict state_dict loads both ways) and the same function?

    With share_weights (the default) theirs gets random batch-norm statistics, its state_dict is
    loaded into ours and ours' back into theirs, so afterwards both hold theirs' weights. Without
    it the models are compared as given (e.g. after one of them was perturbed) and only the
    layout is checked. Outputs are compared only when the layouts agree.
    """
    x = fixed_input() if x is None else x
    theirs_sd, ours_sd = theirs.state_dict(), ours.state_dict()
    into_ours = layout_difference(theirs_sd, ours_sd)
    into_theirs = layout_difference(ours_sd, theirs_sd)
    if share_weights and into_ours is None and into_theirs is None:
        randomise_norms(theirs)
        into_ours = _load_strict(ours, theirs.state_dict())
        into_theirs = _load_strict(theirs, ours.state_dict())
    errors = [f"theirs -> ours: {into_ours}" if into_ours else "", f"ours -> theirs: {into_theirs}" if into_theirs else ""]
    result = {
        "interchangeable": into_ours is None and into_theirs is None,
        "interchange_error": " | ".join(e for e in errors if e),
    }
    if result["interchangeable"]:
        result.update(compare_outputs(ours, theirs, x, tol))
    else:
        result.update({"outputs_match": False, "max_abs_diff": None, "rel_diff": None,
                       "output_note": "not compared: the weights cannot be shared"})
    return result


# ---------------------------------------------------------------- the report

def _baseline_exists(library: str, arch: str) -> bool:
    if library == "timm":
        import timm

        return timm.is_model(arch)
    import torchvision

    return arch in torchvision.models.list_models()


def _row(name: str, library: str, model: str, **values) -> dict:
    row = {
        "configuration": name, "library": library, "model": model, "available": True,
        "params": None, "macs": None, "macs_method": "", "params_equal": None, "macs_equal": None,
        "interchangeable": None, "interchange_error": "", "outputs_match": None,
        "max_abs_diff": None, "rel_diff": None, "output_note": "",
        "published_top1": "", "published_params": "", "published_gmacs": "", "published_source": "",
    }
    row.update(values)
    return row


def configuration_rows(name: str, published: list[dict], x: torch.Tensor) -> list[dict]:
    """Our `name` and its timm and torchvision counterparts, one row each."""
    spec = named_spec(name)
    ours = build_model(spec)
    cx = complexity(spec, FLOPS_SIZE)
    rows = [_row(name, "ours", name, params=cx.params, macs=cx.flops, macs_method="analytic")]
    for library in LIBRARIES:
        label = f"{library}:{name}"
        if not _baseline_exists(library, name):
            rows.append(_row(name, library, label, available=False, output_note=f"{library} has no {name}"))
            continue
        theirs = build_model(BaselineSpec(label, num_classes=spec.num_classes, in_chans=spec.in_chans))
        measured = measured_complexity(theirs, FLOPS_SIZE, spec.in_chans)
        rows.append(_row(
            name, library, label, params=measured["params"], macs=measured["flops"], macs_method="fvcore",
            params_equal=measured["params"] == cx.params, macs_equal=measured["flops"] == cx.flops,
            **compare_pair(ours, theirs, x), **published_for(published, library, name),
        ))
        del theirs  # the 101-layer models are large: hold at most two at a time
    return rows


def baseline_rows(names: Iterable[str] | None = None, compare_size: int = COMPARE_SIZE,
                  published_csv: str | Path = PUBLISHED_CSV) -> list[dict]:
    """Parity rows (ours, timm, torchvision) for each named configuration (DEFAULT_NAMES if None)."""
    names = list(DEFAULT_NAMES if names is None else names)
    published = load_published(published_csv)
    x = fixed_input(compare_size)
    rows: list[dict] = []
    for name in progress(names, len(names), "baselines", every_s=0):  # each takes seconds to a minute
        rows.extend(configuration_rows(name, published, x))
    return rows


def _fmt_bool(value) -> str:
    return "-" if value is None else ("yes" if value else "**NO**")


def _fmt_row(row: dict) -> str:
    if not row["available"]:
        return f"| {row['configuration']} | {row['library']} | - | - | - | - | - | - | - |"
    params = f"{row['params'] / 1e6:.3f}"
    macs = f"{row['macs'] / 1e9:.3f}"
    if row["library"] != "ours":
        params += "" if row["params_equal"] else " (differs)"
        macs += "" if row["macs_equal"] else " (differs)"
    diff = "-" if row["max_abs_diff"] is None else f"{row['max_abs_diff']:.1e}"
    published = row["published_top1"] or "-"
    size = f"{row['published_params'] or '-'} / {row['published_gmacs'] or '-'}"
    size = "-" if size == "- / -" else size
    return (f"| {row['configuration']} | {row['library']} | {params} | {macs} | "
            f"{_fmt_bool(row['interchangeable'])} | {_fmt_bool(row['outputs_match'])} | {diff} | "
            f"{published} | {size} |")


def format_baselines(rows: list[dict]) -> str:
    """A markdown table of the parity rows, with mismatches and sources as notes below it."""
    lines = [
        "| configuration | library | params (M) | GMACs @224 | state_dict interchangeable | same outputs | max abs diff | published top-1 (weights) | published params / GMACs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_fmt_row(r) for r in rows]
    notes = []
    for r in rows:
        if r["interchange_error"]:
            notes.append(f"- {r['model']} vs ours: {r['interchange_error']}")
        elif r["output_note"] and r["available"]:
            notes.append(f"- {r['model']} vs ours: {r['output_note']}")
        elif r["outputs_match"] is False:
            notes.append(f"- {r['model']} vs ours: outputs differ (max abs diff {r['max_abs_diff']:.3g}, "
                         f"relative {r['rel_diff']:.3g})")
    sources = dict.fromkeys(r["published_source"] for r in rows if r["published_source"])
    lines.append("")
    lines.append("Ours: analytic params / multiply-adds (conv + fc); timm, torchvision: fvcore at 224. "
                 f"Outputs: eval mode, same weights (random, batch-norm statistics randomised), "
                 f"max |diff| <= {TOLERANCE:g} x max |output|. timm's published GMACs (4.11 resnet50, "
                 "4.26 resnext50_32x4d) match fvcore's total with batch norm and pooling counted "
                 "(4.112 / 4.259), not conv + fc alone.")
    if notes:
        lines += ["", "Mismatches:"] + notes
    if sources:
        lines += ["", "Published top-1 sources:"] + [f"- {s}" for s in sources]
    return "\n".join(lines) + "\n"
