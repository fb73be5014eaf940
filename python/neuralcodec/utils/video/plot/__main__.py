"""Rate-distortion curves of video results files (CompressAI's ``compressai.utils.video.plot``).

``python -m neuralcodec.utils.video.plot -f a.json b.json -m psnr-rgb -o rd.png`` draws,
for each results file of :mod:`neuralcodec.utils.video.eval_model` or
:mod:`neuralcodec.utils.video.bench` (or any file with ``results.bitrate`` and the
metric), the metric against the bit rate in kbit/s. MS-SSIM metrics are drawn in dB,
``-10 log10(1 - MS-SSIM)`` (:func:`neuralcodec.eval.rd.msssim_db`). Classical codecs
(names containing x26, VTM, HM, WebP or AV1) and every curve after the first of them are
dashed, as CompressAI draws them. ``--backend plotly`` writes an HTML page instead
(needs ``plotly``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from neuralcodec.eval.rd import msssim_db
from neuralcodec.files import write_atomic
from neuralcodec.utils.plot.__main__ import plot_parser, write_plotly

__all__ = ["matplotlib_plt", "main", "parse_json_file", "plotly_plt", "setup_args"]

_CLASSICAL = ("x26", "VTM", "HM", "WebP", "AV1")


def parse_json_file(filepath: Union[str, Path], metric: str) -> Dict[str, Any]:
    """``{"name", "xs": bit rates, "ys": metric values}`` of one results file (a file with
    ``results`` or the results mapping itself); MS-SSIM values are converted to dB.

    Raises:
        ValueError: the metric is not in the file, or it has no ``bitrate``.
        json.JSONDecodeError: the file is not JSON.
    """
    filepath = Path(filepath)
    name = filepath.name.split(".")[0]
    with filepath.open("r") as f:
        try:
            data = json.load(f)
        except json.decoder.JSONDecodeError:
            print(f'Error reading file "{filepath}"')
            raise
    results = data.get("results", data)
    if metric not in results:
        raise ValueError(f'Error: metric "{metric}" not available. Available metrics: {", ".join(results.keys())}')
    if "bitrate" not in results:
        raise ValueError(f'Invalid file "{filepath}": no "bitrate" in its results')
    values = results[metric]
    if "ms-ssim" in metric:
        values = msssim_db(values).tolist()
    return {"name": data.get("name", name), "xs": results["bitrate"], "ys": values}


def matplotlib_plt(
    scatters: Sequence[Dict[str, Any]],
    title: Optional[str],
    ylabel: str,
    output_file: Optional[str],
    limits: Optional[Sequence[float]] = None,
    show: bool = False,
    figsize: Optional[Sequence[float]] = None,
) -> None:
    """Draws the curves with matplotlib into ``output_file`` (300 dpi, its suffix picks the
    format; written atomically) and/or a window (``show``)."""
    import matplotlib

    if not show:
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=tuple(figsize) if figsize is not None else (9, 6))
    linestyle = "-"
    for scatter in scatters:
        if any(mark in scatter["name"] for mark in _CLASSICAL):
            linestyle = "--"
        axes.plot(scatter["xs"], scatter["ys"], marker=".", linestyle=linestyle, linewidth=0.7, label=scatter["name"])
    axes.set_xlabel("Bit-rate [kbps]")
    axes.set_ylabel(ylabel)
    axes.grid()
    if limits is not None:
        axes.axis((limits[0], limits[1], limits[2], limits[3]))
    axes.legend(loc="lower right")
    if title:
        axes.title.set_text(title)
    if show:
        plt.show()
    if output_file:
        image = io.BytesIO()
        suffix = Path(output_file).suffix.lstrip(".").lower() or "png"
        figure.savefig(image, dpi=300, format=suffix)
        write_atomic(output_file, image.getvalue(), force=True)
    plt.close(figure)


def plotly_plt(
    scatters: Sequence[Dict[str, Any]],
    title: Optional[str],
    ylabel: str,
    output_file: Optional[str],
    limits: Optional[Sequence[float]] = None,
    show: bool = False,
    figsize: Optional[Sequence[float]] = None,
) -> None:
    """Writes the curves as a plotly HTML page (``output_file`` or ``plot.html``), opened
    in a browser when ``show`` (:func:`neuralcodec.utils.plot.__main__.write_plotly`)."""
    del figsize
    write_plotly(scatters, title, "Bit-rate [kbps]", ylabel, output_file, limits, auto_open=show)


def setup_args() -> argparse.ArgumentParser:
    """CompressAI's options: ``-f FILE...``, ``-m METRIC``, ``-t``, ``-o``, ``--figsize``,
    ``--axes``, ``--backend``, ``--show``
    (:func:`neuralcodec.utils.plot.__main__.plot_parser`)."""
    return plot_parser("Rate-distortion curves of video results files.", default_metric="psnr-rgb")


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``).

    Raises:
        ValueError: neither ``-o`` nor ``--show``, or a file without the metric.
    """
    args = setup_args().parse_args(sys.argv[1:] if argv is None else list(argv))
    if not args.show and not args.output:
        raise ValueError("select output file destination or --show")
    scatters: List[Dict[str, Any]] = [parse_json_file(f, args.metric) for f in args.results_file]
    draw = {"matplotlib": matplotlib_plt, "plotly": plotly_plt}[args.backend]
    draw(scatters, args.title, f"{args.metric} [dB]", args.output, limits=args.axes, figsize=args.figsize, show=args.show)


if __name__ == "__main__":
    main(sys.argv[1:])
