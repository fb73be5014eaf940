"""Decoding ``.nci`` files without PyTorch: the Rust coder and engine for the latents,
onnxruntime for the synthesis transform.

An export folder made with ``neuralcodec export`` (or :func:`neuralcodec.export.export`
with the ONNX format and the entropy tables, the defaults) holds everything a decoder
needs: ``g_s.onnx``, ``entropy.safetensors`` (CDF tables and the networks that predict
the Gaussian parameters, see :mod:`neuralcodec.export.entropy`) and ``manifest.json``.
:class:`OrtDecoder` decodes with numpy, safetensors, onnxruntime and neuralcodec's
native module; it never imports torch::

    from neuralcodec.export.ort_decoder import OrtDecoder

    decoder = OrtDecoder("exported/")
    pixels = decoder.decode(open("photo.nci", "rb").read())   # uint8 [H, W, 3]

What is decoded, and how exactly:

* the side information ``z`` and, for the factorized prior, ``y``: the entropy
  bottleneck's tables and medians, with the rANS decoder — the same integers and the
  same float32 additions as PyTorch, so the same values;
* ``y`` of every other model: its coding graph (the manifest's spec, see
  :mod:`neuralcodec.graph_spec`: hyper-synthesis, context and parameter networks,
  checkerboards, channel groups) runs in the Rust engine (files of the ``"engine"``
  coding path, the default), which computes the same bits as the encoder on every
  machine — so ``y_hat`` is identical to PyTorch's decode, bit for bit;
* the image: ``g_s`` in onnxruntime, which agrees with PyTorch to float32 rounding; after
  the clamp to ``[0, 1]`` and the rounding to 8 bits, a pixel can differ from
  PyTorch's decode by one level where the value lies next to a rounding boundary.

Files of the ``"compat"`` coding path of the hyperprior models compute their scales
with PyTorch's ``h_s``, which only PyTorch reproduces; they are refused with a
:class:`~neuralcodec.codec.errors.ModelMismatchError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from neuralcodec.ans import CdfTable, RansDecoder, StreamError
from neuralcodec.codec.container import DEFAULT_MAX_PIXELS, Header, unpack
from neuralcodec.codec.errors import FormatError, ModelMismatchError
from neuralcodec.codec.images import unit_array_to_pixels
from neuralcodec.export.manifest import ManifestError, read_manifest, transform_entry, verify_files
from neuralcodec.graph_spec import build_graph
from neuralcodec.settings import engine_threads

__all__ = ["OrtDecoder"]

PathLike = Union[str, Path]


def _table(tensors: Dict[str, np.ndarray], prefix: str) -> CdfTable:
    return CdfTable(tensors[f"{prefix}.quantized_cdf"], tensors[f"{prefix}.cdf_length"], tensors[f"{prefix}.offset"])


class OrtDecoder:
    """A decoder for the files of one exported model; see the module documentation.

    Args:
        folder: the export folder (``manifest.json``, ``g_s.onnx``, ``entropy.safetensors``).
        threads: threads of the Rust engine (default: ``NEURALCODEC_ENGINE_THREADS``, else
            the CPUs this process may run on; results do not
            depend on it).
        ort_threads: intra-op threads of onnxruntime (default: onnxruntime's choice).
        providers: onnxruntime execution providers (default: the CPU).
        verify: check the SHA-256 of every file against the manifest first.

    Raises:
        ManifestError: the folder lacks ``g_s.onnx`` or the entropy tables, or a file
            differs from the manifest.
        ImportError: onnxruntime is not installed.
    """

    def __init__(
        self,
        folder: PathLike,
        *,
        threads: Optional[int] = None,
        ort_threads: Optional[int] = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        verify: bool = True,
    ) -> None:
        import onnxruntime
        from safetensors.numpy import load_file

        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        if verify:
            verify_files(self.folder, self.manifest)
        entropy = self.manifest.get("entropy")
        if not entropy or "path" not in entropy:
            reason = (entropy or {}).get("skipped", "the export has no entropy tables")
            raise ManifestError(f"{self.folder}: cannot decode without PyTorch: {reason}")
        g_s = transform_entry(self.folder, self.manifest, "g_s")
        if "onnx" not in g_s.files:
            raise ManifestError(f"{self.folder}: the export has no g_s.onnx (export with the onnx format)")
        model = self.manifest["model"]
        #: The model's zoo name, as files record it.
        self.architecture: str = model.get("architecture") or ""
        #: SHA-256 of the model's state_dict, as files record it (32 bytes).
        self.weights_sha256: bytes = bytes.fromhex(model["weights_sha256"])
        #: The total stride of the model's transforms.
        self.downsampling_factor: int = int(model["downsampling_factor"])
        self.entropy = entropy
        self.kind: str = entropy["kind"]
        self.threads = int(threads) if threads else engine_threads()

        tensors = load_file(str(self.folder / entropy["path"]))
        self._tensors = tensors
        self._y_table: Optional[CdfTable] = None
        self._z_table: Optional[CdfTable] = None
        self._graph: Any = None
        if self.kind == "factorized":
            self._y_table = _table(tensors, "y")
        elif self.kind == "graph":
            self._z_table = _table(tensors, "z")
            try:
                self._graph = build_graph(entropy["graph"], tensors)
            except (KeyError, TypeError, ValueError) as error:
                raise ManifestError(f"{self.folder}: the manifest's coding graph does not build: {error}") from None
        else:
            raise ManifestError(
                f"{self.folder}: entropy kind {self.kind!r} comes from an older neuralcodec (manifest version 1, "
                "before the coding graph); export the model again"
            )

        options = onnxruntime.SessionOptions()
        if ort_threads:
            options.intra_op_num_threads = int(ort_threads)
        self._g_s = onnxruntime.InferenceSession(str(g_s.files["onnx"]), options, providers=list(providers))
        self._g_s_names = (g_s.input_name, g_s.output_name)

    # ------------------------------------------------------------------- latents
    def _bottleneck(self, strings: Sequence[bytes], shape: Tuple[int, int], prefix: str, table: CdfTable) -> np.ndarray:
        """``round(x - median) + median`` decoded from each string: float32 ``[B, C, h, w]``."""
        medians = self._tensors[f"{prefix}.medians"].astype(np.float32)
        channels = medians.size
        height, width = shape
        indexes = np.repeat(np.arange(channels, dtype=np.int32), height * width)
        out = np.empty((len(strings), channels, height, width), dtype=np.float32)
        decoder = RansDecoder()
        for i, string in enumerate(strings):
            values = decoder.decode_with_indexes(bytes(string), indexes, table)
            out[i] = values.reshape(channels, height, width).astype(np.float32) + medians[:, None, None]
        return out

    def decode_latent(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int]) -> np.ndarray:
        """The quantized latent ``y_hat`` that ``g_s`` maps to the image.

        Args:
            strings: as the model's ``compress`` returns them: one list of strings per
                latent (``[y_strings]`` or ``[y_strings, z_strings]``), one string per image.
            shape: ``(h, w)`` of the smallest latent (``compress``'s ``"shape"``).

        Returns:
            float32 ``[B, M, H/16, W/16]``, identical to the model's own decode.

        Raises:
            ValueError: the number of strings does not fit the model.
            StreamError: a string does not decode (truncated, corrupted, other tables).
        """
        expected = 1 if self.kind == "factorized" else 2
        if len(strings) != expected or len({len(s) for s in strings}) != 1 or not strings[0]:
            raise ValueError(f"a {self.kind} model needs {expected} lists of strings, one string per image")
        height, width = (int(s) for s in shape)
        if self.kind == "factorized":
            assert self._y_table is not None
            return self._bottleneck(strings[0], (height, width), "y", self._y_table)
        assert self._graph is not None and self._z_table is not None
        z_hat = self._bottleneck(strings[1], (height, width), "z", self._z_table)
        y_hats: List[np.ndarray] = []
        for y_string, z in zip(strings[0], z_hat):
            y = self._graph.decode(bytes(y_string), np.ascontiguousarray(z.transpose(1, 2, 0)), threads=self.threads)
            y_hats.append(np.ascontiguousarray(y.transpose(2, 0, 1)))
        return np.stack(y_hats)

    # --------------------------------------------------------------------- image
    def synthesize(self, y_hat: np.ndarray) -> np.ndarray:
        """``g_s(y_hat)`` in onnxruntime: float32 ``[B, 3, 16h, 16w]``, before clamping."""
        input_name, output_name = self._g_s_names
        return self._g_s.run([output_name], {input_name: np.ascontiguousarray(y_hat, dtype=np.float32)})[0]

    def decompress(
        self, strings: Sequence[Sequence[bytes]], shape: Sequence[int], x_size: Optional[Sequence[int]] = None
    ) -> Dict[str, np.ndarray]:
        """What the model's ``decompress`` returns, as numpy: ``{"x_hat": float32
        [B, 3, H, W]}`` in ``[0, 1]``, cropped to ``x_size`` when given (padding centred
        as :meth:`~neuralcodec.models.base.CompressionModel.pad` adds it)."""
        x_hat = self.synthesize(self.decode_latent(strings, shape))
        if x_size is not None:
            height, width = (int(s) for s in x_size)
            padded_h, padded_w = x_hat.shape[-2:]
            top, left = (padded_h - height) // 2, (padded_w - width) // 2
            x_hat = x_hat[..., top : top + height, left : left + width]
        return {"x_hat": np.clip(x_hat, 0.0, 1.0)}

    def check_can_decode(self, header: Header) -> None:
        """Refuses a file made with other weights, or with a coding path that needs PyTorch.

        Raises:
            ModelMismatchError: naming the file's model and the exported one.
        """
        theirs = header.model
        if theirs.weights_sha256 != self.weights_sha256 or (self.architecture and theirs.architecture != self.architecture):
            raise ModelMismatchError(
                f"the file was made with {theirs.describe()}, but {self.folder} holds "
                f"{self.architecture or 'a model'} with weights sha256 {self.weights_sha256.hex()[:16]}"
            )
        if self.kind != "factorized" and header.coding_path != self.entropy["coding_path"]:
            raise ModelMismatchError(
                f"the file was coded with the {header.coding_path!r} path, whose entropy parameters only "
                f"PyTorch reproduces; the torch-free decoder reads {self.entropy['coding_path']!r} files"
            )

    def decode(self, data: Union[bytes, bytearray, memoryview], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Decodes the bytes of a ``.nci`` file.

        Returns:
            uint8 ``[H, W, 3]``, or ``[H, W]`` for a file made from a grayscale image.

        Raises:
            FormatError: a damaged, truncated or foreign file, or strings that do not decode.
            ModelMismatchError: see :meth:`check_can_decode`.
        """
        header, strings = unpack(data, max_pixels=max_pixels)
        self.check_can_decode(header)
        if header.stride != self.downsampling_factor:
            raise FormatError(
                f"malformed header: latent shape {header.latent_shape} for a padded image of "
                f"{header.padded_size} implies stride {header.stride}, the model's is {self.downsampling_factor}"
            )
        try:
            y_hat = self.decode_latent([[s] for s in strings], header.latent_shape)
        except StreamError as error:
            raise FormatError(f"the entropy-coded data does not decode: {error}") from None
        except ValueError as error:
            raise FormatError(f"the file's strings do not fit {header.model.architecture}: {error}") from None
        x_hat = self.synthesize(y_hat)[0]
        left, _, top, _ = header.padding
        x_hat = x_hat[:, top : top + header.height, left : left + header.width]
        if x_hat.shape != (3, header.height, header.width):
            raise FormatError(f"decoding gave an image of shape {x_hat.shape}, expected {(3, header.height, header.width)}")
        # As neuralcodec.codec rounds PyTorch's output (models.base.unit_to_pixels).
        pixels = unit_array_to_pixels(x_hat).transpose(1, 2, 0)
        return np.ascontiguousarray(pixels[..., 0] if header.channels == 1 else pixels)
