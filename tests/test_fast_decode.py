"""The CPU crops' fast path (engine/data/decode.py): `turbo` training crops decode with libjpeg-turbo's
fast IDCT and upsampling and still give the reference's pixels within decoder rounding; evaluation crops
keep the accurate decoder; loader-bench's floor row is the entropy decoding alone."""
from __future__ import annotations

import pytest
import torch

from resnext_bench.bench import loader
from resnext_bench.engine.data.decode import (CPU_DECODERS, decode_pil, decode_turbo, decode_turbo_training,
                                              ticket_view, turbo_decoder)
from resnext_bench.engine.data.workers import FolderImages
from resnext_bench.engine.data.layout import FolderSource

pytestmark = pytest.mark.skipif(turbo_decoder() != "simplejpeg", reason="the fast path needs simplejpeg")

SIZE = 224


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six of loader-bench's ImageNet-sized JPEGs (500x375 and the like, noisy texture, q90)."""
    return loader.make_images(tmp_path_factory.mktemp("photos"), 6)


def crops(decode, samples, epoch, shift: int = 0):
    """Every sample's training crop of `epoch` (its box moved `shift` pixels right)."""
    out = []
    for i, (path, _) in enumerate(samples):
        _, box_of, flip = ticket_view((i, epoch), 0, SIZE)
        moved = (lambda w, h: tuple(v + d for v, d in zip(box_of(w, h), (shift, 0, shift, 0))))
        out.append(decode(open(path, "rb").read(), SIZE, moved, flip).float())
    return torch.stack(out)


def test_fast_training_crops_are_the_references_pixels_within_decoder_rounding(photos):
    reference = crops(decode_pil, photos, epoch=0)
    fast = crops(decode_turbo_training, photos, epoch=0)
    accurate = crops(decode_turbo, photos, epoch=0)
    assert fast.shape == reference.shape == (6, 3, SIZE, SIZE)
    fast_error, accurate_error = (fast - reference).abs().mean().item(), (accurate - reference).abs().mean().item()
    assert fast_error < 4, f"fast path: mean |difference| {fast_error:.2f} grey levels from pil"
    assert accurate_error < 3 and accurate_error <= fast_error  # the fast options do move the pixels, a little
    assert not torch.equal(fast, accurate)
    # The bound can fail: the same crops one pixel to the right are far outside it on this texture.
    shifted = crops(decode_turbo_training, photos, epoch=0, shift=1)
    assert (shifted - reference).abs().mean().item() > 2 * fast_error


def test_training_tickets_take_the_fast_decoder_and_evaluation_the_accurate_one(photos, monkeypatch):
    calls = []
    fast, accurate = CPU_DECODERS["turbo"]
    assert (fast, accurate) == (decode_turbo_training, decode_turbo)
    images = FolderImages(FolderSource(tuple(photos)), SIZE, 0, "turbo")
    images.train_decode = lambda *a: calls.append("train") or fast(*a)
    images.eval_decode = lambda *a: calls.append("eval") or accurate(*a)
    train_image, _ = images[(0, 3)]
    eval_image, _ = images[0]
    assert calls == ["train", "eval"]
    assert torch.equal(eval_image, crops_eval(accurate, photos[0][0]))
    assert train_image.shape == eval_image.shape == (3, SIZE, SIZE)


def crops_eval(decode, path):
    _, box_of, flip = ticket_view(0, 0, SIZE)
    return decode(open(path, "rb").read(), SIZE, box_of, flip)


def test_pil_decodes_training_and_evaluation_crops_alike():
    assert CPU_DECODERS["pil"] == (decode_pil, decode_pil)


def test_loader_bench_shows_the_floor_and_the_accurate_path(tmp_path, capsys):
    from resnext_bench.cli import main

    assert main(["loader-bench", "--images", "6", "--repeats", "1", "--size", "64", "--data", str(tmp_path / "d")]) == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert loader.FLOOR in rows and "turbo, accurate (evaluation crops)" in rows and "turbo" in rows
    rate = float(rows[loader.FLOOR].split("|")[2].replace(",", ""))
    assert rate > 0 and float(rows[loader.FLOOR].split("|")[3].split("x")[0]) > 0
