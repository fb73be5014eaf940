"""Float images become 8-bit pixels by one rule: the torch-free decoders' numpy function
(:func:`neuralcodec.codec.images.unit_array_to_pixels`) gives the bits of the owner,
:func:`neuralcodec.models.base.unit_to_pixels` (issue #29)."""

import numpy as np
import torch

from neuralcodec.codec.images import unit_array_to_pixels
from neuralcodec.models.base import unit_to_pixels


def test_the_numpy_conversion_gives_the_bits_of_the_torch_one():
    rng = np.random.default_rng(0)
    # Every rounding boundary k + 1/2 (and its float32 neighbours), the ends, NaN, values outside [0, 1].
    halves = (np.arange(256, dtype=np.float32) + np.float32(0.5)) / np.float32(255.0)
    special = np.array([np.nan, -np.inf, np.inf, -0.0, -1e-9, 1.0 + 1e-7, 2.0, 0.0, 1.0], dtype=np.float32)
    values = np.concatenate([
        halves, np.nextafter(halves, np.float32(0)), np.nextafter(halves, np.float32(1)), special,
        rng.random(20_000, dtype=np.float32),
    ])  # fmt: skip
    x = values[: 3 * (values.size // 3)].reshape(3, 1, -1)
    expected = unit_to_pixels(torch.from_numpy(x.copy())).numpy()
    got = unit_array_to_pixels(x)
    assert got.dtype == np.uint8 and got.shape == x.shape
    np.testing.assert_array_equal(got, expected)
    assert got.reshape(-1)[values.size - 20_000 - 9 :][:9].tolist() == [0, 0, 255, 0, 0, 255, 255, 0, 255]


def test_the_input_is_left_as_it_was():
    x = np.array([[[np.nan, 0.5, 1.5]]], dtype=np.float32)
    unit_array_to_pixels(x)
    assert np.isnan(x[0, 0, 0]) and x[0, 0, 2] == np.float32(1.5)
