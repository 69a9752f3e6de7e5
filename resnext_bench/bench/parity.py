"""Evaluation parity across ImageNet decoding backends: one trained model, evaluated through each.

The backends apply the same boxes; their decoders and resamplers round differently. This measures
what that does to accuracy: scikit-learn's digits (real, shipped data) are written as an ImageFolder
of RGB JPEGs (upscaled to 64 px, quality 90), a small ResNeXt is trained through the reference
`pil` backend, then the same weights are evaluated ("resize 256, crop 224" scaled to the crop size)
through every backend usable here: top-1 error of each, and how many predictions change against
`pil`'s. On a CUDA device the `nvjpeg` backend is among them.

    python -m resnext_bench.bench.parity [--device cuda] [--epochs 6] [--out parity.md]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config.specs import DataSpec, ModelSpec
from ..fsutil import write_text
from ..models import build_model

SIZE = 32


def write_digits_folder(root: Path, side: int = 64) -> None:
    """digits as ROOT/{train,val}/dK/*.JPEG (the suite's fixed split), RGB, upscaled to `side`."""
    from PIL import Image

    from ..engine.data import load_arrays

    arrays = load_arrays(DataSpec("digits"))
    for split, (x, y) in (("train", (arrays.train_x, arrays.train_y)), ("val", (arrays.val_x, arrays.val_y))):
        for i, (image, label) in enumerate(zip(x, y)):
            folder = root / split / f"d{int(label)}"
            folder.mkdir(parents=True, exist_ok=True)
            grey = Image.fromarray(image[0].numpy()).resize((side, side), Image.BICUBIC)
            Image.merge("RGB", (grey, grey, grey)).save(folder / f"{i:05d}.JPEG", quality=90)


def evaluate_backends(root: Path, device: torch.device, epochs: int, seed: int = 0, log=print) -> list[dict]:
    from ..engine.data import build_data, nvjpeg_available

    spec = DataSpec("imagenet", root=str(root), image_size=SIZE, num_workers=2, loader="pil")
    train, val = build_data(spec, 64, device, seed)
    torch.manual_seed(seed)
    model = build_model(ModelSpec("cifar-29", 2, 4, num_classes=10, stem_width=16, base_planes=16)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for epoch in range(epochs):
        model.train()
        for images, labels in train.batches(epoch):
            loss = F.cross_entropy(model(images), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        log(f"parity: epoch {epoch + 1}/{epochs} (pil) loss {loss.item():.3f}")
    model.eval()
    backends = ["pil", "turbo"] + (["nvjpeg"] if nvjpeg_available(device) else [])
    rows, reference = [], None
    for backend in backends:
        _, val = build_data(DataSpec("imagenet", root=str(root), image_size=SIZE, num_workers=2, loader=backend),
                            64, device, seed)
        predictions, labels = [], []
        with torch.no_grad():
            for images, y in val.batches():
                predictions.append(model(images).argmax(1).cpu())
                labels.append(y.cpu())
        pred, y = torch.cat(predictions), torch.cat(labels)
        reference = pred if reference is None else reference
        rows.append({"backend": backend, "images": len(y), "top1_err": 100 * (pred != y).float().mean().item(),
                     "changed": int((pred != reference).sum())})
        log(f"parity: {backend}: top-1 error {rows[-1]['top1_err']:.2f}%, {rows[-1]['changed']} predictions "
            "differ from pil's")
    return rows


def table(rows: list[dict], device: torch.device, epochs: int) -> str:
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    lines = [f"# Evaluation parity of the decoding backends ({name})", "",
             f"digits as 64-px RGB JPEGs (q90), a cifar-29 2x4d (16 base planes) trained {epochs} epochs through "
             f"`pil` at {SIZE} px, evaluated through each backend (central box):", "",
             "| backend | val images | top-1 error % | predictions that differ from pil's |", "|---|---|---|---|"]
    lines += [f"| {r['backend']} | {r['images']} | {r['top1_err']:.2f} | {r['changed']} |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m resnext_bench.bench.parity", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        write_digits_folder(Path(tmp))
        rows = evaluate_backends(Path(tmp), device, args.epochs, log=log)
    text = table(rows, device, args.epochs)
    print(text)
    if args.out:
        write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
