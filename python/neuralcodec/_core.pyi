"""Type stubs of the native module built from rust/ (see rust/python/mod.rs).

Use :mod:`neuralcodec.ans`, which converts arguments; these functions take C-contiguous
int32 (float32 for pmfs) numpy arrays only.
"""

from typing import Optional, Sequence, Tuple, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

__all__ = [
    "__version__",
    "PRECISION",
    "StreamError",
    "CdfTable",
    "BufferedEncoder",
    "StreamDecoder",
    "EngineNetwork",
    "LatentCoder",
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

class StreamError(ValueError): ...

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
class EngineNetwork:
    """Layers of an engine network, appended in order (see neuralcodec.engine)."""

    def __new__(cls) -> Self: ...
    def conv2d(
        self, weight: npt.NDArray[np.float32], bias: npt.NDArray[np.float32], stride: int, padding: int
    ) -> None: ...
    def conv_transpose2d(
        self,
        weight: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        stride: int,
        padding: int,
        output_padding: int,
    ) -> None: ...
    def relu(self) -> None: ...
    def leaky_relu(self, negative_slope: float) -> None: ...
    def pixel_shuffle(self, upscale_factor: int) -> None: ...
    def __len__(self) -> int: ...

@final
class LatentCoder:
    """A node of a latent's coding tree (see neuralcodec.engine.latent_graph)."""

    @staticmethod
    def gaussian(
        channels: int,
        entropy: EngineNetwork,
        chunks: str,
        scale_table: npt.NDArray[np.float32],
        scale_bound: float,
        table: CdfTable,
        gained: bool = False,
        offsets: Optional[EngineNetwork] = None,
    ) -> LatentCoder: ...
    @staticmethod
    def checkerboard(
        anchor_parity: str,
        context_weight: npt.NDArray[np.float32],
        context_bias: npt.NDArray[np.float32],
        entropy: EngineNetwork,
        leaf: LatentCoder,
    ) -> LatentCoder: ...
    @staticmethod
    def channel_groups(
        groups: Sequence[int],
        sources: Sequence[Sequence[int]],
        contexts: Sequence[EngineNetwork | None],
        coders: Sequence[LatentCoder],
    ) -> LatentCoder: ...
    @staticmethod
    def raster_scan(
        context_weight: npt.NDArray[np.float32],
        context_bias: npt.NDArray[np.float32],
        entropy_weight: npt.NDArray[np.float32],
        entropy_bias: npt.NDArray[np.float32],
        entropy_rest: EngineNetwork,
        params_channels: int,
        scale_table: npt.NDArray[np.float32],
        scale_bound: float,
        table: CdfTable,
        gained: bool = False,
        offsets: Optional[EngineNetwork] = None,
        gain_context_weight: Optional[npt.NDArray[np.float32]] = None,
        gain_context_bias: Optional[npt.NDArray[np.float32]] = None,
    ) -> LatentCoder: ...
    @property
    def channels(self) -> int: ...

@final
class LatentGraph:
    """A latent's whole coding: hyper-synthesis and coding tree, one call per latent.

    Feature maps are C-contiguous float32 [H, W, C] arrays; gains float32 [M].
    """

    def __new__(cls, hyper: EngineNetwork, coder: LatentCoder, scalar: bool | None = None) -> Self: ...
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
