"""Published CompressAI weight files: architecture -> metric -> quality -> file name.

The files live under :data:`BASE_URL`. Each name ends with the first 8 hex digits of
the file's SHA-256 (the torch.hub convention), which :mod:`neuralcodec.zoo.weights`
checks after every download (CompressAI itself never does).
"""

from __future__ import annotations

from neuralcodec.errors import NeuralCodecError

__all__ = ["BASE_URL", "WEIGHT_FILES", "NoWeightsError", "weights_url"]


class NoWeightsError(NeuralCodecError, ValueError, RuntimeError):
    """No published weights for that architecture, metric or quality. A ValueError (a
    bad choice of arguments) that is also the RuntimeError CompressAI raises for it
    ("Pre-trained model not yet available"), so code written for either catches it."""


BASE_URL = "https://compressai.s3.amazonaws.com/models/v1/"

WEIGHT_FILES: dict[str, dict[str, dict[int, str]]] = {
    "bmshj2018-factorized": {
        "mse": {
            1: "bmshj2018-factorized-prior-1-446d5c7f.pth.tar",
            2: "bmshj2018-factorized-prior-2-87279a02.pth.tar",
            3: "bmshj2018-factorized-prior-3-5c6f152b.pth.tar",
            4: "bmshj2018-factorized-prior-4-1ed4405a.pth.tar",
            5: "bmshj2018-factorized-prior-5-866ba797.pth.tar",
            6: "bmshj2018-factorized-prior-6-9b02ea3a.pth.tar",
            7: "bmshj2018-factorized-prior-7-6dfd6734.pth.tar",
            8: "bmshj2018-factorized-prior-8-5232faa3.pth.tar",
        },
        "ms-ssim": {
            1: "bmshj2018-factorized-ms-ssim-1-9781d705.pth.tar",
            2: "bmshj2018-factorized-ms-ssim-2-4a584386.pth.tar",
            3: "bmshj2018-factorized-ms-ssim-3-5352f123.pth.tar",
            4: "bmshj2018-factorized-ms-ssim-4-4f91b847.pth.tar",
            5: "bmshj2018-factorized-ms-ssim-5-b3a88897.pth.tar",
            6: "bmshj2018-factorized-ms-ssim-6-ee028763.pth.tar",
            7: "bmshj2018-factorized-ms-ssim-7-8c265a29.pth.tar",
            8: "bmshj2018-factorized-ms-ssim-8-8811bd14.pth.tar",
        },
    },
    "bmshj2018-hyperprior": {
        "mse": {
            1: "bmshj2018-hyperprior-1-7eb97409.pth.tar",
            2: "bmshj2018-hyperprior-2-93677231.pth.tar",
            3: "bmshj2018-hyperprior-3-6d87be32.pth.tar",
            4: "bmshj2018-hyperprior-4-de1b779c.pth.tar",
            5: "bmshj2018-hyperprior-5-f8b614e1.pth.tar",
            6: "bmshj2018-hyperprior-6-1ab9c41e.pth.tar",
            7: "bmshj2018-hyperprior-7-3804dcbd.pth.tar",
            8: "bmshj2018-hyperprior-8-a583f0cf.pth.tar",
        },
        "ms-ssim": {
            1: "bmshj2018-hyperprior-ms-ssim-1-5cf249be.pth.tar",
            2: "bmshj2018-hyperprior-ms-ssim-2-1ff60d1f.pth.tar",
            3: "bmshj2018-hyperprior-ms-ssim-3-92dd7878.pth.tar",
            4: "bmshj2018-hyperprior-ms-ssim-4-4377354e.pth.tar",
            5: "bmshj2018-hyperprior-ms-ssim-5-c34afc8d.pth.tar",
            6: "bmshj2018-hyperprior-ms-ssim-6-3a6d8229.pth.tar",
            7: "bmshj2018-hyperprior-ms-ssim-7-8747d3bc.pth.tar",
            8: "bmshj2018-hyperprior-ms-ssim-8-cc15b5f3.pth.tar",
        },
    },
    "mbt2018-mean": {
        "mse": {
            1: "mbt2018-mean-1-e522738d.pth.tar",
            2: "mbt2018-mean-2-e54a039d.pth.tar",
            3: "mbt2018-mean-3-723404a8.pth.tar",
            4: "mbt2018-mean-4-6dba02a3.pth.tar",
            5: "mbt2018-mean-5-d504e8eb.pth.tar",
            6: "mbt2018-mean-6-a19628ab.pth.tar",
            7: "mbt2018-mean-7-d5d441d1.pth.tar",
            8: "mbt2018-mean-8-8089ae3e.pth.tar",
        },
        "ms-ssim": {
            1: "mbt2018-mean-ms-ssim-1-5bf9c0b6.pth.tar",
            2: "mbt2018-mean-ms-ssim-2-e2a1bf3f.pth.tar",
            3: "mbt2018-mean-ms-ssim-3-640ce819.pth.tar",
            4: "mbt2018-mean-ms-ssim-4-12626c13.pth.tar",
            5: "mbt2018-mean-ms-ssim-5-1be7f059.pth.tar",
            6: "mbt2018-mean-ms-ssim-6-b83bf379.pth.tar",
            7: "mbt2018-mean-ms-ssim-7-ddf9644c.pth.tar",
            8: "mbt2018-mean-ms-ssim-8-0cc7b94f.pth.tar",
        },
    },
    "mbt2018": {
        "mse": {
            1: "mbt2018-1-3f36cd77.pth.tar",
            2: "mbt2018-2-43b70cdd.pth.tar",
            3: "mbt2018-3-22901978.pth.tar",
            4: "mbt2018-4-456e2af9.pth.tar",
            5: "mbt2018-5-b4a046dd.pth.tar",
            6: "mbt2018-6-7052e5ea.pth.tar",
            7: "mbt2018-7-8ba2bf82.pth.tar",
            8: "mbt2018-8-dd0097aa.pth.tar",
        },
        "ms-ssim": {
            1: "mbt2018-ms-ssim-1-2878436b.pth.tar",
            2: "mbt2018-ms-ssim-2-c41cb208.pth.tar",
            3: "mbt2018-ms-ssim-3-d0dd64e8.pth.tar",
            4: "mbt2018-ms-ssim-4-a120e037.pth.tar",
            5: "mbt2018-ms-ssim-5-9b30e3b7.pth.tar",
            6: "mbt2018-ms-ssim-6-f8b3626f.pth.tar",
            7: "mbt2018-ms-ssim-7-16e6ff50.pth.tar",
            8: "mbt2018-ms-ssim-8-0cb49d43.pth.tar",
        },
    },
    "cheng2020-anchor": {
        "mse": {
            1: "cheng2020-anchor-1-dad2ebff.pth.tar",
            2: "cheng2020-anchor-2-a29008eb.pth.tar",
            3: "cheng2020-anchor-3-e49be189.pth.tar",
            4: "cheng2020-anchor-4-98b0b468.pth.tar",
            5: "cheng2020-anchor-5-23852949.pth.tar",
            6: "cheng2020-anchor-6-4c052b1a.pth.tar",
        },
        "ms-ssim": {
            1: "cheng2020_anchor-ms-ssim-1-20f521db.pth.tar",
            2: "cheng2020_anchor-ms-ssim-2-c7ff5812.pth.tar",
            3: "cheng2020_anchor-ms-ssim-3-c23e22d5.pth.tar",
            4: "cheng2020_anchor-ms-ssim-4-0e658304.pth.tar",
            5: "cheng2020_anchor-ms-ssim-5-c0a95e77.pth.tar",
            6: "cheng2020_anchor-ms-ssim-6-f2dc1913.pth.tar",
        },
    },
    "cheng2020-attn": {
        "mse": {
            1: "cheng2020_attn-mse-1-465f2b64.pth.tar",
            2: "cheng2020_attn-mse-2-e0805385.pth.tar",
            3: "cheng2020_attn-mse-3-2d07bbdf.pth.tar",
            4: "cheng2020_attn-mse-4-f7b0ccf2.pth.tar",
            5: "cheng2020_attn-mse-5-26c8920e.pth.tar",
            6: "cheng2020_attn-mse-6-730501f2.pth.tar",
        },
        "ms-ssim": {
            1: "cheng2020_attn-ms-ssim-1-c5381d91.pth.tar",
            2: "cheng2020_attn-ms-ssim-2-5dad201d.pth.tar",
            3: "cheng2020_attn-ms-ssim-3-5c9be841.pth.tar",
            4: "cheng2020_attn-ms-ssim-4-8b2f647e.pth.tar",
            5: "cheng2020_attn-ms-ssim-5-5ca1f34c.pth.tar",
            6: "cheng2020_attn-ms-ssim-6-216423ec.pth.tar",
        },
    },
}


# The video model ScaleSpaceFlow (Agustsson et al. 2020): MSE weights, qualities 1..9.
WEIGHT_FILES["ssf2020"] = {
    "mse": {
        1: "ssf2020-mse-1-c1ac1a47.pth.tar",
        2: "ssf2020-mse-2-79ed4e19.pth.tar",
        3: "ssf2020-mse-3-9c8b998d.pth.tar",
        4: "ssf2020-mse-4-577c1eda.pth.tar",
        5: "ssf2020-mse-5-1dd7d574.pth.tar",
        6: "ssf2020-mse-6-59dfb6f9.pth.tar",
        7: "ssf2020-mse-7-4d867411.pth.tar",
        8: "ssf2020-mse-8-26439e20.pth.tar",
        9: "ssf2020-mse-9-e89345c4.pth.tar",
    }
}


# The variable-rate models (Kamisli et al. 2024): one file for every quality (gain level);
# CompressAI 1.2.8 publishes MSE weights only.
_VBR_FILES = {
    "bmshj2018-hyperprior-vbr": "bmshj2018-hyperprior-mse-vbr-cddd26be.pth.tar",
    "mbt2018-mean-vbr": "mbt2018-mean-mse-vbr-45d095e9.pth.tar",
    "mbt2018-vbr": "mbt2018-mse-vbr-f12581a1.pth.tar",
}
for _architecture, _name in _VBR_FILES.items():
    WEIGHT_FILES[_architecture] = {"mse": dict.fromkeys(range(1, 9), _name)}


def weights_url(architecture: str, metric: str, quality: int) -> str:
    """URL of the published weights, or :class:`NoWeightsError` naming what is available."""
    if architecture not in WEIGHT_FILES:
        raise NoWeightsError(f"no published weights for architecture {architecture!r}; known: {sorted(WEIGHT_FILES)}")
    metrics = WEIGHT_FILES[architecture]
    if metric not in metrics:
        raise NoWeightsError(f"{architecture} has no weights for metric {metric!r}; available: {sorted(metrics)}")
    qualities = metrics[metric]
    if quality not in qualities:
        raise NoWeightsError(
            f"{architecture} ({metric}) has no weights for quality {quality!r}; "
            f"available: {min(qualities)}..{max(qualities)}"
        )
    return BASE_URL + qualities[quality]
