"""Type stubs of the native module built from rust/ (see rust/python/mod.rs).

Use :mod:`neuralcodec.ans`, which converts arguments; these functions take C-contiguous
int32 (float32 for pmfs) numpy arrays only.
"""

from typing import Any, Mapping, Sequence, Tuple, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from neuralcodec.errors import NeuralCodecValueError

__all__ = [
    "__version__",
    "PRECISION",
    "StreamError",
    "CdfTable",
    "BufferedEncoder",
    "StreamDecoder",
    "LatentGraph",
    "encode",
    "decode",
    "ideal_bits",
    "pmf_to_quantized_cdf",
    "bottleneck_tables",
    "gaussian_tables",
    "scale_table",
    "portable_softplus",
]

__version__: str
PRECISION: int

class StreamError(NeuralCodecValueError): ...

@final
class CdfTable:
    def __new__(
        cls,
        cdfs: npt.NDArray[np.int32],
        cdf_lengths: npt.NDArray[np.int32],
        offsets: npt.NDArray[np.int32],
    ) -> Self: ...
    @property
    def num_rows(self) -> int: ...
    @property
    def num_cols(self) -> int: ...

@final
class BufferedEncoder:
    def __new__(cls) -> Self: ...
    def encode(
        self, symbols: npt.NDArray[np.int32], indexes: npt.NDArray[np.int32], table: CdfTable
    ) -> None: ...
    def flush(self) -> bytes: ...
    def __len__(self) -> int: ...

@final
class StreamDecoder:
    def __new__(cls, data: bytes) -> Self: ...
    def decode(self, indexes: npt.NDArray[np.int32], table: CdfTable) -> npt.NDArray[np.int32]: ...
    def is_finished(self) -> bool: ...
    def check_finished(self) -> None: ...

def encode(
    symbols: npt.NDArray[np.int32], indexes: npt.NDArray[np.int32], table: CdfTable
) -> bytes: ...
def decode(
    data: bytes, indexes: npt.NDArray[np.int32], table: CdfTable, check_end: bool = True
) -> npt.NDArray[np.int32]: ...
def ideal_bits(
    symbols: npt.NDArray[np.int32], indexes: npt.NDArray[np.int32], table: CdfTable
) -> float: ...
def pmf_to_quantized_cdf(pmf: npt.NDArray[np.float32], precision: int = ...) -> npt.NDArray[np.int32]: ...
def bottleneck_tables(
    quantiles: npt.NDArray[np.float32],
    matrices: Sequence[npt.NDArray[np.float32]],
    biases: Sequence[npt.NDArray[np.float32]],
    factors: Sequence[npt.NDArray[np.float32]],
    step: float = 1.0,
) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32]]: ...
def portable_softplus(x: float) -> float: ...
def gaussian_tables(
    scale_table: npt.NDArray[np.float32], tail_mass: float
) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32]]: ...
def scale_table(min: float, max: float, levels: int) -> npt.NDArray[np.float32]: ...

@final
class LatentGraph:
    """A latent's whole coding: hyper-synthesis and coding tree, one call per latent.

    Built from a spec (the dict neuralcodec.graph_spec documents) and its named arrays;
    the spec is read by rust/python/spec.rs. A missing key, unknown op or missing array
    raises KeyError (graph_spec.build_graph reports it as GraphSpecError).

    Feature maps are C-contiguous float32 [H, W, C] arrays; gains float32 [M].
    """

    @staticmethod
    def from_spec(
        spec: Mapping[str, Any], tensors: Mapping[str, npt.NDArray[Any]], scalar: bool | None = None
    ) -> LatentGraph: ...
    @property
    def channels(self) -> int: ...
    @property
    def gained(self) -> bool: ...
    @property
    def kernel(self) -> str: ...
    def hyper(self, z_hat: npt.NDArray[np.float32], threads: int = 1) -> npt.NDArray[np.float32]: ...
    def encode(
        self,
        y: npt.NDArray[np.float32],
        z_hat: npt.NDArray[np.float32],
        gain: npt.NDArray[np.float32] | None = None,
        gain_inverse: npt.NDArray[np.float32] | None = None,
        threads: int = 1,
        latent: bool = True,
    ) -> tuple[bytes, npt.NDArray[np.float32] | None]: ...
    def decode(
        self,
        data: bytes,
        z_hat: npt.NDArray[np.float32],
        gain: npt.NDArray[np.float32] | None = None,
        gain_inverse: npt.NDArray[np.float32] | None = None,
        threads: int = 1,
    ) -> npt.NDArray[np.float32]: ...
