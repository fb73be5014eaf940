"""The :class:`Codec`: a model ready to code images into neuralcodec files and back.

A file records the model it was made with (architecture, quality, metric, where the
weights come from, and the SHA-256 of its state_dict) and the coding path (``model.coding_path``
unless the call names another); the decoding model must offer that path, and codes on it
for that call (an argument of the call: a :class:`Codec`, like its model, can be used from
several threads at once). The ``"engine"`` path (the default of the hyperprior-family
models) is bit-exact on every machine. The ``"compat"`` path computes the entropy
parameters with PyTorch floats, so decoding on another kind of device or software than
the encoder can, rarely, pick another CDF row, which the coder's end-of-stream check
almost always refuses (a :class:`~neuralcodec.codec.FormatError`).

**Variable rate.** A variable-rate model codes at any quality of its continuous range:
``Codec(model, quality=2.5)``; the file records that quality (the critical ``QUAL``
extension, ``docs/format.md``). :meth:`Codec.encode_target` writes the largest file not
over a target size (:mod:`neuralcodec.codec.rate`). Models with discrete rate points
refuse a fractional quality and a target.

The functions over files and images (:func:`~neuralcodec.codec.facade.encode_image`,
:func:`~neuralcodec.codec.facade.decode_image`, ...) are in :mod:`neuralcodec.codec.facade`;
:mod:`neuralcodec.codec.api` re-exports both.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence, Tuple, Union, cast

import numpy as np
import torch
from torch import Tensor

from neuralcodec.ans import StreamError
from neuralcodec.codec.container import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_STRING_BYTES,
    DEFAULT_MAX_STRINGS,
    EXTENSION_EXIF,
    EXTENSION_ICC,
    EXTENSION_QUALITY,
    Header,
    ModelIdentity,
    Origin,
    encode_quality,
    expected_padding,
    pack,
    quantize_quality,
    unpack,
)
from neuralcodec.codec.errors import (
    CodecError,
    FormatError,
    ImageError,
    ModelMismatchError,
    ModelNotFoundError,
)
from neuralcodec.codec.identity import architecture_of, weights_sha256
from neuralcodec.codec.images import LoadedImage, load_image, pixels_to_pil
from neuralcodec.codec.rate import DEFAULT_TOLERANCE, RateSearch, search_quality, target_bytes
from neuralcodec.engine import EngineUnsupportedError
from neuralcodec.entropy_models import bound_tables
from neuralcodec.models.base import AnalysisMemo, CodingOptions, CompressionModel, unit_to_pixels
from neuralcodec.models.ladder import MeanScaleLadder
from neuralcodec.models.refinement import EFFORT_STEPS, check_effort, refine_latent
from neuralcodec.models.variable_rate import VariableRateModel
from neuralcodec.settings import DEFAULT_QUALITY, DEFAULT_TILE_SIZE, PREVIOUS_DEFAULTS, VARIABLE_RATE_ARCHITECTURES

__all__ = ["METADATA_CHOICES", "Codec", "Device", "PathLike", "Size"]

PathLike = Union[str, Path]
Device = Union[str, torch.device, None]
Size = Union[str, int]

#: What :meth:`Codec.encode`'s ``metadata`` may keep: the ICC profile (default), the
#: profile and EXIF, or nothing.
METADATA_CHOICES = ("icc", "all", "none")


@functools.cache
def _takes_options(cls: Hashable, method: str) -> bool:
    """Whether ``cls.method`` (``compress``/``decompress``) takes ``options=``, the
    per-call :class:`~neuralcodec.models.base.CodingOptions` (a model written for
    CompressAI does not)."""
    try:
        parameters = inspect.signature(getattr(cls, method)).parameters
    except (TypeError, ValueError):
        return False
    option = parameters.get("options")
    return option is not None and option.kind in (option.POSITIONAL_OR_KEYWORD, option.KEYWORD_ONLY)


def _call_arguments(model: CompressionModel, method: str, path: str, options: CodingOptions) -> Dict[str, Any]:
    """The keywords that make one call of ``model.method`` code on ``path`` with
    ``options``: ``options=`` (the path inside) for a model that takes it; else
    ``coding_path=path``, or nothing when ``path`` is the model's default (so a model
    whose ``compress`` takes neither, having one path, still works; it then runs with its
    own tiling and gives float pixels, which the codec converts)."""
    if _takes_options(cast(Hashable, type(model)), method):
        return {"options": dataclasses.replace(options, coding_path=path)}
    return {} if path == getattr(model, "coding_path", "compat") else {"coding_path": path}


def _model_device(model: torch.nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")


class Codec:
    """A model ready to code images, with the identity files record for it.

    Build one with :meth:`default` (neuralcodec's shipped weights), :meth:`zoo`
    (CompressAI's published weights), :meth:`from_checkpoint` (a weights file), or
    directly from a model whose CDF tables are built (``update()``). The weights hash is
    computed once here. Each call passes its settings (coding path, tiles, 8-bit output)
    to the model as arguments (:class:`~neuralcodec.models.base.CodingOptions`), so
    neither the codec nor its model changes across a call: one codec can encode and
    decode from several threads at once.

    Args:
        model: the compression model.
        architecture: its zoo name (default: from its class).
        quality: for a model with discrete rate points, the rate point to record (an
            integer; 0 or None when unknown). For a variable-rate model, the continuous
            quality to code at (default :data:`~neuralcodec.settings.DEFAULT_QUALITY`, or
            the nearest end of the model's range), rounded to a multiple of 1/65536 as
            files store it; files record it in the ``QUAL`` extension, and the identity's
            quality is 0 (the weights are the same at every rate).
        metric: the training distortion to record, ``""`` when unknown.
        origin: where the weights come from (tells decoders where to find them).
        device: move the model there (default: leave it where it is).
        lmbda: the rate-distortion weight the model was trained with (``lambda * 255^2 *
            MSE + bpp``, or ``lambda * (1 - MS-SSIM) + bpp`` for ``metric="ms-ssim"``);
            ``encode(effort=...)`` refines latents for it. The constructors below know it
            for neuralcodec's and CompressAI's weights and for weight files that record it.

    Raises:
        ValueError: a fractional quality for a model with discrete rate points, or a
            quality outside a variable-rate model's range (the messages give the range).
    """

    def __init__(
        self,
        model: CompressionModel,
        *,
        architecture: Optional[str] = None,
        quality: Optional[float] = None,
        metric: str = "",
        origin: Origin = Origin.CHECKPOINT,
        device: Device = None,
        lmbda: Optional[float] = None,
    ) -> None:
        if not isinstance(model, CompressionModel):
            raise TypeError(f"model must be a neuralcodec CompressionModel, got {type(model).__name__}")
        name = architecture or architecture_of(model)
        if name is None:
            raise ValueError(
                f"cannot tell the architecture of a {type(model).__name__}; pass architecture= (a zoo name)"
            )
        if device is not None:
            model = model.to(device)
        self.model = model
        #: The continuous quality a variable-rate model codes at; None for a model with
        #: discrete rate points (its rate point is ``identity.quality``).
        self.quality: Optional[float] = None
        point = 0
        if isinstance(model, VariableRateModel):
            low, high = model.qualities()
            wanted = min(max(float(DEFAULT_QUALITY), low), high) if quality in (None, 0) else quality
            self.quality = self._check_rate(wanted)
        elif quality is not None:
            point = _rate_point(quality, name)
        # A variable-rate model hashes its identity_state_dict: what it rebuilds per quality is canonical there.
        digest = weights_sha256(model.identity_state_dict() if isinstance(model, VariableRateModel) else model)
        self.identity = ModelIdentity(name, point, metric or "", Origin(origin), digest)
        #: A rate ladder's rung identities, hashed when first needed (:meth:`rung_identity`).
        self._rung_identities: Dict[int, ModelIdentity] = {}
        if lmbda is not None and not (isinstance(lmbda, (int, float)) and math.isfinite(lmbda) and lmbda > 0):
            raise ValueError(f"lmbda must be a positive number, got {lmbda!r}")
        #: The rate-distortion weight the model was trained with; None when unknown.
        self.lmbda: Optional[float] = None if lmbda is None else float(lmbda)

    def __repr__(self) -> str:
        at = f" at quality {self.quality:g}" if self.quality is not None else ""
        return f"Codec({self.identity.describe()}{at})"

    @property
    def quality_range(self) -> Optional[Tuple[float, float]]:
        """``(low, high)``, the continuous quality range of a variable-rate model; None for
        a model with discrete rate points."""
        if isinstance(self.model, VariableRateModel):
            return self.model.qualities()
        return None

    def _check_rate(self, quality: Any) -> float:
        """``quality`` on the grid files store (multiples of 1/65536), within the range of
        the (variable-rate) model, which checks it."""
        assert isinstance(self.model, VariableRateModel)
        try:
            value = quantize_quality(quality)
        except (TypeError, ValueError):
            value = quality  # the model's check gives the message, with its range
        return self.model.check_quality(value)

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_loaded(cls, loaded: Any) -> "Codec":
        """The codec of a model the loader gave (:class:`neuralcodec.zoo.loader.LoadedModel`):
        its architecture, quality, metric, lambda, and the origin its source implies
        (shipped: neuralcodec's; pretrained: CompressAI's; a checkpoint or random weights:
        the user's, which decoders need passed in)."""
        origin = {"shipped": Origin.NEURALCODEC, "pretrained": Origin.COMPRESSAI}.get(loaded.source, Origin.CHECKPOINT)
        return cls(
            loaded.model, architecture=loaded.architecture, quality=loaded.quality, metric=loaded.metric,
            origin=origin, lmbda=loaded.lmbda,
        )

    @classmethod
    def load(
        cls,
        architecture: Optional[str] = None,
        quality: Optional[float] = None,
        metric: Optional[str] = None,
        *,
        source: Optional[str] = None,
        checkpoint: Optional[PathLike] = None,
        device: Device = "cpu",
        progress: bool = True,
    ) -> "Codec":
        """The model the one loader resolves (:mod:`neuralcodec.zoo.loader`: ``source``
        ``"shipped"``, ``"pretrained"``, ``"checkpoint"`` or ``"random"``; None: the
        checkpoint when given, else CompressAI's ``architecture`` when named, else the
        shipped weights), as a codec.

        Raises:
            ValueError: a request that cannot be met (unknown architecture, quality,
                metric; a torch checkpoint without its architecture; contradicting sources).
            ModelMismatchError: the checkpoint holds another architecture than named.
            ModelNotFoundError: the weights are missing, cannot be downloaded or read, or
                do not fit the architecture.
        """
        from neuralcodec.zoo import WeightsError
        from neuralcodec.zoo.loader import ArchitectureMismatchError, ModelSpec

        spec = ModelSpec(architecture, quality, metric or None, source, checkpoint)
        try:
            loaded = spec.load(device or "cpu", progress)
        except ArchitectureMismatchError as error:
            raise ModelMismatchError(str(error)) from None
        except WeightsError as error:
            what = {
                "shipped": f"neuralcodec's shipped weights at quality {quality!r}: ",
                "pretrained": f"CompressAI's {architecture}" + (f" quality {quality}" if quality is not None else "")
                + f" ({metric or 'mse'}): ",
            }.get(spec.resolved_source(), "")
            raise ModelNotFoundError(f"{what}{error}") from None
        return cls.from_loaded(loaded)

    @classmethod
    def default(cls, quality: Optional[float] = None, device: Device = "cpu") -> "Codec":
        """neuralcodec's shipped model, coding at ``quality`` (any number in its range,
        ``1 .. 4``; default :data:`neuralcodec.settings.DEFAULT_QUALITY`).

        Raises:
            ModelNotFoundError: the weights are not installed, or no such quality ships.
        """
        try:
            return cls.load(quality=quality, source="shipped", device=device)
        except ModelNotFoundError:
            raise
        except ValueError as error:
            raise ModelNotFoundError(f"neuralcodec's shipped weights at quality {quality!r}: {error}") from None

    @classmethod
    def zoo(
        cls,
        architecture: str,
        quality: Optional[float] = None,
        metric: str = "mse",
        device: Device = "cpu",
        progress: bool = True,
    ) -> "Codec":
        """CompressAI's published model (downloaded once into the cache, verified). A
        variable-rate architecture has one model for every rate: ``quality`` is then the
        continuous quality to code at (None: the default).

        Raises:
            ValueError: unknown architecture, quality or metric.
            ModelNotFoundError: the weights cannot be downloaded or read.
        """
        return cls.load(architecture, quality, metric, source="pretrained", device=device, progress=progress)

    @classmethod
    def from_checkpoint(
        cls,
        path: PathLike,
        architecture: Optional[str] = None,
        quality: Optional[float] = None,
        metric: str = "",
        device: Device = "cpu",
    ) -> "Codec":
        """The model in a weights file (any kind :mod:`neuralcodec.zoo.loader` reads: a
        neuralcodec ``.safetensors`` file, weight shards, a ``neuralcodec train``
        checkpoint, which name their architecture; or a torch state_dict / CompressAI
        training checkpoint, which needs ``architecture``).

        Raises:
            ModelNotFoundError: the file is missing or unreadable, or does not hold a
                model of that architecture.
            ModelMismatchError: the file names another architecture than ``architecture``.
            ValueError: ``architecture`` is missing or unknown for a torch checkpoint.
        """
        return cls.load(architecture, quality, metric or None, source="checkpoint", checkpoint=path, device=device)

    @classmethod
    def for_header(cls, header: Header, device: Device = "cpu", progress: bool = True) -> "Codec":
        """The model a file names, from neuralcodec's shipped weights or CompressAI's.

        Raises:
            ModelNotFoundError: the file was made with a user checkpoint (pass it
                explicitly), or the weights cannot be found or downloaded.
        """
        from neuralcodec.zoo import defaults

        named = header.model
        if named.origin == Origin.NEURALCODEC:
            if named.architecture == defaults.DEFAULT_ARCHITECTURE:
                return cls.default(device=device)  # one model: the file records the quality it was coded at
            if named.quality in PREVIOUS_DEFAULTS.get(named.architecture, {}):
                return cls.load(named.architecture, named.quality, source="shipped", device=device)
            shipped = [defaults.DEFAULT_ARCHITECTURE] + [
                f"{name} qualities {sorted(points)}" for name, points in PREVIOUS_DEFAULTS.items()
            ]
            raise ModelNotFoundError(
                f"the file needs neuralcodec's shipped {named.describe()}, which this installation does not "
                f"ship ({'; '.join(shipped)}): upgrade neuralcodec"
            )
        if named.origin == Origin.COMPRESSAI:
            try:
                return cls.zoo(named.architecture, named.quality, named.metric or "mse", device, progress)
            except ValueError as error:
                if isinstance(error, CodecError):
                    raise
                raise ModelNotFoundError(f"the file needs {named.describe()}: {error}") from None
        raise ModelNotFoundError(
            f"this file was made with a user checkpoint, {named.describe()}: pass that model "
            "(model= in Python, --checkpoint FILE on the command line)"
        )

    # ------------------------------------------------------------ coding
    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return _model_device(self.model)

    @property
    def coding_paths(self) -> Tuple[str, ...]:
        """The coding paths the model offers (``"compat"`` always; ``"engine"`` where it has one)."""
        return tuple(getattr(self.model, "coding_paths", ("compat",)))

    def check_coding_path(self, coding_path: Optional[str] = None) -> str:
        """The coding path an encoding with ``coding_path`` uses (None: the model's own).

        Raises:
            ValueError: the model does not offer that path (the message lists those it does).
        """
        available = self.coding_paths
        path = coding_path or getattr(self.model, "coding_path", "compat")
        if path not in available:
            raise ValueError(
                f"{self.identity.architecture} cannot code with the {path!r} path; it offers {', '.join(available)}"
            )
        return path

    def encode(
        self,
        image: Any,
        *,
        quality: Optional[float] = None,
        bpp: Optional[float] = None,
        size: Optional[Size] = None,
        drop_alpha: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        coding_path: Optional[str] = None,
        metadata: str = "icc",
        effort: int = 0,
        effort_progress: Optional[Callable[[int, int], None]] = None,
        tile_size: Optional[int] = DEFAULT_TILE_SIZE,
        tile_progress: Optional[Callable[[int, int], None]] = None,
    ) -> bytes:
        """The bytes of a neuralcodec file holding ``image``.

        Args:
            image: a path, a ``PIL.Image``, a uint8 array ``[H, W(, 3)]``, a
                :class:`~neuralcodec.codec.images.LoadedImage`, or a float tensor
                ``[3, H, W]`` / ``[1, 3, H, W]`` with values in ``[0, 1]``.
            quality: a variable-rate model's continuous quality for this image (default:
                the codec's :attr:`quality`).
            bpp, size: a target instead of a quality (variable-rate models): the file is
                the largest found that is not over ``bpp`` bits per pixel or ``size``
                bytes (an int, or a text such as ``"30KB"``); see :meth:`encode_target`.
            drop_alpha: code images with real transparency without their alpha.
            max_pixels: refuse images with more pixels.
            coding_path: ``"compat"`` or another path the model lists in
                ``coding_paths`` (default: the model's ``coding_path``).
            metadata: what of the source's metadata the file keeps (see
                :data:`METADATA_CHOICES`): ``"icc"`` its ICC colour profile (default:
                without it colours shift on colour-managed screens), ``"all"`` the
                profile and the EXIF block (orientation reset to 1), ``"none"`` nothing.
            effort: 0 (default) codes the analysis transform's latent; 1-3 first fit the
                latent to this image by :data:`~neuralcodec.models.refinement.EFFORT_STEPS`
                gradient steps on its rate-distortion loss
                (:func:`~neuralcodec.models.refinement.refine_latent`): smaller files at
                the same quality, encoding many times slower, the same decoder. Needs a
                model that codes a given latent, its :attr:`lmbda`, and at most
                :data:`~neuralcodec.models.refinement.MAX_REFINED_PIXELS` pixels.
            effort_progress: called with ``(steps done, steps)`` as the refinement runs.
            tile_size: run the analysis transform of an image larger than 1.5 tiles on a
                side over tiles of this side (memory bounded by the tile); None or 0:
                never tile (:attr:`~neuralcodec.models.base.CodingOptions.tile_size`).
            tile_progress: called with ``(tiles done, tiles)`` after each tile.

        Raises:
            ImageError: the image cannot be read or coded as it is.
            TargetOutOfRangeError: a target the model cannot reach for this image.
            ValueError: a quality or target for a model with discrete rate points, a
                quality outside the model's range, a quality and a target together, an
                effort the model or the image cannot take.
        """
        effort = self.check_effort(effort)
        if bpp is not None or size is not None:
            if quality is not None:
                raise ValueError("give a quality or a target (bpp=, size=), not both")
            if effort:
                raise ValueError("effort refines the latent at one quality; a target (bpp=, size=) searches the quality "
                                 "and is coded without refinement: give a quality with effort, or effort 0")
            return self.encode_target(
                image, bpp=bpp, size=size, drop_alpha=drop_alpha, max_pixels=max_pixels,
                coding_path=coding_path, metadata=metadata, tile_size=tile_size, tile_progress=tile_progress,
            ).data
        if metadata not in METADATA_CHOICES:
            raise ValueError(f"metadata must be one of {METADATA_CHOICES}, got {metadata!r}")
        if quality is not None and self.quality is None:
            raise ValueError(
                f"{self.identity.architecture} has discrete rate points (a model each): a quality per image needs a "
                "variable-rate model; build a Codec for the quality instead"
            )
        rate = self.quality if quality is None else self._check_rate(quality)
        options = CodingOptions(tile_size=tile_size, tile_progress=tile_progress)
        x, channels, extensions = self._input_tensor(image, drop_alpha, max_pixels, metadata)
        path = self.check_coding_path(coding_path)
        return self._encode_tensor(
            x.to(self.device), channels, extensions, path, rate, effort, effort_progress, options=options
        )

    def check_effort(self, effort: Any) -> int:
        """``effort`` as a level (0 to ``len(EFFORT_STEPS) - 1``) this codec can encode at.

        Raises:
            ValueError: not a level; or above 0 for a model that cannot code a given
                latent, or whose training lambda is unknown (the messages say what to pass).
        """
        return check_effort(effort, self.model, self.lambda_at(self.quality), self.identity.architecture)

    def lambda_at(self, quality: Optional[float] = None) -> Optional[float]:
        """The rate-distortion weight the model was trained for at ``quality``: a
        variable-rate model's own (``lambda_for_quality``; at the codec's quality when
        ``quality`` is None), else :attr:`lmbda`; None when unknown."""
        if isinstance(self.model, VariableRateModel) and self.lmbda is None:
            wanted = self.quality if quality is None else quality
            return None if wanted is None else float(self.model.lambda_for_quality(float(wanted)))
        return self.lmbda

    def encode_target(
        self,
        image: Any,
        *,
        bpp: Optional[float] = None,
        size: Optional[Size] = None,
        start: Optional[float] = None,
        slope: Optional[float] = None,
        tolerance: float = DEFAULT_TOLERANCE,
        drop_alpha: bool = False,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        coding_path: Optional[str] = None,
        metadata: str = "icc",
        tile_size: Optional[int] = DEFAULT_TILE_SIZE,
        tile_progress: Optional[Callable[[int, int], None]] = None,
    ) -> RateSearch:
        """The largest file of ``image`` not over a target, by a search over the
        continuous quality on the actual bytes (:func:`~neuralcodec.codec.rate.search_quality`;
        the analysis transform runs once).

        Args:
            image: as :meth:`encode` takes it.
            bpp: the target in bits per pixel of the whole file (header included).
            size: the target in bytes: an int, or a text such as ``"30KB"`` (units B, KB,
                KiB, MB, MiB, GB, GiB; :func:`~neuralcodec.codec.rate.parse_size`).
            start, slope: where the search starts and its prior slope of ``ln(bytes)``
                per quality unit (e.g. the last image's :class:`RateSearch` values).
            tolerance: a file at most this fraction under the target is accepted.
            drop_alpha, max_pixels, coding_path, metadata, tile_size, tile_progress: as
                :meth:`encode`.

        Returns:
            A :class:`~neuralcodec.codec.rate.RateSearch`: the file (``data``), its
            ``quality``, the ``target`` in bytes and every encode it ``tried``.

        Raises:
            TargetOutOfRangeError: the target is under the smallest file of the model's
                range or well over its largest (the message gives both).
            ValueError: the model has discrete rate points, or neither or both targets.
        """
        low_high = self.quality_range
        if low_high is None:
            raise ValueError(
                f"a target size needs a variable-rate model (a continuous quality); {self.identity.architecture} "
                f"has discrete rate points. Variable-rate models: {', '.join(VARIABLE_RATE_ARCHITECTURES)} "
                "and ElicLiteVbr"
            )
        if metadata not in METADATA_CHOICES:
            raise ValueError(f"metadata must be one of {METADATA_CHOICES}, got {metadata!r}")
        # One memo for this search, so the analysis runs once (it does not depend on the quality).
        options = CodingOptions(tile_size=tile_size, tile_progress=tile_progress, analysis=AnalysisMemo())
        x, channels, extensions = self._input_tensor(image, drop_alpha, max_pixels, metadata)
        pixels = int(x.shape[-2]) * int(x.shape[-1])
        target = target_bytes(pixels, bpp=bpp, size=size)
        path = self.check_coding_path(coding_path)
        x = x.to(self.device)  # one tensor for every encode, so the memo holds
        return search_quality(
            lambda q: self._encode_tensor(x, channels, extensions, path, q, options=options),
            *low_high, target, start=start, slope=slope, tolerance=tolerance, pixels=pixels,
        )

    def _encode_tensor(
        self,
        x: Tensor,
        channels: int,
        extensions: Tuple[Tuple[str, bytes], ...],
        path: str,
        quality: Optional[float],
        effort: int = 0,
        effort_progress: Optional[Callable[[int, int], None]] = None,
        *,
        options: Optional[CodingOptions] = None,
    ) -> bytes:
        """The file of ``x`` (``[1, 3, H, W]`` uint8 pixels or float in ``[0, 1]``, on the
        model's device) coded on ``path``, at ``quality`` for a variable-rate model (None
        otherwise), its latent refined at ``effort`` (checked by :meth:`check_effort`),
        with the call's ``options`` (tiles, analysis memo; the path is ``path``)."""
        height, width = int(x.shape[-2]), int(x.shape[-1])
        model = self.model
        options = CodingOptions() if options is None else options
        latent: Dict[str, Any] = {}
        rate: Dict[str, Any] = {}
        identity = self.identity
        if quality is not None:
            assert isinstance(model, VariableRateModel)
            with torch.no_grad(), bound_tables():
                rate = model.prepare_quality(quality, coding_path=path)
            rung_identity = self.rung_identity(quality)
            if rung_identity is not None:
                identity = rung_identity  # the rung's own file: no quality to record
            else:
                extensions = extensions + ((EXTENSION_QUALITY, encode_quality(quality)),)
        if effort:
            lmbda = self.lambda_at(quality)
            assert lmbda is not None  # check_effort
            metric = self.identity.metric or "mse"
            refined = refine_latent(
                model, x, lmbda, EFFORT_STEPS[effort], metric=metric, rate=rate, progress=effort_progress
            )
            latent = {"latent": refined.latent}
        # The header names the tables by the weights hash: any construction codes (bound_tables).
        with torch.no_grad(), bound_tables():
            out = model.compress(x, **_call_arguments(model, "compress", path, options), **rate, **latent)
        shape = out["shape"]
        if len(shape) != 2 or not all(isinstance(s, int) or (torch.is_tensor(s) and s.numel() == 1) for s in shape):
            raise ValueError(
                f"{type(model).__name__} on its {path!r} coding path writes nested strings (CompressAI's "
                f"latent-codec layout), which the container does not store: encode with coding_path='engine', "
                f"or call model.compress() directly for CompressAI's strings"
            )
        strings = [bytes(group[0]) for group in out["strings"]]
        stride = int(model.downsampling_factor)
        header = Header(
            model=identity,
            coding_path=path,
            height=height,
            width=width,
            padding=expected_padding(height, width, stride),
            bit_depth=8,
            channels=channels,
            latent_shape=(int(shape[0]), int(shape[1])),
            string_lengths=tuple(len(s) for s in strings),
            extensions=extensions,
        )
        if header.stride != stride or header.padded_size != (
            header.latent_shape[0] * stride,
            header.latent_shape[1] * stride,
        ):
            raise RuntimeError(
                f"{type(model).__name__} produced a latent of {header.latent_shape} for a padded "
                f"{header.padded_size} image, inconsistent with its stride {stride}"
            )
        return pack(header, strings)

    @staticmethod
    def _input_tensor(
        image: Any, drop_alpha: bool, max_pixels: int, metadata: str = "none"
    ) -> Tuple[Tensor, int, Tuple[Tuple[str, bytes], ...]]:
        """``(x, source channels, container extensions holding the kept ``metadata``)``
        for any accepted input; ``x`` is ``[1, 3, H, W]``: uint8 pixels for an image (a
        view of its ``[H, W, 3]`` array; the model reads them tile by tile, so no float
        copy of a large image is made), float in ``[0, 1]`` for a float tensor."""
        if isinstance(image, Tensor):
            x = image.detach()
            if x.dim() == 3:
                x = x.unsqueeze(0)
            if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3 or not x.is_floating_point():
                raise ImageError(
                    f"a tensor image must be float [3, H, W] or [1, 3, H, W] in [0, 1], got {x.dtype} {tuple(x.shape)}"
                )
            height, width = int(x.shape[-2]), int(x.shape[-1])
            if height < 1 or width < 1:
                raise ImageError(f"the image is empty ({width}x{height})")
            if height * width > max_pixels:
                raise ImageError(f"{width}x{height} pixels, more than max_pixels = {max_pixels:,}")
            if not bool(torch.isfinite(x).all()):
                raise ImageError("the image tensor holds NaN or infinite values")
            low, high = float(x.min()), float(x.max())
            if low < 0.0 or high > 1.0:
                raise ImageError(
                    f"a float image tensor must hold values in [0, 1], this one spans [{low:g}, {high:g}]: "
                    "divide 8-bit values by 255, or clamp the tensor if the excess is rounding noise"
                )
            return x.float(), 3, ()
        loaded = image if isinstance(image, LoadedImage) else load_image(
            image, drop_alpha=drop_alpha, max_pixels=max_pixels
        )
        extensions: List[Tuple[str, bytes]] = []
        if metadata in ("icc", "all") and loaded.icc_profile:
            extensions.append((EXTENSION_ICC, loaded.icc_profile))
        if metadata == "all" and loaded.exif:
            extensions.append((EXTENSION_EXIF, loaded.exif))
        return _pixels_to_tensor(loaded.pixels), loaded.channels, tuple(extensions)

    def decode(
        self,
        data: Union[bytes, bytearray, memoryview, str, Path],
        *,
        output: str = "pil",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_strings: int = DEFAULT_MAX_STRINGS,
        max_string_bytes: int = DEFAULT_MAX_STRING_BYTES,
        tile_size: Optional[int] = DEFAULT_TILE_SIZE,
        tile_progress: Optional[Callable[[int, int], None]] = None,
    ) -> Any:
        """Decodes a file made with this model (its bytes or its path); see :func:`~neuralcodec.codec.facade.decode_image`
        and, for ``tile_size`` and ``tile_progress``, :meth:`decode_parsed`."""
        if isinstance(data, (str, Path)):
            data = Path(data).read_bytes()
        header, strings = unpack(
            data, max_pixels=max_pixels, max_strings=max_strings, max_string_bytes=max_string_bytes
        )
        return self.decode_parsed(header, strings, output=output, tile_size=tile_size, tile_progress=tile_progress)

    def check_can_decode(self, header: Header) -> None:
        """Refuses a file made with another model or a coding path this model lacks.

        Raises:
            ModelMismatchError: naming the file's model and this one.
        """
        mine, theirs = self.identity, header.model
        if self._rung_quality(header) is not None:
            mine = theirs  # a file of one of this ladder's rungs alone
        if mine.architecture != theirs.architecture or mine.weights_sha256 != theirs.weights_sha256:
            hint = ""
            if mine.architecture == theirs.architecture and theirs.origin == Origin.CHECKPOINT:
                hint = (
                    ". The hash covers the CDF tables: if the checkpoint has none and the file was written by an "
                    "earlier neuralcodec, its tables came from CompressAI's float construction; rebuild them with "
                    'model.update(force=True, method="compressai") (docs/determinism.md, "The CDF tables")'
                )
            raise ModelMismatchError(
                f"the file was made with {theirs.describe()}, but the model at hand is {mine.describe()}; "
                f"decode it with the file's model{hint}"
            )
        available = self.coding_paths
        if header.coding_path not in available:
            raise ModelMismatchError(
                f"the file was coded with the {header.coding_path!r} path, which this {mine.architecture} model "
                f"does not offer (it offers {', '.join(available)}); upgrade neuralcodec"
            )

    def rung_identity(self, quality: float) -> Optional[ModelIdentity]:
        """For a rate ladder at the own rate of one of its rungs (an integer quality): the
        identity of that rung alone, which the files coded there name (the rung's very
        bytes, so any reader of the fixed-rate model's files decodes them, and they are not
        longer by the ladder's name and quality); None for any other model or quality. The
        rung's weights hash is computed on first use and kept."""
        model = self.model
        if not isinstance(model, MeanScaleLadder) or not float(quality).is_integer():
            return None
        point = int(quality)
        if not 1 <= point <= len(model.rungs):
            return None
        known = self._rung_identities.get(point)
        if known is None:  # (two threads may both compute it: the same value)
            ours = self.identity
            known = ModelIdentity(
                model.rung_architecture, point if ours.origin == Origin.NEURALCODEC else 0, ours.metric, ours.origin,
                weights_sha256(model.fixed_rate_state_dict(point - 1)),
            )
            self._rung_identities[point] = known
        return known

    def _rung_quality(self, header: Header) -> Optional[int]:
        """The integer quality of the ladder's rung whose file this is (the file names the
        rung alone: its architecture and weights hash), or None."""
        model, named = self.model, header.model
        if not isinstance(model, MeanScaleLadder) or named.architecture != model.rung_architecture:
            return None
        for point in range(1, len(model.rungs) + 1):
            if cast(ModelIdentity, self.rung_identity(point)).weights_sha256 == named.weights_sha256:
                return point
        return None

    def _file_quality(self, header: Header) -> Optional[float]:
        """The quality the file was coded at (its ``QUAL`` extension), checked against the
        model; None for a file without one (a variable-rate model then decodes at its
        defaults, as an earlier writer coded it).

        Raises:
            FormatError: a quality in a file of a model with discrete rate points, or one
                outside the model's range.
        """
        quality = header.coded_quality
        if quality is None:
            return None
        name = header.model.architecture
        if not isinstance(self.model, VariableRateModel):
            raise FormatError(
                f"malformed header: the file records a continuous quality ({quality:g}), but {name} has discrete "
                "rate points"
            )
        low, high = self.model.qualities()
        if not low <= quality <= high:
            raise FormatError(
                f"the file records quality {quality:g}, outside {name}'s range {low:g}..{high:g}: the file is "
                "corrupted or was not made with this model"
            )
        return quality

    def decode_parsed(
        self,
        header: Header,
        strings: Sequence[bytes],
        *,
        output: str = "pil",
        tile_size: Optional[int] = DEFAULT_TILE_SIZE,
        tile_progress: Optional[Callable[[int, int], None]] = None,
    ) -> Any:
        """Decodes strings already checked by :func:`~neuralcodec.codec.container.unpack`.

        ``tile_size``: run the synthesis transform of an image larger than 1.5 tiles on a
        side over tiles of this side (None or 0: never); ``tile_progress``: called with
        ``(tiles done, tiles)`` after each tile. The decoded pixels do not depend on them
        beyond float rounding before the 8-bit rounding."""
        if output not in ("pil", "tensor", "numpy"):
            raise ValueError(f"output must be 'pil', 'tensor' or 'numpy', got {output!r}")
        options = CodingOptions(tile_size=tile_size, tile_progress=tile_progress, pixels_out=output != "tensor")
        self.check_can_decode(header)
        stride = int(self.model.downsampling_factor)
        if header.stride != stride:
            raise FormatError(
                f"malformed header: latent shape {header.latent_shape} for a padded image of {header.padded_size} "
                f"implies stride {header.stride}, but {header.model.architecture} has stride {stride}"
            )
        size = (header.height, header.width)
        rung = self._rung_quality(header)
        if rung is not None and header.coded_quality is not None:
            raise FormatError(
                f"malformed header: the file names the fixed-rate {header.model.architecture} but records a "
                f"continuous quality ({header.coded_quality:g})"
            )
        quality = float(rung) if rung is not None else self._file_quality(header)
        try:
            with torch.no_grad(), bound_tables():
                path = header.coding_path
                rate: Dict[str, Any] = {}
                if quality is not None:
                    assert isinstance(self.model, VariableRateModel)
                    rate = self.model.prepare_quality(quality, coding_path=path)
                out = self.model.decompress(
                    [[s] for s in strings], header.latent_shape, x_size=size,
                    **_call_arguments(self.model, "decompress", path, options), **rate,
                )  # fmt: skip
        except StreamError as error:
            raise FormatError(f"the entropy-coded data does not decode: {error}") from None
        except ValueError as error:
            # The model refuses strings that do not fit it (e.g. their number).
            raise FormatError(f"the file's strings do not fit {header.model.architecture}: {error}") from None
        except EngineUnsupportedError as error:  # the model, not the file, is at fault
            raise ModelMismatchError(
                f"this {type(self.model).__name__} cannot run the file's {header.coding_path!r} coding path: {error}"
            ) from None
        x_hat = out["x_hat"]
        if tuple(x_hat.shape) != (1, 3, header.height, header.width):
            raise FormatError(f"decoding gave an image of shape {tuple(x_hat.shape)}, expected {(1, 3) + size}")
        if output == "tensor":
            return x_hat
        pixels = _tensor_to_pixels(x_hat)
        if output == "numpy":
            return pixels[..., 0].copy() if header.channels == 1 else pixels
        image = pixels_to_pil(pixels, header.channels)
        if header.icc_profile:
            image.info["icc_profile"] = header.icc_profile
        if header.exif:
            image.info["exif"] = header.exif
        return image


def _pixels_to_tensor(pixels: np.ndarray) -> Tensor:
    """uint8 ``[H, W, 3]`` -> uint8 ``[1, 3, H, W]``, a channels-last view of the same
    memory (copied only when not writable or not C-contiguous)."""
    if not pixels.flags.writeable or not pixels.flags.c_contiguous:
        pixels = np.array(pixels, dtype=np.uint8, order="C")  # torch wants a writable buffer
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)


def _tensor_to_pixels(x_hat: Tensor) -> np.ndarray:
    """``[1, 3, H, W]`` -> uint8 ``[H, W, 3]`` on the CPU: uint8 pixels as they are (no copy
    when channels-last, as ``decompress`` makes them with ``CodingOptions.pixels_out``), a float image in
    ``[0, 1]`` by :func:`~neuralcodec.models.base.unit_to_pixels` (which overwrites a CPU
    float32 ``x_hat``: pass one nobody needs afterwards)."""
    x = x_hat[0].detach()
    if x.dtype != torch.uint8:
        x = unit_to_pixels(x.to("cpu"))
    return x.cpu().permute(1, 2, 0).numpy()


def _rate_point(quality: Any, architecture: str) -> int:
    """A discrete rate point to record: an integer 0..255 (a float with an integer value
    counts as it).

    Raises:
        ValueError: a fractional quality (it needs a variable-rate model), or another value.
    """
    if isinstance(quality, float) and quality.is_integer():
        quality = int(quality)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 255:
        if isinstance(quality, float):
            raise ValueError(
                f"{architecture} has discrete rate points (integer qualities): a fractional quality ({quality!r}) "
                f"needs a variable-rate model ({', '.join(VARIABLE_RATE_ARCHITECTURES)}, ElicLiteVbr)"
            )
        raise ValueError(f"the quality of {architecture} is an integer rate point 0..255 (0: unknown), got {quality!r}")
    return quality

