"""Exporting a model's neural transforms to TorchScript and ONNX.

The four transforms of a compression model are exported one file each (the factorized
prior has only the first two):

=====  ==========================================  =======================================
name   maps                                        shapes (``s``: the transform's stride)
=====  ==========================================  =======================================
g_a    image ``x`` -> latent ``y``                 ``[B, 3, H, W] -> [B, M, H/s, W/s]``
g_s    quantized latent ``y_hat`` -> ``x_hat``     ``[B, M, h, w] -> [B, 3, h*s, w*s]``
h_a    latent ``y`` -> side information ``z``      ``[B, M, h, w] -> [B, Nz, h/s, w/s]``
h_s    ``z_hat`` -> entropy parameters             ``[B, Nz, h, w] -> [B, P, h*s, w*s]``
=====  ==========================================  =======================================

What is exported is exactly the module the model runs, with two adjustments that
change no output bit: GDN layers are frozen (:func:`neuralcodec.export.frozen.freeze`),
and for the scale hyperprior (``bmshj2018-hyperprior``), whose model feeds ``|y|`` to
``h_a``, the absolute value is part of the exported ``h_a``. The entropy coding itself
(quantization, CDF tables, the rANS coder, the autoregressive context model) is not a
neural-network graph and is not exported: decoders use neuralcodec's Rust coder for it
(see :mod:`neuralcodec.export.ort_decoder`).

* TorchScript files are made with :func:`torch.jit.script` (the default: no shape is
  baked in) or :func:`torch.jit.trace`, and load with :func:`torch.jit.load` without
  neuralcodec installed. They give the same outputs as the PyTorch model, bit for bit,
  on the same machine and build.
* ONNX files have dynamic batch, height and width axes and are made by torch's
  TorchScript-based exporter at opset 17 (the default: fast, present in every torch 2.x)
  or by its ``torch.export``-based exporter (``exporter="dynamo"``, opset 18, needs the
  ``onnxscript`` package). onnxruntime's outputs agree with PyTorch's within float32
  rounding (a relative error around ``1e-6``, from a different order of summation).

Every export writes or updates ``manifest.json`` in the folder (see
:mod:`neuralcodec.export.manifest`).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union, cast

import torch
from torch import Tensor, nn

from neuralcodec.export.frozen import freeze
from neuralcodec.export.manifest import (
    FORMATS,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    ManifestError,
    file_sha256,
    read_manifest,
)
from neuralcodec.files import write_atomic

if TYPE_CHECKING:
    from neuralcodec.latent_codecs.description import ModelDescription

__all__ = [
    "DEFAULT_OPSET",
    "TRANSFORMS",
    "export",
    "export_onnx",
    "export_torchscript",
    "exportable_transforms",
    "hyper_analysis",
    "transform_module",
]

#: The transforms that are exported when present, in this order.
TRANSFORMS = ("g_a", "g_s", "h_a", "h_s")
#: Default ONNX opset per exporter.
DEFAULT_OPSET = {"torchscript": 17, "dynamo": 18}

PathLike = Union[str, Path]


def _description(model: nn.Module) -> Optional["ModelDescription"]:
    """The model's coding graph (made once, :func:`neuralcodec.engine.describe`), or None
    for a module that does not describe itself."""
    from neuralcodec import engine

    if not callable(getattr(model, "describe", None)):
        return None
    try:
        return engine.describe(model)
    except NotImplementedError:  # a latent codec that does not describe itself
        return None


def _prefixes(model: nn.Module) -> Dict[str, str]:
    """Transform name -> the module's prefix in ``model``: from its description (so a
    composition of latent codecs exports its ``h_a`` and ``h_s`` wherever they sit), or,
    for a module that does not describe itself, its attributes of those names."""
    description = _description(model)
    if description is not None:
        return description.transforms()
    return {name: name for name in TRANSFORMS if isinstance(getattr(model, name, None), nn.Module)}


def hyper_analysis(model: nn.Module) -> Optional[nn.Module]:
    """What ``model``'s hyper branch applies to ``y``, which the export writes as ``h_a``:
    the model's ``hyper_analysis()`` where it has one (e.g. ``h_a`` after ``|.|`` in Ballé's
    scale hyperprior), else the ``h_a`` its description names (None without one)."""
    method = getattr(model, "hyper_analysis", None)
    if callable(method):
        return cast(nn.Module, method())
    prefix = _prefixes(model).get("h_a")
    return None if prefix is None else model.get_submodule(prefix)


def transform_module(model: nn.Module, name: str) -> Optional[nn.Module]:
    """The module the exported transform ``name`` runs (None when the model has none)."""
    if name == "h_a":
        return hyper_analysis(model)
    prefix = _prefixes(model).get(name)
    return None if prefix is None else model.get_submodule(prefix)


def _h_s_output(model: nn.Module) -> Tuple[str, str]:
    """Name and meaning of the hyper-synthesis output of ``model``, from its coding graph:
    what the parameters are to the node that reads them."""
    description = _description(model)
    return ("params", "entropy parameters of y") if description is None else description.hyper_output()


def _roles(model: nn.Module) -> Dict[str, Tuple[str, str, str]]:
    """transform -> (input name, output name, role)."""
    h_a_role = "hyper-analysis: latent y -> side information z"
    prefix = _prefixes(model).get("h_a")
    if hyper_analysis(model) is not (None if prefix is None else model.get_submodule(prefix)):
        h_a_role += " (takes y; what the model computes from it first is inside, e.g. |y|)"
    h_s_name, h_s_meaning = _h_s_output(model)
    return {
        "g_a": ("x", "y", "analysis: image in [0, 1], padded to the model's stride -> latent y"),
        "g_s": ("y_hat", "x_hat", "synthesis: quantized latent -> image, before clamping to [0, 1] and cropping"),
        "h_a": ("y", "z", h_a_role),
        "h_s": ("z_hat", h_s_name, f"hyper-synthesis: quantized side information -> {h_s_meaning}"),
    }


def exportable_transforms(model: nn.Module, names: Optional[Sequence[str]] = None) -> Dict[str, nn.Module]:
    """The frozen, CPU, inference-only modules that are exported, by transform name.

    Args:
        model: a compression model: the transforms are those its description names
            (``describe()``: ``g_a``, ``g_s``, and ``h_a``, ``h_s`` wherever its latent
            codecs hold them); a module without one exports its attributes ``g_a``,
            ``g_s``, ``h_a``, ``h_s``.
        names: which transforms; default all that the model has.

    Raises:
        ValueError: an unknown name, or one the model does not have.
    """
    present = [name for name in TRANSFORMS if transform_module(model, name) is not None]
    if names is None:
        names = present
    for name in names:
        if name not in TRANSFORMS:
            raise ValueError(f"unknown transform {name!r}; the transforms are {', '.join(TRANSFORMS)}")
        if name not in present:
            raise ValueError(f"{type(model).__name__} has no {name} (it has {', '.join(present)})")
    if not names:
        raise ValueError(f"{type(model).__name__} has none of the transforms {', '.join(TRANSFORMS)}")
    modules: Dict[str, nn.Module] = {}
    for name in TRANSFORMS:
        if name in names:
            modules[name] = freeze(cast(nn.Module, transform_module(model, name))).cpu()
    return modules


def _stride(model: nn.Module) -> int:
    return int(getattr(model, "downsampling_factor", 64))


@torch.no_grad()
def _example_inputs(model: nn.Module, size: Optional[int]) -> Dict[str, Tensor]:
    """An input per transform, chained as the model chains them (batch of 2).

    The image side is ``size`` (default twice the model's stride), so every latent is at
    least 2x2: the ``torch.export``-based exporter would fix a size-1 axis to 1.
    """
    stride = _stride(model)
    size = 2 * stride if size is None else int(size)
    if size < 1 or size % stride:
        raise ValueError(f"example_size must be a positive multiple of {stride}, got {size}")
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, size, size, generator=generator)
    frozen = exportable_transforms(model)
    inputs = {"g_a": x}
    y = frozen["g_a"](x) if "g_a" in frozen else None
    if y is None:
        raise ValueError(f"{type(model).__name__} has no g_a, so no example inputs can be derived")
    if "g_s" in frozen:
        inputs["g_s"] = torch.round(y)
    if "h_a" in frozen:
        inputs["h_a"] = y
        z = frozen["h_a"](y)
        if "h_s" in frozen:
            inputs["h_s"] = torch.round(z)
    return inputs


def _axis_expression(axis: str, scale: float) -> str:
    if scale == 1:
        return axis
    if scale > 1:
        return f"{axis}*{int(round(scale))}"
    return f"{axis}/{int(round(1 / scale))}"


@contextlib.contextmanager
def _quiet_torch_deprecations() -> Iterator[None]:
    """Silences torch's notices that TorchScript and its ONNX exporter are deprecated
    (neuralcodec chooses them knowingly; see the module documentation)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch(\.|$)")
        warnings.filterwarnings("ignore", message=r".*(TorchScript|torch\.jit|legacy).*", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*(TorchScript|torch\.jit).*", category=FutureWarning)
        yield


def _write_atomically(path: Path, write: Any) -> None:
    """Serialises with ``write(buffer)`` into memory and writes the bytes with
    :func:`neuralcodec.files.write_atomic` (replacing ``path``: the caller decided)."""
    buffer = io.BytesIO()
    write(buffer)
    write_atomic(path, buffer.getvalue(), force=True)


def _save_torchscript(module: nn.Module, example: Tensor, path: Path, method: str) -> None:
    with _quiet_torch_deprecations():
        if method == "script":
            compiled = torch.jit.script(module)
        else:
            compiled = torch.jit.trace(module, example, check_trace=False)
        _write_atomically(path, lambda buffer: torch.jit.save(compiled, buffer))


def _save_onnx(
    module: nn.Module, example: Tensor, path: Path, names: Tuple[str, str], opset: int, exporter: str
) -> None:
    input_name, output_name = names
    kwargs: Dict[str, Any] = {"input_names": [input_name], "output_names": [output_name], "opset_version": opset}
    accepts_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
    if exporter == "dynamo":
        if not accepts_dynamo:
            raise RuntimeError(f"torch {torch.__version__} has no torch.export-based ONNX exporter; use exporter='torchscript'")
        dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
        kwargs.update(dynamo=True, dynamic_shapes=(dims,), external_data=False, verbose=False)
    else:
        kwargs["dynamic_axes"] = {
            input_name: {0: "batch", 2: "height", 3: "width"},
            output_name: {0: "batch", 2: f"{output_name}_height", 3: f"{output_name}_width"},
        }
        if accepts_dynamo:
            kwargs["dynamo"] = False

    def write(target: io.BytesIO) -> None:
        with _quiet_torch_deprecations(), contextlib.redirect_stdout(None):  # type: ignore[type-var]
            # torch's stub types f as a path, but the exporter writes to a binary file object too
            torch.onnx.export(module, (example,), target, **kwargs)  # type: ignore[arg-type]

    _write_atomically(path, write)


def _model_identity(model: nn.Module, metadata: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    from neuralcodec.codec.identity import architecture_of, weights_sha256

    identity: Dict[str, Any] = {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "architecture": architecture_of(model),
    }
    for attribute in ("N", "M"):
        if isinstance(getattr(model, attribute, None), int):
            identity[attribute] = int(getattr(model, attribute))
    identity["downsampling_factor"] = _stride(model)
    identity["weights_sha256"] = weights_sha256(model).hex()
    identity["coding_paths"] = list(getattr(model, "coding_paths", ("compat",)))
    identity["metadata"] = {str(k): str(v) for k, v in (metadata or {}).items()}
    return identity


def _load_existing(
    out_dir: Path, identity: Mapping[str, Any], overwrite: bool
) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """The transforms and entropy entry of a manifest already in ``out_dir`` for the
    same weights (merged into), or nothing."""
    if not (out_dir / MANIFEST_NAME).exists():
        return {}, None
    try:
        existing = read_manifest(out_dir)
    except ManifestError:
        if overwrite:
            return {}, None
        raise
    if existing["model"].get("weights_sha256") == identity["weights_sha256"]:
        return dict(existing["transforms"]), existing.get("entropy")
    if overwrite:
        return {}, None
    raise FileExistsError(
        f"{out_dir} holds an export of another model (weights sha256 "
        f"{str(existing['model'].get('weights_sha256'))[:16]}...); choose another folder or pass overwrite=True"
    )


def export(
    model: nn.Module,
    out_dir: PathLike,
    *,
    formats: Sequence[str] = ("torchscript", "onnx"),
    transforms: Optional[Sequence[str]] = None,
    method: str = "script",
    opset: Optional[int] = None,
    exporter: str = "torchscript",
    example_size: Optional[int] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
    entropy: Optional[bool] = None,
) -> Dict[str, Any]:
    """Exports the transforms of ``model`` to ``out_dir`` and writes ``manifest.json``.

    Files are named ``{transform}.pt`` (TorchScript) and ``{transform}.onnx``. An
    existing export of the same weights in ``out_dir`` is updated (its other files stay
    listed); an export of other weights is refused unless ``overwrite``.

    Args:
        model: a compression model; it is not modified (frozen copies are exported, on CPU,
            in float32).
        out_dir: the folder to write (created if needed).
        formats: any of ``"torchscript"``, ``"onnx"``.
        transforms: which of ``g_a``, ``g_s``, ``h_a``, ``h_s``; default all the model has.
        method: TorchScript by ``"script"`` (default) or ``"trace"``.
        opset: ONNX opset (default :data:`DEFAULT_OPSET` of the exporter).
        exporter: ONNX exporter, ``"torchscript"`` (default) or ``"dynamo"``.
        example_size: side in pixels of the example image that shapes are derived from
            and that tracing uses; a multiple of the model's stride (default twice it).
        metadata: strings to record in the manifest's ``model.metadata`` (e.g. quality).
        overwrite: replace an export of another model.
        entropy: also write ``entropy.safetensors``, the CDF tables and engine networks
            that decode latents without PyTorch (:mod:`neuralcodec.export.entropy`):
            ``True`` requires it, ``False`` skips it, ``None`` (default) writes it when
            the model allows (zoo family, tables built) and records why not otherwise.

    Returns:
        The manifest written (see :mod:`neuralcodec.export.manifest`).

    Raises:
        ValueError: an unknown format, method, exporter or transform.
        FileExistsError: ``out_dir`` holds an export of other weights.
        EntropyExportError: ``entropy=True`` and the entropy coding cannot be exported.
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; the formats are {', '.join(FORMATS)}")
    if not formats:
        raise ValueError("formats must name at least one format")
    if method not in ("script", "trace"):
        raise ValueError(f"method must be 'script' or 'trace', got {method!r}")
    if exporter not in DEFAULT_OPSET:
        raise ValueError(f"exporter must be one of {', '.join(DEFAULT_OPSET)}, got {exporter!r}")
    opset = DEFAULT_OPSET[exporter] if opset is None else int(opset)

    modules = exportable_transforms(model, transforms)
    examples = _example_inputs(model, example_size)
    roles = _roles(model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    identity = _model_identity(model, metadata)
    entries, entropy_entry = _load_existing(out_dir, identity, overwrite)
    if entropy is not False:
        from neuralcodec.export.entropy import EntropyExportError, export_entropy

        try:
            entropy_entry = export_entropy(model, out_dir)
        except EntropyExportError as error:
            if entropy:
                raise
            entropy_entry = {"skipped": str(error)}

    for name, module in modules.items():
        example = examples[name]
        with torch.no_grad():
            output = module(example)
        scale = output.shape[-1] / example.shape[-1]
        input_name, output_name, role = roles[name]
        previous = entries.get(name, {})
        files: Dict[str, Any] = {k: v for k, v in previous.get("files", {}).items() if k not in formats}
        if "torchscript" in formats:
            path = out_dir / f"{name}{FORMATS['torchscript']}"
            _save_torchscript(module, example, path, method)
            files["torchscript"] = {"path": path.name, "sha256": file_sha256(path), "method": method}
        if "onnx" in formats:
            path = out_dir / f"{name}{FORMATS['onnx']}"
            _save_onnx(module, example, path, (input_name, output_name), opset, exporter)
            files["onnx"] = {"path": path.name, "sha256": file_sha256(path), "opset": opset, "exporter": exporter}
        entries[name] = {
            "role": role,
            "input": {"name": input_name, "shape": ["batch", int(example.shape[1]), "height", "width"]},
            "output": {
                "name": output_name,
                "shape": [
                    "batch",
                    int(output.shape[1]),
                    _axis_expression("height", scale),
                    _axis_expression("width", scale),
                ],
            },
            "scale": scale,
            "size_multiple": max(1, int(round(1 / scale))) if scale < 1 else 1,
            "files": files,
        }

    from neuralcodec import __version__

    manifest = {
        "format": "neuralcodec-export",
        "version": MANIFEST_VERSION,
        "neuralcodec_version": __version__,
        "torch_version": torch.__version__,
        "dtype": "float32",
        "layout": "NCHW",
        "model": identity,
        "transforms": {name: entries[name] for name in TRANSFORMS if name in entries},
    }
    if entropy_entry is not None:
        manifest["entropy"] = entropy_entry
    text = json.dumps(manifest, indent=2) + "\n"
    write_atomic(out_dir / MANIFEST_NAME, text.encode("utf-8"), force=True)
    return manifest


def export_torchscript(
    model: nn.Module,
    out_dir: PathLike,
    *,
    transforms: Optional[Sequence[str]] = None,
    method: str = "script",
    example_size: Optional[int] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
    entropy: Optional[bool] = None,
) -> Dict[str, Any]:
    """Exports the transforms of ``model`` to TorchScript files ``{transform}.pt``.

    Same arguments as :func:`export`; returns the manifest.

    Example (a small random model)::

        >>> import tempfile, torch
        >>> from neuralcodec.models import ScaleHyperprior
        >>> from neuralcodec.export import export_torchscript
        >>> model = ScaleHyperprior(N=8, M=12).eval()
        >>> out = tempfile.mkdtemp()
        >>> manifest = export_torchscript(model, out)
        >>> sorted(manifest["transforms"])
        ['g_a', 'g_s', 'h_a', 'h_s']
        >>> manifest["transforms"]["g_a"]["output"]["shape"]
        ['batch', 12, 'height/16', 'width/16']
        >>> g_s = torch.jit.load(f"{out}/g_s.pt")
        >>> y_hat = torch.round(model.g_a(torch.rand(1, 3, 64, 96)))
        >>> torch.equal(g_s(y_hat), model.g_s(y_hat))
        True
    """
    return export(
        model,
        out_dir,
        formats=("torchscript",),
        transforms=transforms,
        method=method,
        example_size=example_size,
        metadata=metadata,
        overwrite=overwrite,
        entropy=entropy,
    )


def export_onnx(
    model: nn.Module,
    out_dir: PathLike,
    *,
    transforms: Optional[Sequence[str]] = None,
    opset: Optional[int] = None,
    exporter: str = "torchscript",
    example_size: Optional[int] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    overwrite: bool = False,
    entropy: Optional[bool] = None,
) -> Dict[str, Any]:
    """Exports the transforms of ``model`` to ONNX files ``{transform}.onnx`` with dynamic
    batch, height and width axes.

    Same arguments as :func:`export`; returns the manifest. Run the files with
    onnxruntime (``pip install onnxruntime``); input and output names are in the
    manifest (``x -> y`` for ``g_a``, ``y_hat -> x_hat`` for ``g_s``, ...).
    """
    return export(
        model,
        out_dir,
        formats=("onnx",),
        transforms=transforms,
        opset=opset,
        exporter=exporter,
        example_size=example_size,
        metadata=metadata,
        overwrite=overwrite,
        entropy=entropy,
    )
