"""The base class of compression models: entropy-model bookkeeping, padding, loading.

A model maps an RGB image ``x`` (float ``[B, 3, H, W]`` in ``[0, 1]``) to latents, codes
them with its entropy models, and maps decoded latents back to ``x_hat``:

* ``forward(x)`` (training): ``{"x_hat": ..., "likelihoods": {"y": ..., "z": ...}}``,
  with additive-noise quantization so the rate term ``-log2(likelihoods)`` is
  differentiable.
* ``compress(x)``: ``{"strings": [[bytes per image] per latent], "shape": (h, w) of the
  smallest latent, "x_size": (H, W)}``.
* ``decompress(strings, shape, x_size=None)``: ``{"x_hat": ...}``, clamped to ``[0, 1]``.

**Per-call settings.** Both take ``options=`` (:class:`CodingOptions`): the coding path,
the tile size and a tile-progress callback, 8-bit output, a caller's
:class:`AnalysisMemo`. They belong to the call, never to the model: a model holds only
its weights, tables and configuration, so one model can code from several threads at
once. Without ``options`` the calls behave as CompressAI's ``compress(x)`` and
``decompress(strings, shape)``.

**8-bit pixels.** ``compress`` also takes uint8 ``[B, 3, H, W]`` pixels, read as ``x /
255`` (:func:`pixels_to_unit`: the same strings as that float image), and with
``options=CodingOptions(pixels_out=True)`` ``decompress`` returns ``x_hat`` as uint8
pixels (:func:`unit_to_pixels`). Over tiles, each window is converted as it is cut and
each synthesized tile as it is written, so a large image never exists in float.

**Any image size.** The transforms need sizes divisible by the model's total stride
(:attr:`CompressionModel.downsampling_factor`: 16 for the factorized prior, 64 for the
hyperprior models). ``compress`` pads the image, centred, by edge replication to the
next multiple (replication costs fewer bits than zeros), and ``decompress`` crops back
when given ``x_size``. Sizes that are already multiples are coded exactly as CompressAI
codes them, byte for byte.

``update()`` must run after training (or after loading weights without tables) so the
entropy models have integer CDF tables; ``compress`` refuses to run without them.
"""

from __future__ import annotations

import dataclasses
import importlib
import mmap
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.entropy_models import (
    SCALES_LEVELS,
    SCALES_MAX,
    SCALES_MIN,
    TABLE_METHOD_OF_PATH,
    TABLE_METHODS,
    EntropyBottleneck,
    GaussianConditional,
    check_tables,
    get_scale_table,
)
from neuralcodec.models.tiling import tiled_analysis, tiled_synthesis
from neuralcodec.ops import compute_padding
from neuralcodec.settings import DEFAULT_TILE_SIZE

__all__ = [
    "SCALES_LEVELS",
    "SCALES_MAX",
    "SCALES_MIN",
    "AnalysisMemo",
    "CodingOptions",
    "CompressionModel",
    "SimpleVAECompressionModel",  # noqa: F822  (module __getattr__ below)
    "get_scale_table",
    "pixels_to_unit",
    "unit_to_pixels",
]

ModelT = TypeVar("ModelT", bound="CompressionModel")


class AnalysisMemo:
    """The last analysis ``y = g_a(pad(x))`` of one caller, reused by the next call that
    analyses the same input the same way (pass it in :attr:`CodingOptions.analysis`).

    Rate control encodes one image at several qualities; a variable-rate model's ``y`` does
    not depend on the quality (the gain applies after it), so the analysis need run only
    once and the strings are those of separate calls. An entry holds for the same input
    tensor (the same object, not modified since: its version counter), the same analysis
    transform (a rate ladder analyses with the transform of the rung that codes the
    quality), the same coding path and the same tile size (tiling changes ``y`` in its
    last float bits), and as long as nobody modified ``y`` in place. The memo belongs to its caller (one per image being
    searched, say), never to a model; it is safe to share between threads.
    """

    def __init__(self) -> None:
        self._entry: Optional[Tuple[Tensor, int, nn.Module, bool, Optional[int], Tensor, int]] = None
        self._lock = threading.Lock()

    def recall(self, x: Tensor, analysis: nn.Module, use_engine: bool, tile_size: Optional[int]) -> Optional[Tensor]:
        """The remembered ``y`` for this analysis of ``x`` by the transform ``analysis``, or None."""
        with self._lock:
            entry = self._entry
        if entry is None:
            return None
        x0, version, analysis0, engine0, tiles0, y, y_version = entry
        same_input = x0 is x and version == x._version and analysis0 is analysis
        if same_input and engine0 == use_engine and tiles0 == tile_size and y_version == y._version:
            return y
        return None

    def remember(self, x: Tensor, analysis: nn.Module, use_engine: bool, tile_size: Optional[int], y: Tensor) -> None:
        """Keeps ``y`` as the analysis of ``x`` by ``analysis`` (replacing the previous entry)."""
        with self._lock:
            self._entry = (x, x._version, analysis, use_engine, tile_size, y, y._version)


@dataclasses.dataclass(frozen=True)
class CodingOptions:
    """The settings of one ``compress``/``decompress`` call (``options=``), none of which a
    model stores: one model serves calls with different options from several threads.

    Attributes:
        coding_path: the coding path (``"compat"``, ``"engine"``, ...; one of the model's
            ``coding_paths``); None: the model's default, :attr:`CompressionModel.coding_path`.
            The ``coding_path=`` argument of ``compress``/``decompress`` says the same.
        tile_size: side of the tiles, in image pixels, over which the transforms of an
            image larger than 1.5 tiles on a side run (memory bounded by the tile, not the
            image; :mod:`neuralcodec.models.tiling`). ``None`` or 0: never tile. The latent
            is the same to float rounding; the engine path's strings do not depend on it
            beyond that.
        tile_progress: called with ``(tiles done, tiles)`` after each tile (a progress
            bar, say), or None.
        pixels_out: ``decompress`` returns ``x_hat`` as 8-bit pixels: uint8
            ``[B, 3, H, W]``, channels-last in memory (:func:`unit_to_pixels` of the float
            image), each tile converted as it is synthesized.
        analysis: a caller's :class:`AnalysisMemo`: ``compress`` reuses the analysis of
            the same input from an earlier call with the same memo.

    Raises:
        TypeError, ValueError: a setting of the wrong type or out of range.
    """

    coding_path: Optional[str] = None
    tile_size: Optional[int] = DEFAULT_TILE_SIZE
    tile_progress: Optional[Callable[[int, int], None]] = None
    pixels_out: bool = False
    analysis: Optional[AnalysisMemo] = None

    def __post_init__(self) -> None:
        if self.coding_path is not None and not isinstance(self.coding_path, str):
            raise TypeError(f"coding_path must be a str or None, got {type(self.coding_path).__name__}")
        if self.tile_size is not None:
            if isinstance(self.tile_size, bool) or not isinstance(self.tile_size, int):
                raise TypeError(f"tile_size must be an int or None, got {type(self.tile_size).__name__}")
            if self.tile_size < 0:
                raise ValueError(f"tile_size must be positive (0 or None: never tile), got {self.tile_size}")
        if self.tile_progress is not None and not callable(self.tile_progress):
            raise TypeError("tile_progress must be callable (tiles done, tiles) or None")
        if not isinstance(self.pixels_out, bool):
            raise TypeError(f"pixels_out must be a bool, got {type(self.pixels_out).__name__}")
        if self.analysis is not None and not isinstance(self.analysis, AnalysisMemo):
            raise TypeError(f"analysis must be an AnalysisMemo or None, got {type(self.analysis).__name__}")


#: What a call without ``options`` codes with.
DEFAULT_OPTIONS = CodingOptions()
#: Former model attributes that are now :class:`CodingOptions` of each call.
_PER_CALL_SETTINGS = ("tile_size", "tile_progress", "pixels_out")


class CompressionModel(nn.Module):
    """Base class: see the module documentation for the contract of subclasses."""

    #: Total stride of the analysis transform (input sizes must be multiples of it).
    downsampling_factor: int = 64

    #: How ``compress``/``decompress`` compute the entropy parameters by default (a call
    #: picks its own with ``coding_path=`` or :attr:`CodingOptions.coding_path`):
    #: ``"compat"`` is the PyTorch path, byte-compatible with CompressAI. Models with a
    #: Rust-engine path (``"engine"``) list it in :attr:`coding_paths`. Containers record
    #: the path used. A property of the class; neuralcodec never changes it on a model.
    coding_path: str = "compat"
    coding_paths: Tuple[str, ...] = ("compat",)

    #: Whether ``compress`` takes ``latent=``: a latent to code instead of the analysis's
    #: (e.g. one fitted to the image by :func:`neuralcodec.models.refinement.refine_latent`).
    codes_given_latent: bool = False

    #: The analysis and synthesis transforms, set by every subclass's ``__init__`` (declared
    #: here so the methods below see modules, not ``nn.Module.__getattr__``'s ``Tensor | Module``).
    g_a: nn.Module
    g_s: nn.Module

    def __init__(self, entropy_bottleneck_channels: Optional[int] = None, init_weights: Optional[Any] = None) -> None:
        """Takes CompressAI's two deprecated arguments: ``entropy_bottleneck_channels``
        still adds an ``entropy_bottleneck`` of that many channels, ``init_weights`` is
        ignored (it never did anything in CompressAI); both warn (DeprecationWarning)."""
        super().__init__()
        if entropy_bottleneck_channels is not None:
            warnings.warn(
                "CompressionModel(entropy_bottleneck_channels=...) is deprecated: create "
                "self.entropy_bottleneck = EntropyBottleneck(channels) in the model's __init__",
                DeprecationWarning,
                stacklevel=2,
            )
            self.entropy_bottleneck = EntropyBottleneck(entropy_bottleneck_channels)
        if init_weights is not None:
            warnings.warn(
                "CompressionModel(init_weights=...) is ignored (it never had an effect)", DeprecationWarning, stacklevel=2
            )

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PER_CALL_SETTINGS:
            raise AttributeError(
                f"{name} is a setting of each call, not of the model: pass "
                f"options=CodingOptions({name}=...) to compress/decompress (neuralcodec.models.base.CodingOptions)"
            )
        super().__setattr__(name, value)

    @staticmethod
    def _options(options: Optional[CodingOptions], coding_path: Optional[str] = None) -> CodingOptions:
        """The settings of one call: ``options`` (None: :data:`DEFAULT_OPTIONS`) with the
        call's ``coding_path=`` argument, which must agree with ``options.coding_path``
        when both are given."""
        if options is None:
            options = DEFAULT_OPTIONS
        elif not isinstance(options, CodingOptions):
            raise TypeError(f"options must be a CodingOptions, got {type(options).__name__}")
        if coding_path is None or coding_path == options.coding_path:
            return options
        if options.coding_path is not None:
            raise ValueError(f"coding_path={coding_path!r} and options.coding_path={options.coding_path!r} disagree")
        return dataclasses.replace(options, coding_path=coding_path)

    if TYPE_CHECKING:  # every subclass defines them (the contract above); declared for the type checker only

        def compress(self, x: Tensor, *args: Any, **kwargs: Any) -> Dict[str, Any]: ...

        def decompress(self, strings: Sequence[Sequence[bytes]], shape: Any, *args: Any, **kwargs: Any) -> Dict[str, Any]: ...

    def _use_engine(self, coding_path: Optional[str] = None) -> bool:
        """Whether ``compress``/``decompress`` take the engine path: ``coding_path`` when
        given (a setting of the call), else the model's default :attr:`coding_path`;
        checked against :attr:`coding_paths`."""
        path = self.coding_path if coding_path is None else coding_path
        if path not in self.coding_paths:
            raise ValueError(f"{type(self).__name__}: coding_path must be one of {self.coding_paths}, got {path!r}")
        check_tables(self, path)  # the path's table construction, or tables loaded with the weights
        return path == "engine"

    def aux_loss(self) -> Tensor:
        """Sum of the entropy bottlenecks' auxiliary (quantile) losses."""
        losses = [m.loss() for m in self.modules() if isinstance(m, EntropyBottleneck)]
        if not losses:
            return torch.zeros(())
        return torch.stack([torch.as_tensor(loss) for loss in losses]).sum()

    def update(
        self,
        scale_table: Optional[Tensor] = None,
        force: bool = False,
        update_quantiles: bool = False,
        method: Optional[str] = None,
    ) -> bool:
        """Builds the integer CDF tables of every entropy model.

        Args:
            scale_table: scales for the Gaussian conditionals (default :func:`get_scale_table`).
            force: rebuild tables that already exist.
            update_quantiles: first fit the bottlenecks' quantiles
                (:meth:`~neuralcodec.entropy_models.EntropyBottleneck.fit_quantiles`).
            method: the construction: ``"portable"`` (the same tables on every machine) or
                ``"compressai"`` (CompressAI's float construction, machine dependent); see
                :data:`neuralcodec.entropy_models.TABLE_METHODS`. ``None`` (default): the
                construction of the model's :attr:`coding_path`
                (:data:`~neuralcodec.entropy_models.TABLE_METHOD_OF_PATH`): portable for
                the engine path, CompressAI's for the compat path, so that
                ``update(force=True)`` then ``compress`` gives CompressAI's strings on the
                compat path and bit-exact ones on the engine path. Coding on the other
                path with these tables is refused
                (:func:`~neuralcodec.entropy_models.check_tables`).

        Returns:
            Whether any table was (re)built.
        """
        if method is None:
            method = TABLE_METHOD_OF_PATH.get(self.coding_path, "portable")
        if method not in TABLE_METHODS:
            raise ValueError(f"method must be one of {TABLE_METHODS}, got {method!r}")
        if scale_table is None:
            scale_table = get_scale_table()
        updated = False
        for module in self.modules():
            if isinstance(module, EntropyBottleneck):
                updated |= bool(module.update(force=force, update_quantiles=update_quantiles, method=method))
            elif isinstance(module, GaussianConditional):
                updated |= bool(module.update_scale_table(scale_table, force=force, method=method))
        return updated

    @classmethod
    def from_state_dict(cls: type[ModelT], state_dict: Mapping[str, Tensor]) -> ModelT:
        """A model whose sizes are read off ``state_dict``, with the weights loaded."""
        raise NotImplementedError(f"{cls.__name__} does not implement from_state_dict")

    # ------------------------------------------------------------------ padding
    def pad(self, x: Tensor) -> Tensor:
        """``x`` padded (centred, edge replication) to multiples of the stride, as float
        (uint8 pixels are read by :func:`pixels_to_unit`)."""
        x = pixels_to_unit(x)
        height, width = x.shape[-2:]
        pad, _ = compute_padding(height, width, min_div=self.downsampling_factor)
        if not any(pad):
            return x
        return F.pad(x, pad, mode="replicate")

    def crop(self, x_hat: Tensor, x_size: Sequence[int]) -> Tensor:
        """Crops a decoded (padded) image back to ``x_size = (H, W)``."""
        height, width = int(x_size[0]), int(x_size[1])
        padded_h, padded_w = x_hat.shape[-2:]
        pad, _ = compute_padding(height, width, out_h=padded_h, out_w=padded_w, min_div=self.downsampling_factor)
        left, _, top, _ = pad
        return x_hat[..., top : top + height, left : left + width]

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must be [batch, 3, height, width], got shape {tuple(x.shape)}")
        if not x.is_floating_point() and x.dtype != torch.uint8:
            raise TypeError(f"x must be a float tensor with values in [0, 1] or uint8 pixels, got {x.dtype}")
        if x.shape[-1] < 1 or x.shape[-2] < 1 or x.shape[0] < 1:
            raise ValueError(f"x must not be empty, got shape {tuple(x.shape)}")

    @staticmethod
    def _check_strings(strings: Sequence[Sequence[bytes]], expected: int) -> int:
        """Validates the ``strings`` argument of ``decompress``; returns the batch size."""
        if not isinstance(strings, (list, tuple)) or len(strings) != expected:
            raise ValueError(f"strings must be a list of {expected} lists of bytes (one per latent)")
        sizes = {len(s) for s in strings}
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError("every latent needs one string per image, and at least one image")
        for group in strings:
            for s in group:
                if not isinstance(s, (bytes, bytearray)):
                    raise TypeError(f"strings must hold bytes, got {type(s).__name__}")
        return sizes.pop()

    @staticmethod
    def _shape(shape: Sequence[int]) -> Tuple[int, int]:
        if len(shape) != 2 or any(int(s) < 1 for s in shape):
            raise ValueError(f"shape must be the (height, width) of the latent, got {tuple(shape)}")
        return int(shape[0]), int(shape[1])

    def _synthesize(self, y_hat: Tensor, options: CodingOptions = DEFAULT_OPTIONS) -> Tensor:
        """``g_s(y_hat)`` for ``decompress``, computed in channels-last layout on the CPU,
        over tiles when the image is larger than ``options.tile_size`` (see :meth:`_analyze`).

        The synthesis transform's convolutions (transposed ones above all) run 1.25-1.4x
        faster in that layout there (``benches/python/bench_models.py``); the result equals
        ``g_s(y_hat)`` to float rounding, and no string depends on it.
        """
        transform = self._synthesis_transform(y_hat)
        if self._tiles(y_hat.shape[-2:], self.downsampling_factor, options):
            tiled = tiled_synthesis(self.g_s, y_hat, options.tile_size or 0, transform, options.tile_progress)
            if tiled is not None:
                return tiled
        return transform(y_hat)

    def _synthesis_transform(self, y_hat: Tensor) -> Callable[[Tensor], Tensor]:
        if y_hat.device.type != "cpu":
            return self.g_s

        def transform(latent: Tensor) -> Tensor:
            return self.g_s(latent.contiguous(memory_format=torch.channels_last)).contiguous()

        return transform

    def _decoded(
        self, y_hat: Tensor, x_size: Optional[Sequence[int]], options: CodingOptions = DEFAULT_OPTIONS
    ) -> Dict[str, Any]:
        """``{"x_hat": ...}`` for ``decompress``: :meth:`_synthesize` of ``y_hat``
        (``[B, M, h, w]``) cropped to ``x_size = (H, W)`` (None: the padded size) and
        clamped to ``[0, 1]``, or as uint8 pixels with ``options.pixels_out``. Over tiles
        each tile is cropped and converted as it is synthesized: the padded float image is
        never made whole."""
        pixels_out = options.pixels_out
        finish = unit_to_pixels if pixels_out else _clamp_unit
        if x_size is not None and self._tiles(y_hat.shape[-2:], self.downsampling_factor, options):
            size = (int(x_size[0]), int(x_size[1]))
            tiled = tiled_synthesis(
                self.g_s, y_hat, options.tile_size or 0, self._synthesis_transform(y_hat), options.tile_progress,
                x_size=size, finish=finish, channels_last=pixels_out,
            )  # fmt: skip
            if tiled is not None:
                return {"x_hat": tiled}
        x_hat = self._synthesize(y_hat, options)
        if x_size is not None:
            x_hat = self.crop(x_hat, x_size)
        x_hat = finish(x_hat)
        if pixels_out:
            x_hat = x_hat.contiguous(memory_format=torch.channels_last)
        return {"x_hat": x_hat}

    @staticmethod
    def _tiles(size: Sequence[int], scale: int, options: CodingOptions) -> bool:
        """Whether an image of ``size`` (pixels, or latent positions times ``scale``) is
        coded over tiles of ``options.tile_size``."""
        if not options.tile_size:
            return False
        return max(int(size[0]), int(size[1])) * scale > options.tile_size * 3 // 2

    def latent_forward(self, y: Tensor, **rate: Any) -> Dict[str, Any]:
        """The coding of a latent ``y`` (``[B, M, h, w]``) as training sees it, for a model
        whose :attr:`codes_given_latent` is true: ``{"y_hat", "likelihoods"}`` from its
        ``latent_codec``. A variable-rate model takes its quality's keyword arguments
        (``rate``, from ``prepare_quality``). Refinement
        (:func:`~neuralcodec.models.refinement.refine_latent`) differentiates it.

        Raises:
            NotImplementedError: a model without a latent codec, or ``rate`` for one
                that has a single rate.
        """
        codec = getattr(self, "latent_codec", None)
        if codec is None or rate:
            raise NotImplementedError(f"{type(self).__name__} has no latent_forward(y{', **rate' if rate else ''})")
        return codec(y)

    def analyze(self, x: Tensor, options: Optional[CodingOptions] = None) -> Tensor:
        """The analysis transform's latent ``y = g_a(pad(x))``, ``[B, M, H'/s, W'/s]`` for
        ``x`` ``[B, 3, H, W]`` (float in ``[0, 1]`` or uint8 pixels) padded to ``[H', W']``
        (``s``: ``g_a``'s stride), as the compat path computes it (over tiles for a large
        image): what ``compress`` codes, or for a model whose :attr:`codes_given_latent` is
        true, what its ``latent=`` replaces. ``options``: its tile size, progress and
        analysis memo apply (the coding path does not)."""
        self._check_input(x)
        return self._analyze(x, False, self._options(options))

    def _latent_to_code(
        self, x: Tensor, use_engine: bool, latent: Optional[Tensor], options: CodingOptions = DEFAULT_OPTIONS
    ) -> Tensor:
        """``latent`` checked against the analysis's shape for ``x``, or the analysis of
        ``x`` when it is None (for models whose :attr:`codes_given_latent` is true)."""
        if latent is None:
            return self._analyze(x, use_engine, options)
        if not isinstance(latent, Tensor) or not latent.is_floating_point():
            raise TypeError(f"latent must be a float tensor, got {type(latent).__name__}")
        with torch.no_grad():
            expected = self._analysis_shape(x)
        if tuple(latent.shape) != expected:
            raise ValueError(f"latent must have the analysis's shape {expected} for this image, got {tuple(latent.shape)}")
        return latent.to(x.device)

    def _analysis_shape(self, x: Tensor) -> Tuple[int, ...]:
        """The shape of :meth:`analyze`'s result for ``x``, from ``g_a`` run on a
        stride-sized block (``g_a`` keeps channels and divides sizes by its stride)."""
        block = self.downsampling_factor
        probe = self.g_a(torch.zeros((1, 3, block, block), device=x.device))
        stride = block // probe.shape[-1]
        height, width = (-(-int(size) // block) * block // stride for size in x.shape[-2:])
        return (int(x.shape[0]), int(probe.shape[1]), height, width)

    def _analyze(self, x: Tensor, use_engine: bool, options: CodingOptions = DEFAULT_OPTIONS) -> Tensor:
        """``g_a(pad(x))`` for ``compress``; ``x`` float in ``[0, 1]`` or uint8 pixels,
        ``[B, 3, H, W]``; taken from ``options.analysis`` when that memo holds it, and
        kept there.

        On the ``compat`` path the default layout keeps ``y`` equal to CompressAI's bit for
        bit. The engine path computes it channels-last on the CPU (about 1.25x faster): ``y``
        may then differ in its last float bits, which can only move a value lying on a
        rounding boundary to the neighbouring symbol; the decoder never sees ``y``, and the
        engine makes every coding decision from the symbols alone.

        Images larger than 1.5 ``options.tile_size`` on a side are transformed over tiles
        of that size with a halo that covers the transform's receptive field
        (:mod:`neuralcodec.models.tiling`): the same latent to float rounding, in memory
        bounded by the tile, not the image; uint8 pixels are converted window by window.
        """
        memo = options.analysis
        tile_size = options.tile_size or None
        if memo is not None:
            known = memo.recall(x, self.g_a, use_engine, tile_size)
            if known is not None:
                return known
        y = self._run_analysis(x, use_engine, options)
        if memo is not None:
            memo.remember(x, self.g_a, use_engine, tile_size, y)
        return y

    def _run_analysis(self, x: Tensor, use_engine: bool, options: CodingOptions) -> Tensor:
        channels_last = use_engine and x.device.type == "cpu" and isinstance(self.g_a, nn.Sequential)
        if self._tiles(x.shape[-2:], 1, options):
            layer = _channels_last_analysis(self.g_a) if channels_last else self.g_a
            transform = layer if x.is_floating_point() else _from_pixels(layer)  # uint8: window by window
            padding, _ = compute_padding(x.shape[-2], x.shape[-1], min_div=self.downsampling_factor)
            tiled = tiled_analysis(
                self.g_a, x, options.tile_size or 0, transform, options.tile_progress, padding=padding
            )
            if tiled is not None:
                return tiled
        padded = self.pad(x)
        if not channels_last:
            return self.g_a(padded)
        layers = cast(nn.Sequential, self.g_a)  # channels_last implies it
        hidden = _channels_last_copy(padded)
        del padded
        for layer in layers:  # ``hidden`` drops the input copy after the first layer
            hidden = layer(hidden)
        return hidden.contiguous()

    @staticmethod
    def _result(strings: List[List[bytes]], shape: torch.Size, x: Tensor) -> Dict[str, Any]:
        return {"strings": strings, "shape": tuple(int(s) for s in shape), "x_size": tuple(x.shape[-2:])}


def pixels_to_unit(x: Tensor) -> Tensor:
    """8-bit pixels as the models read them: uint8 ``x`` (any shape) -> float32 ``x / 255``
    in ``[0, 1]``, same shape and memory layout; a float tensor is returned as it is."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x


def unit_to_pixels(x_hat: Tensor) -> Tensor:
    """A decoded image as 8-bit pixels: ``round(255 * clamp(x_hat, 0, 1))`` as uint8 (NaN
    as 0), same shape, device and layout. Overwrites a float32 ``x_hat`` (pass one nobody
    needs afterwards); other dtypes are converted to float32 first."""
    x = x_hat if x_hat.dtype == torch.float32 else x_hat.float()
    torch.nan_to_num_(x, nan=0.0)
    return x.clamp_(0, 1).mul_(255.0).round_().to(torch.uint8)


def _clamp_unit(x_hat: Tensor) -> Tensor:
    return x_hat.clamp_(0, 1)


def _from_pixels(transform: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``transform`` of a window of uint8 pixels read by :func:`pixels_to_unit`."""

    def run(window: Tensor) -> Tensor:
        return transform(pixels_to_unit(window))

    return run


def _channels_last_analysis(g_a: nn.Module) -> Callable[[Tensor], Tensor]:
    """``g_a`` run in channels-last layout (for one tile at a time)."""

    def transform(window: Tensor) -> Tensor:
        return g_a(window.contiguous(memory_format=torch.channels_last)).contiguous()

    return transform


def _channels_last_copy(x: Tensor) -> Tensor:
    """A channels-last copy of the CPU tensor ``x`` (N, C, H, W) in a memory mapping of its own.

    The copy lives only through the first layer of ``g_a``. Taken from the heap, its pages
    would stay resident after it is freed (the layers after it allocate in separate
    mappings and never reuse them), raising the peak memory of ``compress`` by its size;
    unmapped, they go back to the system at once.
    """
    if x.dtype != torch.float32 or x.dim() != 4 or x.numel() == 0:
        return x.contiguous(memory_format=torch.channels_last)
    n, c, h, w = x.shape
    buffer = mmap.mmap(-1, x.numel() * x.element_size())
    nhwc = torch.from_numpy(np.frombuffer(buffer, dtype=np.float32).reshape(n, h, w, c))
    return nhwc.permute(0, 3, 1, 2).copy_(x)


def __getattr__(name: str) -> Any:
    # CompressAI defines SimpleVAECompressionModel in models/base.py; here it lives in
    # models/simple_vae.py, which imports this module, so it is looked up on first use.
    if name == "SimpleVAECompressionModel":
        return importlib.import_module("neuralcodec.models.simple_vae").SimpleVAECompressionModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
