"""One name, one meaning in neuralcodec.codec (issue #29): ``psnr`` belongs to
:mod:`neuralcodec.metrics`; the codec's old alias for the 8-bit PSNR warns."""

import pytest

import neuralcodec.codec
import neuralcodec.codec.api
from neuralcodec.metrics import psnr_8bit


def test_the_codec_exports_no_psnr_and_its_old_alias_warns():
    assert "psnr" not in neuralcodec.codec.__all__ and "psnr" not in neuralcodec.codec.api.__all__
    with pytest.warns(DeprecationWarning, match="neuralcodec.metrics.psnr_8bit"):
        alias = neuralcodec.codec.api.psnr
    assert alias is psnr_8bit
    with pytest.raises(AttributeError):
        neuralcodec.codec.api.no_such_name  # noqa: B018
