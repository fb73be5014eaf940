"""Scale-space flow video compression ("ssf2020").

E. Agustsson, D. Minnen, N. Johnston, J. Ballé, S. J. Hwang, G. Toderici, "Scale-space
flow for end-to-end optimized video compression", CVPR 2020. A sequence is coded as one
intra (key) frame followed by predicted (inter) frames, each with three learned codecs
of the same shape (a 4-layer stride-16 transform and a mean-scale hyperprior over a
stride-8 hyper-latent):

* the **key frame** ``x_0`` is coded like an image (``img_*``);
* for an **inter frame** ``x_t`` the *motion* codec (``motion_*``) codes the pair
  ``(x_t, x_ref)`` into a scale-space flow ``(dx, dy, s)``; the decoded flow warps the
  previous reconstruction ``x_ref`` into a prediction ``x_pred`` (see
  :meth:`ScaleSpaceFlow.gaussian_volume` and :meth:`ScaleSpaceFlow.warp_volume`); the *residual* codec (``res_*``) codes ``x_t - x_pred``, and its
  decoder sees the residual latent concatenated with the motion latent. The
  reconstruction ``x_pred + residual`` is the next reference.

Frames are RGB float ``[N, 3, H, W]`` in ``[0, 1]`` with ``H`` and ``W`` divisible by 128
(the hyper-latent's stride: 16 x 8; pad first, e.g. with
:func:`neuralcodec.utils.video.eval_model.pad`). Module names, constructor arguments,
state_dict keys, outputs and the rANS strings (on the ``compat`` coding path, the only
one) are those of CompressAI 1.2.8's ``compressai.models.video.ScaleSpaceFlow``, so its
published ``ssf2020`` weights load unchanged and code to the same bytes.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralcodec.entropy_models import EntropyBottleneck, GaussianConditional
from neuralcodec.layers import QReLU
from neuralcodec.models.base import CompressionModel
from neuralcodec.models.utils import conv, deconv, gaussian_blur, gaussian_kernel2d, meshgrid2d
from neuralcodec.ops import quantize_ste
from neuralcodec.registry import register_model
from neuralcodec.state_dicts import convert_compressai_keys

__all__ = ["ScaleSpaceFlow"]

#: Channels of the inner layers and of the latents (fixed by the paper's and CompressAI's model).
_MID, _LATENT = 128, 192


def _stack(layers: Sequence[nn.Module]) -> nn.Sequential:
    """The layers with a ReLU between consecutive ones (indices 0, 2, 4, ... hold the
    convolutions, as in CompressAI's state_dict keys)."""
    modules: List[nn.Module] = []
    for index, layer in enumerate(layers):
        if index:
            modules.append(nn.ReLU(inplace=True))
        modules.append(layer)
    return nn.Sequential(*modules)


def _analysis(in_planes: int, mid_planes: int = _MID, out_planes: int = _LATENT) -> nn.Sequential:
    """``[N, in, H, W]`` -> ``[N, out, H/16, W/16]``: four stride-2 5x5 convolutions."""
    return _stack(
        [conv(in_planes, mid_planes), conv(mid_planes, mid_planes), conv(mid_planes, mid_planes), conv(mid_planes, out_planes)]
    )


def _synthesis(out_planes: int, in_planes: int = _LATENT, mid_planes: int = _MID) -> nn.Sequential:
    """``[N, in, h, w]`` -> ``[N, out, 16h, 16w]``: four stride-2 5x5 transposed convolutions."""
    return _stack(
        [
            deconv(in_planes, mid_planes),
            deconv(mid_planes, mid_planes),
            deconv(mid_planes, mid_planes),
            deconv(mid_planes, out_planes),
        ]
    )


def _qrelu(x: Tensor, bit_depth: int = 8, beta: float = 100) -> Tensor:
    return QReLU.apply(x, bit_depth, beta)


class _ScaleDecoder(nn.Module):
    """The hyper-decoder of the scales: three stride-2 transposed convolutions, each
    followed by a :class:`~neuralcodec.layers.QReLU` to ``[0, 255]`` (keys
    ``deconv1..3``)."""

    def __init__(self, in_planes: int = _LATENT, mid_planes: int = _LATENT, out_planes: int = _LATENT) -> None:
        super().__init__()
        self.deconv1 = deconv(in_planes, mid_planes)
        self.deconv2 = deconv(mid_planes, mid_planes)
        self.deconv3 = deconv(mid_planes, out_planes)

    def forward(self, z_hat: Tensor) -> Tensor:
        x = _qrelu(self.deconv1(z_hat))
        x = _qrelu(self.deconv2(x))
        return _qrelu(self.deconv3(x))


class _Hyperprior(CompressionModel):
    """A mean-scale hyperprior over a latent ``y`` ``[N, 192, h, w]`` (``h, w`` multiples
    of 8): ``z = hyper_encoder(y)`` ``[N, 192, h/8, w/8]`` is coded by the entropy
    bottleneck; the means and scales decoded from ``z_hat`` code ``y`` with the Gaussian
    conditional. ``compress`` returns ``y_hat`` and ``{"strings": [y strings, z strings],
    "shape": (h/8, w/8)}``; ``decompress`` takes them back."""

    def __init__(self, planes: int = _LATENT, mid_planes: int = _LATENT) -> None:
        super().__init__()
        self.entropy_bottleneck = EntropyBottleneck(mid_planes)
        self.hyper_encoder = _stack([conv(planes, mid_planes), conv(mid_planes, mid_planes), conv(mid_planes, planes)])
        self.hyper_decoder_mean = _stack([deconv(planes, mid_planes), deconv(mid_planes, mid_planes), deconv(mid_planes, planes)])
        self.hyper_decoder_scale = _ScaleDecoder(planes, mid_planes, planes)
        self.gaussian_conditional = GaussianConditional(None)

    def forward(self, y: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:  # type: ignore[override]
        """Training: ``(y_hat, {"y": likelihoods, "z": likelihoods})``; ``y_hat`` is ``y``
        rounded around the means with a straight-through gradient."""
        z = self.hyper_encoder(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        scales = self.hyper_decoder_scale(z_hat)
        means = self.hyper_decoder_mean(z_hat)
        _, y_likelihoods = self.gaussian_conditional(y, scales, means)
        y_hat = quantize_ste(y - means) + means
        return y_hat, {"y": y_likelihoods, "z": z_likelihoods}

    def _parameters_of(self, z_hat: Tensor) -> Tuple[Tensor, Tensor]:
        """The CDF rows (from the scales) and the means that code ``y`` given ``z_hat``."""
        scales = self.hyper_decoder_scale(z_hat)
        means = self.hyper_decoder_mean(z_hat)
        return self.gaussian_conditional.build_indexes(scales), means

    def compress(self, y: Tensor) -> Tuple[Tensor, Dict[str, Any]]:  # type: ignore[override]
        z = self.hyper_encoder(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
        indexes, means = self._parameters_of(z_hat)
        y_strings = self.gaussian_conditional.compress(y, indexes, means)
        y_hat = self.gaussian_conditional.quantize(y, "dequantize", means)
        return y_hat, {"strings": [y_strings, z_strings], "shape": z.size()[-2:]}

    def decompress(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int]) -> Tensor:  # type: ignore[override]
        if not isinstance(strings, (list, tuple)) or len(strings) != 2:
            raise ValueError("strings must be [y strings, z strings]")
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        indexes, means = self._parameters_of(z_hat)
        return self.gaussian_conditional.decompress(strings[0], indexes, z_hat.dtype, means)


def _check_frames(frames: Any, what: str = "frames") -> None:
    if not isinstance(frames, (list, tuple)):
        raise RuntimeError(f"{what} must be a list of [N, 3, H, W] tensors, one per frame; got {type(frames).__name__}")
    if len(frames) == 0:
        raise RuntimeError(f"{what} must hold at least one frame (the key frame)")


@register_model("ssf2020")
class ScaleSpaceFlow(CompressionModel):
    """Scale-space flow video model (Agustsson et al. 2020); see the module documentation.

    Args:
        num_levels: blur levels of the scale-space volume beyond the sharp frame.
        sigma0: standard deviation (pixels) of the Gaussian of the first blurred level.
        scale_field_shift: kept for CompressAI's signature (stored, unused there too).

    Calls (``frames``: a list of ``[N, 3, H, W]`` tensors):

    * ``forward(frames)`` -> ``{"x_hat": [frame per frame], "likelihoods": [{"keyframe":
      {"y", "z"}}, {"motion": {"y", "z"}, "residual": {"y", "z"}}, ...]}``;
    * ``compress(frames)`` -> ``(strings, shapes)``: per frame, the key frame's ``[y
      strings, z strings]`` and ``(h, w)``, then per inter frame ``{"motion": [...],
      "residual": [...]}`` and ``{"motion": (h, w), "residual": (h, w)}``;
    * ``decompress(strings, shapes)`` -> the list of decoded frames (not clamped);
    * per frame: ``forward_keyframe``/``forward_inter`` (training),
      ``encode_keyframe``/``encode_inter`` (return the reconstruction and that frame's
      ``{"strings", "shape"}``), ``decode_keyframe``/``decode_inter``.
    """

    downsampling_factor = 128

    def __init__(self, num_levels: int = 5, sigma0: float = 1.5, scale_field_shift: float = 1.0) -> None:
        super().__init__()
        if int(num_levels) < 1:
            raise ValueError(f"num_levels must be at least 1, got {num_levels}")
        if not float(sigma0) > 0:
            raise ValueError(f"sigma0 must be positive, got {sigma0}")
        self.img_encoder = _analysis(3)
        self.img_decoder = _synthesis(3)
        self.img_hyperprior = _Hyperprior()

        self.res_encoder = _analysis(3)
        self.res_decoder = _synthesis(3, in_planes=2 * _LATENT)
        self.res_hyperprior = _Hyperprior()

        self.motion_encoder = _analysis(2 * 3)
        self.motion_decoder = _synthesis(2 + 1)
        self.motion_hyperprior = _Hyperprior()

        self.sigma0 = float(sigma0)
        self.num_levels = int(num_levels)
        self.scale_field_shift = scale_field_shift

    # ------------------------------------------------------------------ training
    def forward(self, frames: List[Tensor]) -> Dict[str, Any]:  # type: ignore[override]
        _check_frames(frames)
        x_hat, likelihoods = self.forward_keyframe(frames[0])
        reconstructions, all_likelihoods = [x_hat], [likelihoods]
        x_ref = x_hat.detach()  # no gradient through the reference (as in the paper)
        for x in frames[1:]:
            x_ref, likelihoods = self.forward_inter(x, x_ref)
            reconstructions.append(x_ref)
            all_likelihoods.append(likelihoods)
        return {"x_hat": reconstructions, "likelihoods": all_likelihoods}

    def forward_keyframe(self, x: Tensor) -> Tuple[Tensor, Dict[str, Dict[str, Tensor]]]:
        y_hat, likelihoods = self.img_hyperprior(self.img_encoder(x))
        return self.img_decoder(y_hat), {"keyframe": likelihoods}

    def forward_inter(self, x_cur: Tensor, x_ref: Tensor) -> Tuple[Tensor, Dict[str, Dict[str, Tensor]]]:
        y_motion_hat, motion_likelihoods = self.motion_hyperprior(self.motion_encoder(torch.cat((x_cur, x_ref), dim=1)))
        x_pred = self.forward_prediction(x_ref, self.motion_decoder(y_motion_hat))
        y_res_hat, res_likelihoods = self.res_hyperprior(self.res_encoder(x_cur - x_pred))
        x_rec = x_pred + self.res_decoder(torch.cat((y_res_hat, y_motion_hat), dim=1))
        return x_rec, {"motion": motion_likelihoods, "residual": res_likelihoods}

    # ------------------------------------------------------------------ coding, frame by frame
    def encode_keyframe(self, x: Tensor) -> Tuple[Tensor, Dict[str, Any]]:
        y_hat, coded = self.img_hyperprior.compress(self.img_encoder(x))
        return self.img_decoder(y_hat), coded

    def decode_keyframe(self, strings: Sequence[Sequence[bytes]], shape: Sequence[int]) -> Tensor:
        return self.img_decoder(self.img_hyperprior.decompress(strings, shape))

    def encode_inter(self, x_cur: Tensor, x_ref: Tensor) -> Tuple[Tensor, Dict[str, Any]]:
        y_motion_hat, motion = self.motion_hyperprior.compress(self.motion_encoder(torch.cat((x_cur, x_ref), dim=1)))
        x_pred = self.forward_prediction(x_ref, self.motion_decoder(y_motion_hat))
        y_res_hat, residual = self.res_hyperprior.compress(self.res_encoder(x_cur - x_pred))
        x_rec = x_pred + self.res_decoder(torch.cat((y_res_hat, y_motion_hat), dim=1))
        return x_rec, {
            "strings": {"motion": motion["strings"], "residual": residual["strings"]},
            "shape": {"motion": motion["shape"], "residual": residual["shape"]},
        }

    def decode_inter(self, x_ref: Tensor, strings: Mapping[str, Any], shapes: Mapping[str, Any]) -> Tensor:
        for key in ("motion", "residual"):
            if key not in strings or key not in shapes:
                raise ValueError(f'an inter frame needs "motion" and "residual" strings and shapes; {key!r} is missing')
        y_motion_hat = self.motion_hyperprior.decompress(strings["motion"], shapes["motion"])
        x_pred = self.forward_prediction(x_ref, self.motion_decoder(y_motion_hat))
        y_res_hat = self.res_hyperprior.decompress(strings["residual"], shapes["residual"])
        return x_pred + self.res_decoder(torch.cat((y_res_hat, y_motion_hat), dim=1))

    # ------------------------------------------------------------------ motion compensation
    @staticmethod
    def gaussian_volume(x: Tensor, sigma: float, num_levels: int) -> Tensor:
        """The scale-space volume of ``x`` ``[N, C, H, W]``: ``[N, C, num_levels + 1, H, W]``.

        Level 0 is ``x``; level 1 is ``x`` blurred by a Gaussian of ``sigma`` pixels
        (kernel ``2 ceil(3 sigma) + 1`` wide); level ``l >= 2`` halves the previous
        (not upsampled) level by 2x2 averaging, blurs it with the same kernel, and returns
        to full size through ``l - 1`` bilinear doublings (the construction of Yang et al.,
        "Generative video compression as hierarchical variational inference", which keeps
        the kernels small at coarse scales). ``H`` and ``W`` must be divisible by
        ``2^(num_levels - 1)``. Operation for operation as CompressAI, so a model with its
        weights predicts the same pixels.
        """
        size = 2 * int(math.ceil(3 * sigma)) + 1
        dtype = x.dtype if torch.is_floating_point(x) else torch.float32
        kernel = gaussian_kernel2d(size, sigma, device=x.device, dtype=dtype)
        coarse = gaussian_blur(x, kernel=kernel)
        levels = [x.unsqueeze(2), coarse.unsqueeze(2)]
        for level in range(1, num_levels):
            coarse = gaussian_blur(F.avg_pool2d(coarse, kernel_size=(2, 2), stride=(2, 2)), kernel=kernel)
            upsampled = coarse
            for _ in range(level):
                upsampled = F.interpolate(upsampled, scale_factor=2, mode="bilinear", align_corners=False)
            levels.append(upsampled.unsqueeze(2))
        return torch.cat(levels, dim=2)

    def warp_volume(self, volume: Tensor, flow: Tensor, scale_field: Tensor, padding_mode: str = "border") -> Tensor:
        """Samples ``volume`` ``[N, C, D, H, W]`` trilinearly at every pixel moved by
        ``flow`` ``[N, 2, H, W]`` and at depth ``scale_field`` ``[N, 1, H, W]``; returns
        ``[N, C, H, W]`` in float32 (computed outside autocast).

        Coordinates are :func:`torch.nn.functional.grid_sample`'s (``align_corners=False``):
        the flow is in units of half the image's width/height, and the depth runs from -1
        (level 0, sharp) to +1 (the blurriest level).

        Raises:
            ValueError: ``volume`` is not 5-D.
        """
        if volume.ndimension() != 5:
            raise ValueError(f"Invalid number of dimensions for volume {volume.ndimension()}")
        N, C, _, H, W = volume.size()
        with torch.autocast(device_type=volume.device.type, enabled=False):
            displaced = meshgrid2d(N, C, H, W, volume.device) + flow.permute(0, 2, 3, 1).float()
            depth = scale_field.permute(0, 2, 3, 1).float()
            coordinates = torch.cat((displaced, depth), dim=-1).unsqueeze(1)
            sampled = F.grid_sample(volume.float(), coordinates, padding_mode=padding_mode, align_corners=False)
        return sampled.squeeze(2)

    def forward_prediction(self, x_ref: Tensor, motion_info: Tensor) -> Tensor:
        """``x_ref`` ``[N, 3, H, W]`` warped by the decoded motion ``[N, 3, H, W]`` (flow
        ``dx, dy`` then scale ``s``)."""
        flow, scale_field = motion_info.chunk(2, dim=1)
        volume = self.gaussian_volume(x_ref, self.sigma0, self.num_levels)
        return self.warp_volume(volume, flow, scale_field)

    # ------------------------------------------------------------------ whole sequences
    def aux_loss(self) -> List[Tensor]:  # type: ignore[override]
        """The auxiliary (quantile) loss of each of the three hyperpriors, as a list
        (CompressAI's return type for this model)."""
        return [m.aux_loss() for m in self.modules() if isinstance(m, CompressionModel) and m is not self]

    def compress(self, frames: List[Tensor]) -> Tuple[List[Any], List[Any]]:  # type: ignore[override]
        _check_frames(frames)
        x_ref, coded = self.encode_keyframe(frames[0])
        strings, shapes = [coded["strings"]], [coded["shape"]]
        for x in frames[1:]:
            x_ref, coded = self.encode_inter(x, x_ref)
            strings.append(coded["strings"])
            shapes.append(coded["shape"])
        return strings, shapes

    def decompress(self, strings: List[Any], shapes: List[Any]) -> List[Tensor]:  # type: ignore[override]
        _check_frames(strings, "strings")
        _check_frames(shapes, "shapes")
        if len(strings) != len(shapes):
            raise ValueError(f"got strings for {len(strings)} frames but shapes for {len(shapes)}")
        x_ref = self.decode_keyframe(strings[0], shapes[0])
        frames = [x_ref]
        for frame_strings, frame_shapes in zip(strings[1:], shapes[1:]):
            x_ref = self.decode_inter(x_ref, frame_strings, frame_shapes)
            frames.append(x_ref)
        return frames

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> "ScaleSpaceFlow":
        """A model with CompressAI's default configuration and ``state_dict``'s weights
        (and CDF tables, used as they are)."""
        model = cls()
        model.load_state_dict(convert_compressai_keys(state_dict))
        return model
