"""CompressAI's ``compressai._CXX`` module path: its compiled helper with CompressAI's
argument and return types.

CompressAI 1.2.8 exposes the CDF quantization of its C++ extension as
``compressai._CXX.pmf_to_quantized_cdf(pmf: list[float], precision: int) -> list[int]``.
This module gives that function the same contract over neuralcodec's one implementation,
:func:`neuralcodec.ans.pmf_to_quantized_cdf` (Rust, bit-exact with CompressAI's), which
returns a numpy array; here the result is a Python list, as CompressAI's is.
"""

from __future__ import annotations

from typing import Any, List

from neuralcodec import ans

__all__ = ["pmf_to_quantized_cdf"]


def pmf_to_quantized_cdf(pmf: Any, precision: int = ans.PRECISION) -> List[int]:
    """The integer CDF of ``pmf`` quantized to ``2**precision``, as a list of ``len(pmf) + 1``
    ints from 0 to ``2**precision``, every bin at least 1 (CompressAI's construction).

    Args:
        pmf: a sequence of ``n >= 1`` finite, non-negative numbers (a list, numpy array or
            1-D tensor); they need not sum to 1.
        precision: bits of the total, 1 to 16.

    Raises:
        ValueError: a negative or non-finite value, all zeros, an empty ``pmf``.
    """
    return [int(v) for v in ans.pmf_to_quantized_cdf(pmf, precision).tolist()]
