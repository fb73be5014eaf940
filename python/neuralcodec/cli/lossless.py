"""``neuralcodec lossless [IMAGE]``: the rANS coder alone, on a photo's pixels.

Codes the pixels losslessly (colour planes G, R-G, B-G; a left/up neighbour predictor;
one table per plane fitted to the image), decodes them, checks the round trip, and
prints the size beside the ideal (the information content under the table) and beside
PNG. The command's ``--help`` text is :data:`DESCRIPTION`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from neuralcodec.ans import CdfTable, RansDecoder, RansEncoder, ideal_bits, pmf_to_quantized_cdf
from neuralcodec.files import sample_image_path

#: What ``neuralcodec lossless --help`` says.
DESCRIPTION = """\
Code a photo's pixels losslessly with neuralcodec's rANS entropy coder alone (colour
planes G, R-G, B-G; each pixel predicted from its left or upper neighbour; one
probability table per plane fitted to the image), decode them, check that the round
trip is exact, and print the size beside the ideal (the information content under the
tables) and beside the PNG file. With no IMAGE it uses the sample photo shipped with
neuralcodec.

exit codes: 0 success, 1 the round trip did not match, 2 an unreadable input.
"""

#: Residuals of the colour-difference planes of 8-bit pixels lie in [-510, 510].
_RESIDUAL_RANGE = 510


def _to_planes(rgb: np.ndarray) -> np.ndarray:
    """RGB ``[H, W, 3]`` to the decorrelated planes G, R - G, B - G (lossless, integer)."""
    green = rgb[..., 1]
    return np.stack([green, rgb[..., 0] - green, rgb[..., 2] - green], axis=-1)


def _from_planes(planes: np.ndarray) -> np.ndarray:
    """Inverts :func:`_to_planes`."""
    green = planes[..., 0]
    return np.stack([planes[..., 1] + green, green, planes[..., 2] + green], axis=-1)


def _predict_residuals(pixels: np.ndarray) -> np.ndarray:
    """Residuals against the left neighbour (the upper one in the first column).

    Args:
        pixels: int32 ``[H, W, C]``.

    Returns:
        int32 ``[H, W, C]``; pixel (0, 0) is predicted as 0.
    """
    prediction = np.zeros_like(pixels)
    prediction[:, 1:] = pixels[:, :-1]
    prediction[1:, 0] = pixels[:-1, 0]
    return pixels - prediction


def _reconstruct(residuals: np.ndarray) -> np.ndarray:
    """Inverts :func:`_predict_residuals`: the first column, then each row, are running sums."""
    pixels = residuals.copy()
    pixels[:, 0] = np.cumsum(residuals[:, 0], axis=0)
    return np.cumsum(pixels, axis=1)


def _channel_table(residuals: np.ndarray) -> CdfTable:
    """One CDF row per channel from the residual histogram, with a tiny escape bin."""
    channels = residuals.shape[-1]
    width = 2 * _RESIDUAL_RANGE + 1
    rows = np.zeros((channels, width + 2), np.int32)
    for c in range(channels):
        counts = np.bincount(residuals[..., c].ravel() + _RESIDUAL_RANGE, minlength=width)
        pmf = np.append(counts / counts.sum(), 1e-9).astype(np.float32)
        rows[c] = pmf_to_quantized_cdf(pmf)
    return CdfTable(rows, np.full(channels, width + 2, np.int32), np.full(channels, -_RESIDUAL_RANGE, np.int32))


def run_lossless(image: Optional[Path]) -> int:
    """Runs the lossless demo on ``image`` (the shipped sample when None); returns an exit code."""
    from PIL import Image, UnidentifiedImageError

    path = image if image is not None else sample_image_path()
    try:
        with Image.open(path) as img:
            if img.mode not in ("RGB", "L"):
                print(f"note: converting {img.mode} to RGB", file=sys.stderr)
            pixels = np.asarray(img.convert("RGB"), dtype=np.int32)
    except (OSError, UnidentifiedImageError) as error:
        print(f"error: cannot read {path}: {error}", file=sys.stderr)
        return 2
    height, width, channels = pixels.shape

    residuals = _predict_residuals(_to_planes(pixels))
    table = _channel_table(residuals)
    symbols = residuals.reshape(-1)
    indexes = np.tile(np.arange(channels, dtype=np.int32), height * width)

    start = time.perf_counter()
    data = RansEncoder().encode_with_indexes(symbols, indexes, table)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = RansDecoder().decode_with_indexes(data, indexes, table)
    decode_s = time.perf_counter() - start

    restored = _from_planes(_reconstruct(decoded.reshape(height, width, channels)))
    if not np.array_equal(restored, pixels):
        print("error: the decoded image differs from the input", file=sys.stderr)
        return 1

    ideal = ideal_bits(symbols, indexes, table)
    table_bytes = channels * (2 * _RESIDUAL_RANGE + 1) * 2  # 16-bit counts, the side information
    png_bytes = path.stat().st_size if path.suffix.lower() == ".png" else None
    pixels_count = height * width
    print(f"image     {path} ({width}x{height}, {channels} channels)")
    print(f"coded     {len(data):>9,} bytes  {8 * len(data) / pixels_count:6.3f} bpp  (round trip exact)")
    print(f"ideal     {ideal / 8:>9,.0f} bytes  {ideal / pixels_count:6.3f} bpp  (coder overhead {100 * (8 * len(data) / ideal - 1):.4f}%)")
    print(f"tables    {table_bytes:>9,} bytes  (per-plane histograms: side information a file would add)")
    if png_bytes is not None:
        print(f"PNG file  {png_bytes:>9,} bytes  {8 * png_bytes / pixels_count:6.3f} bpp")
    print(
        f"time      encode {encode_s * 1e3:.2f} ms, decode {decode_s * 1e3:.2f} ms "
        f"({symbols.size / decode_s / 1e6:.0f} Msymbols/s)"
    )
    return 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Adds the ``lossless`` subcommand to the ``neuralcodec`` parser."""
    parser = commands.add_parser(
        "lossless",
        help="code a photo's pixels losslessly with the rANS coder alone and report sizes against the ideal",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", nargs="?", type=Path, metavar="IMAGE", help="image file (default: the shipped sample photo)")
    parser.set_defaults(handler=lambda args: run_lossless(args.image))
