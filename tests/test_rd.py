"""Bjøntegaard deltas (PCHIP), results files, RD plots, and the ``plot``/``bdrate`` commands."""

import doctest
import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_runs import run_cli, run_in_process
from PIL import Image

from neuralcodec.eval.rd import (
    bd_psnr,
    bd_rate,
    bjontegaard,
    msssim_db,
    pchip_integral,
    pchip_slopes,
    plot_curves,
    results_bjontegaard,
)
from neuralcodec.eval.results import ResultsError, build_results, load_results, write_results

RATES = [0.12, 0.25, 0.5, 0.9, 1.6]
PSNRS = [27.0, 29.5, 32.2, 34.6, 37.5]


def test_the_docstring_examples_run():
    import neuralcodec.eval.rd

    result = doctest.testmod(neuralcodec.eval.rd)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------------------- PCHIP
def test_pchip_reproduces_straight_lines_and_their_integrals():
    x = np.array([0.0, 1.0, 3.0, 4.5])
    y = 2 * x + 1
    assert pchip_slopes(x, y) == pytest.approx([2, 2, 2, 2])
    # integral of 2x + 1 over [0.5, 4] = [x^2 + x] = 20 - 0.75
    assert pchip_integral(x, y, 0.5, 4.0) == pytest.approx(19.25)


def test_pchip_integral_of_a_hand_computed_case():
    # points (0,0), (1,1), (2,4): secants 1 and 3; interior slope = harmonic mean with
    # equal spacing = 2 / (1/1 + 1/3) = 1.5; end slopes (3*1 - 3)/2 = 0 and (3*3 - 1)/2 = 4.
    x, y = [0.0, 1.0, 2.0], [0.0, 1.0, 4.0]
    assert pchip_slopes(np.array(x), np.array(y)) == pytest.approx([0.0, 1.5, 4.0])
    # each Hermite piece integrates to h (y0 + y1) / 2 + h^2 (d0 - d1) / 12
    expected = (0 + 1) / 2 + (0 - 1.5) / 12 + (1 + 4) / 2 + (1.5 - 4) / 12
    assert pchip_integral(x, y, 0.0, 2.0) == pytest.approx(expected)


def test_pchip_matches_scipy_when_available():
    interpolate = pytest.importorskip("scipy.interpolate")
    rng = np.random.default_rng(3)
    for n in (2, 3, 4, 7):
        for _ in range(20):
            x = np.sort(rng.uniform(0, 10, n))
            y = rng.normal(size=n)
            lo, hi = np.sort(rng.uniform(x[0], x[-1], 2))
            reference = interpolate.PchipInterpolator(x, y)
            assert pchip_integral(x, y, lo, hi) == pytest.approx(reference.integrate(lo, hi), abs=1e-9)
            assert pchip_slopes(x, y) == pytest.approx(reference.derivative()(x), abs=1e-9)


def test_pchip_refuses_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        pchip_integral([0, 0, 1], [1, 2, 3], 0, 1)
    with pytest.raises(ValueError, match="not inside"):
        pchip_integral([0, 1], [1, 2], -1, 1)


# ------------------------------------------------------------------------- Bjontegaard
def test_a_curve_against_itself_gives_zero():
    delta = bjontegaard(RATES, PSNRS, RATES, PSNRS)
    assert delta.rate_percent == pytest.approx(0, abs=1e-12)
    assert delta.quality_db == pytest.approx(0, abs=1e-12)
    assert delta.quality_range == (27.0, 37.5)


def test_rates_all_ten_percent_lower_give_minus_ten_percent():
    lower = [0.9 * r for r in RATES]
    assert bd_rate(RATES, PSNRS, lower, PSNRS) == pytest.approx(-10.0, abs=1e-9)
    # and the reverse: 1 / 0.9 - 1 = +11.11%
    assert bd_rate(lower, PSNRS, RATES, PSNRS) == pytest.approx(100 / 9, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, lower, PSNRS) > 0


def test_a_psnr_shift_gives_that_bd_psnr_and_the_matching_bd_rate():
    # on a straight line PSNR = a + b log10(R), +delta dB is the same as rates times
    # 10^(-delta / b): BD-rate = 10^(-delta / b) - 1 exactly (PCHIP keeps lines straight)
    b, delta = 8.0, 0.6
    rates = np.array([0.1, 0.2, 0.4, 0.8, 1.6])
    psnr = 30 + b * np.log10(rates)
    result = bjontegaard(rates, psnr, rates, psnr + delta)
    assert result.quality_db == pytest.approx(delta, abs=1e-12)
    assert result.rate_percent == pytest.approx(100 * (10 ** (-delta / b) - 1), abs=1e-9)


def test_point_order_does_not_matter_and_swapping_inverts_the_rate_ratio():
    shuffled = [2, 0, 4, 1, 3]
    other_rates = [r * f for r, f in zip(RATES, (0.8, 0.85, 0.9, 0.95, 0.93))]
    forward = bjontegaard(RATES, PSNRS, other_rates, PSNRS)
    again = bjontegaard([RATES[i] for i in shuffled], [PSNRS[i] for i in shuffled], other_rates, PSNRS)
    assert again == forward
    backward = bjontegaard(other_rates, PSNRS, RATES, PSNRS)
    assert (1 + forward.rate_percent / 100) * (1 + backward.rate_percent / 100) == pytest.approx(1)
    assert backward.quality_db == pytest.approx(-forward.quality_db)


@pytest.mark.parametrize(
    "a, b, message",
    [
        (([0.1], [30.0]), (RATES, PSNRS), "at least 2"),
        (([0.1, -0.2], [30.0, 31.0]), (RATES, PSNRS), "positive"),
        (([0.1, 0.2], [30.0, 30.0]), (RATES, PSNRS), "same quality"),
        (([0.1, 0.2], [50.0, 52.0]), (RATES, PSNRS), "do not overlap"),
        (([0.1, math.nan], [30.0, 31.0]), (RATES, PSNRS), "finite"),
    ],
)
def test_bjontegaard_refuses_curves_it_cannot_compare(a, b, message):
    with pytest.raises(ValueError, match=message):
        bjontegaard(*a, *b)


def test_msssim_db():
    assert msssim_db([0.9, 0.99]) == pytest.approx([10.0, 20.0])


# ---------------------------------------------------------------------------- results
def _results(name, rates, psnrs, msssim=None):
    rows = [
        [{"bpp": r, "psnr-rgb": p, "ms-ssim-rgb": m, "encoding_time": 0.1, "decoding_time": 0.05}]
        for r, p, m in zip(rates, psnrs, msssim or [0.9 + 0.01 * i for i in range(len(rates))])
    ]
    return build_results(name, f"{name} curve", list(range(1, len(rates) + 1)), rows, ["img.png"])


def test_results_files_round_trip_and_old_compressai_spellings_load(tmp_path):
    path = tmp_path / "a.json"
    write_results(_results("a", RATES, PSNRS), path)
    data = load_results(path)
    assert data["results"]["bpp"] == RATES and data["results"]["psnr-rgb"] == PSNRS
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"name": "old", "results": {"bpp": RATES, "psnr": PSNRS, "ms-ssim": [0.9] * 5}}))
    assert results_bjontegaard(data, load_results(old)).rate_percent == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not a JSON results file"),
        ('{"name": "x"}', "no 'results' object"),
        ('{"results": {"psnr": [1, 2]}}', "no 'bpp' list"),
        ('{"results": {"bpp": [1, 2], "psnr": [1]}}', "differ in length"),
        ('{"results": {"bpp": [1, "2"]}}', "list of numbers"),
    ],
)
def test_malformed_results_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        load_results(path)
    with pytest.raises(ResultsError, match="does not exist"):
        load_results(tmp_path / "missing.json")


def test_results_are_valid_json_even_for_lossless_points(tmp_path):
    results = _results("lossless", [8.0, 12.0], [100.0, 100.0])
    write_results(results, tmp_path / "x.json")
    json.loads((tmp_path / "x.json").read_text())
    with pytest.raises(ValueError):
        write_results({"results": {"bpp": [float("inf")]}}, tmp_path / "y.json")


# ------------------------------------------------------------------------------- plots
@pytest.mark.parametrize("metric", ["psnr", "ms-ssim"])
def test_the_plot_is_a_png_of_the_requested_size(tmp_path, metric):
    pytest.importorskip("matplotlib")
    a = _results("a", RATES, PSNRS)
    b = _results("b", [0.9 * r for r in RATES], PSNRS)
    output = tmp_path / "rd.png"
    plot_curves([a, b], output, metric=metric, reference=0, size=(640, 480), dpi=80)
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(output) as img:
        img.verify()
    with Image.open(output) as img:
        assert img.format == "PNG" and img.size == (640, 480)


def test_plots_can_be_svg_and_other_suffixes_are_refused(tmp_path):
    pytest.importorskip("matplotlib")
    a = _results("a", RATES, PSNRS)
    plot_curves([a], tmp_path / "rd.svg")
    assert b"<svg" in (tmp_path / "rd.svg").read_bytes()[:500]
    with pytest.raises(ValueError, match=".png or .svg"):
        plot_curves([a], tmp_path / "rd.jpg")
    with pytest.raises(ValueError, match="reference index"):
        plot_curves([a], tmp_path / "rd.png", reference=3)


# ----------------------------------------------------------------------- command line
@pytest.fixture
def curve_files(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_results(_results("ref", RATES, PSNRS), a)
    write_results(_results("better", [0.9 * r for r in RATES], PSNRS), b)
    return a, b


def test_bdrate_command_prints_the_deltas(curve_files, capsys):
    a, b = curve_files
    result = run_cli("bdrate", a, b)
    assert result.returncode == 0, result.stderr
    assert "reference: ref" in result.stdout
    assert "BD-rate    -10.00 %" in result.stdout
    assert "BD-PSNR" in result.stdout
    assert "BD-MS-SSIM(dB)" in run_in_process(capsys, "bdrate", a, b, "--metric", "ms-ssim")[1]


def test_bdrate_command_reports_bad_files_with_exit_code_2(curve_files, tmp_path, capsys):
    a, _ = curve_files
    (tmp_path / "broken.json").write_text("{")
    code, _, err = run_in_process(capsys, "bdrate", a, tmp_path / "broken.json")
    assert code == 2 and "not a JSON results file" in err
    far = tmp_path / "far.json"
    write_results(_results("far", RATES, [p + 30 for p in PSNRS]), far)
    code, _, err = run_in_process(capsys, "bdrate", a, far)
    assert code == 1 and "do not overlap" in err


def test_plot_command_writes_the_png_and_annotates_bd_rate(curve_files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    a, b = curve_files
    output = tmp_path / "plot.png"
    result = run_cli("plot", a, b, "-o", output, "--reference", "ref", "--size", "500x400")
    assert result.returncode == 0, result.stderr
    with Image.open(output) as img:
        assert img.size == (500, 400)
    # The rest in-process: the subprocess above is the end-to-end run.
    assert run_in_process(capsys, "plot", a, "-o", tmp_path / "x.gif")[0] == 2
    code, _, err = run_in_process(capsys, "plot", a, "-o", output, "--reference", "nope", "--force")
    assert code == 2 and "--reference" in err
    before = output.read_bytes()
    code, _, err = run_in_process(capsys, "plot", a, "-o", output)  # an existing plot is not replaced unasked
    assert code == 2 and "--force" in err and output.read_bytes() == before
    assert run_in_process(capsys, "plot", a, "-o", output, "--size", "300x200", "--force")[0] == 0
    with Image.open(output) as img:
        assert img.size == (300, 200)
    link = tmp_path / "link.png"  # a link counts as an existing output, even a dangling one
    link.symlink_to(tmp_path / "nowhere.png")
    assert run_in_process(capsys, "plot", a, "-o", link)[0] == 2 and link.is_symlink()
    assert run_in_process(capsys, "plot", a, "-o", link, "--force")[0] == 0
    assert run_in_process(capsys, "plot", a, "-o", output, "--size", "big")[0] == 2


def test_results_and_plots_never_replace_a_file_unless_forced(tmp_path):
    pytest.importorskip("matplotlib")
    a = _results("a", RATES, PSNRS)
    for name, write in (
        ("r.json", lambda path, **kw: write_results(a, path, **kw)),
        ("rd.png", lambda path, **kw: plot_curves([a], path, **kw)),
    ):
        path = tmp_path / name
        path.write_bytes(b"theirs")
        with pytest.raises(FileExistsError, match="force"):
            write(path)
        assert path.read_bytes() == b"theirs"
        write(path, force=True)
        assert path.read_bytes() != b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "rd.png"]  # no partial files left


def test_a_results_file_that_appears_during_a_run_is_kept_and_the_results_go_to_stdout(tmp_path, monkeypatch, capsys):
    from neuralcodec.bench import runner
    from neuralcodec.cli import main

    output = tmp_path / "jpeg.json"

    def slow_benchmark(*args, **kwargs):
        output.write_text("written by someone else meanwhile")
        return _results("jpeg", RATES, PSNRS)

    monkeypatch.setattr(runner, "run_benchmark", slow_benchmark)
    images = Path(__file__).parent / "fixtures" / "images"
    code = main(["bench", "jpeg420", str(images), "-q", "50", "-o", str(output), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1 and "appeared during the run" in captured.err
    assert output.read_text() == "written by someone else meanwhile"
    assert json.loads(captured.out)["results"]["bpp"] == RATES
