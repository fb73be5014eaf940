"""Plot rate-distortion curves of results files, with CompressAI's ``plot`` arguments.

``python -m neuralcodec.utils.plot -f A.json B.json [-m psnr|ms-ssim|KEY] [-t TITLE]
[-o FILE] [--figsize W H] [--axes XMIN XMAX YMIN YMAX] [--backend matplotlib|plotly]
[--show]``. Files are read by :func:`neuralcodec.eval.results.load_results` (ours and
CompressAI's), curves taken by :func:`neuralcodec.eval.rd.results_curve` (MS-SSIM in dB,
``-10 log10(1 - MS-SSIM)``) and drawn by :func:`neuralcodec.eval.rd.draw_curves`, as
``neuralcodec plot`` draws them; the classical codecs' curves are dashed. The plotly
backend writes an HTML page (``-o``, default ``plot.html``) and opens it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from neuralcodec.eval.rd import draw_curves, results_curve
from neuralcodec.eval.results import ResultsError, load_results

__all__ = ["main", "matplotlib_plt", "parse_json_file", "plot_parser", "plotly_plt", "setup_args", "write_plotly"]

_backends = ["matplotlib", "plotly"]
#: Curve names that mark a classical codec (drawn dashed).
_HYBRID_CODECS = ("HM", "VTM", "JPEG", "JPEG2000", "WebP", "BPG", "AV1")
#: ``--metric`` spellings -> the metric of :func:`neuralcodec.eval.rd.results_curve`.
_RD_METRICS = {"psnr": "psnr", "psnr-rgb": "psnr", "ms-ssim": "ms-ssim", "ms-ssim-rgb": "ms-ssim"}


def parse_json_file(filepath: Union[str, Path], metric: str) -> Dict[str, Any]:
    """``{"name", "xs": bpp, "ys": values}`` of one results file for ``metric``
    (``psnr``/``psnr-rgb`` in dB, ``ms-ssim``/``ms-ssim-rgb`` in dB, or any other key of
    its ``results``, as stored).

    Raises:
        ValueError: the file is not a results file, or has no values for ``metric``.
    """
    data = load_results(filepath)
    if metric in _RD_METRICS:
        xs, ys = results_curve(data, _RD_METRICS[metric])
    else:
        table = data["results"]
        if metric not in table:
            raise ValueError(f'Error: metric "{metric}" not available. Available metrics: {", ".join(table)}')
        xs, ys = np.asarray(table["bpp"], dtype=np.float64), np.asarray(table[metric], dtype=np.float64)
    return {"name": data["name"], "xs": xs.tolist(), "ys": ys.tolist()}


def matplotlib_plt(
    scatters: Sequence[Dict[str, Any]],
    title: Optional[str],
    ylabel: str,
    output_file: Optional[str],
    limits: Optional[Sequence[float]] = None,
    show: bool = False,
    figsize: Optional[Sequence[float]] = None,
) -> None:
    """Draws the curves with matplotlib; saves them to ``output_file`` (any format
    matplotlib writes, 300 dpi) and/or shows them."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=tuple(figsize) if figsize is not None else (9, 6))
    curves = [(str(sc["name"]), sc["xs"], sc["ys"]) for sc in scatters]
    dashed = [any(codec in str(sc["name"]) for codec in _HYBRID_CODECS) for sc in scatters]
    draw_curves(ax, curves, ylabel, title, limits, dashed, {"marker": ".", "linewidth": 0.7})
    if show:
        plt.show()
    if output_file:
        fig.savefig(output_file, dpi=300)
    plt.close(fig)


def plotly_plt(
    scatters: Sequence[Dict[str, Any]],
    title: Optional[str],
    ylabel: str,
    output_file: Optional[str],
    limits: Optional[Sequence[float]] = None,
    show: bool = False,
    figsize: Optional[Sequence[float]] = None,
) -> None:
    """Writes the curves as a plotly HTML page (``output_file``, default ``plot.html``) and opens it.

    Raises:
        SystemExit: plotly is not installed.
    """
    del figsize, show
    write_plotly(scatters, title, "Bit-rate [bpp]", ylabel, output_file, limits, auto_open=True)


def write_plotly(
    scatters: Sequence[Dict[str, Any]],
    title: Optional[str],
    xlabel: str,
    ylabel: str,
    output_file: Optional[str],
    limits: Optional[Sequence[float]] = None,
    auto_open: bool = True,
) -> None:
    """Writes the curves ``scatters`` (``{"name", "xs", "ys"}`` each) as a plotly HTML page
    (``output_file``, default ``plot.html``), opened in a browser when ``auto_open``;
    ``limits`` is ``(xmin, xmax, ymin, ymax)`` (default: autorange). The plotly backend
    of this tool and of :mod:`neuralcodec.utils.video.plot`.

    Raises:
        SystemExit: plotly is not installed.
    """
    try:
        import plotly.graph_objs as go  # type: ignore[import-untyped]
        import plotly.io as pio  # type: ignore[import-untyped]
    except ImportError:
        raise SystemExit("Unable to import plotly, install with: pip install pandas plotly") from None
    fig = go.Figure()
    for sc in scatters:
        fig.add_traces(go.Scatter(x=sc["xs"], y=sc["ys"], name=sc["name"]))
    fig.update_xaxes(title_text=xlabel)
    fig.update_yaxes(title_text=ylabel)
    if title:
        fig.update_layout(title_text=title)
    if limits is not None:
        fig.update_xaxes(range=[limits[0], limits[1]])
        fig.update_yaxes(range=[limits[2], limits[3]])
    pio.write_html(fig, file=output_file or "plot.html", auto_open=auto_open)


def setup_args() -> argparse.ArgumentParser:
    """The parser, with CompressAI's arguments."""
    return plot_parser("Plot rate-distortion curves of results files.", default_metric="psnr")


def plot_parser(description: str, default_metric: str) -> argparse.ArgumentParser:
    """CompressAI's plot options (``-f FILE...``, ``-m METRIC``, ``-t``, ``-o``,
    ``--figsize``, ``--axes``, ``--backend``, ``--show``), shared by this tool and
    :mod:`neuralcodec.utils.video.plot`; they differ only in ``description`` and the
    ``--metric`` default."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-f", "--results-file", metavar="", default="", type=str, nargs="*", required=True)
    parser.add_argument("-m", "--metric", metavar="", type=str, default=default_metric, help="Metric (default: %(default)s)")
    parser.add_argument("-t", "--title", metavar="", type=str, help="Plot title")
    parser.add_argument("-o", "--output", metavar="", type=str, help="Output file name")
    parser.add_argument(
        "--figsize", metavar="", type=float, nargs=2, default=(9, 6),
        help="Figure relative size (width, height), default: %(default)s",
    )  # fmt: skip
    parser.add_argument(
        "--axes", metavar="", type=float, nargs=4, default=None,
        help="Axes limit (xmin, xmax, ymin, ymax), default: autorange",
    )  # fmt: skip
    parser.add_argument(
        "--backend", type=str, metavar="", default=_backends[0], choices=_backends,
        help="Change plot backend (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--show", action="store_true", help="Open plot figure")
    return parser


def main(argv: Sequence[str]) -> None:
    """Runs the tool on ``argv`` (without the program name).

    Raises:
        ValueError: a file is not a results file or lacks the metric.
    """
    args = setup_args().parse_args(list(argv))
    scatters: List[Dict[str, Any]] = []
    for path in args.results_file:
        try:
            scatters.append(parse_json_file(path, args.metric))
        except ResultsError:  # a ValueError saying what is wrong
            print(f'Error reading file "{path}"', file=sys.stderr)
            raise
    plot = matplotlib_plt if args.backend == "matplotlib" else plotly_plt
    plot(scatters, args.title, f"{args.metric} [dB]", args.output, limits=args.axes, figsize=args.figsize, show=args.show)


if __name__ == "__main__":
    main(sys.argv[1:])
