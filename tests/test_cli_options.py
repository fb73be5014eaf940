"""One vocabulary on the command line: shared option names, hidden old spellings, exit
codes of usage errors, and help texts written for users."""

import re
from pathlib import Path

import pytest
from PIL import Image

from codec_models import pixels, small_model
from neuralcodec.cli import _build, main

IMAGES = Path(__file__).parent / "fixtures" / "images"

#: Subcommand -> the shared options it takes (each spelled alike everywhere).
SHARED = {
    "compress": ["--model", "-q, --quality", "--device", "--force", "--quiet"],
    "decompress": ["--device", "--force", "--quiet"],
    "eval": ["--model", "-q Q [Q ...], --quality", "--device", "--force", "--quiet"],
    "export": ["--model", "-q, --quality", "--force"],
    "train": ["--model", "--device", "--force", "--quiet"],
    "bench": ["-q Q [Q ...], --quality", "--force", "--quiet"],
    "demo": ["-q, --quality", "--force"],
}
HIDDEN = ["--architecture", "-a NAME", "--cuda", "--overwrite", "--no-progress"]


def _help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(SHARED))
def test_every_subcommand_spells_the_shared_options_alike_and_hides_the_old_ones(command, capsys):
    text = _help(command, capsys)
    for option in SHARED[command]:
        # "-q, --quality" in the table reads "-q Q, --quality Q"; compare without metavars.
        assert re.sub(r" Q( \[Q \.\.\.\])?,", ",", option) in re.sub(r" Q( \[Q \.\.\.\])?,", ",", text), option
    for old in HIDDEN:
        assert old not in text, f"{old} is a hidden alias, not listed by {command} --help"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["compress", "x.png", "--architecture", "mbt2018"], {"model": "mbt2018"}),
        (["decompress", "x.nci", "-q", "--overwrite"], {"quiet": True, "force": True}),
        (["decompress", "x.nci", "--cuda", "--no-progress"], {"device": "cuda", "quiet": True}),
        (["eval", "data", "-a", "mbt2018", "--cuda", "--no-progress", "-m", "ms-ssim", "-p", "w.pt"],
         {"model": "mbt2018", "device": "cuda", "quiet": True, "metric": "ms-ssim", "checkpoint": [Path("w.pt")]}),
        (["eval", "data"], {"model": None, "device": "cpu", "quiet": False, "metric": "mse", "checkpoint": None}),
        (["export", "out", "--architecture", "mbt2018", "--overwrite"], {"model": "mbt2018", "force": True}),
        (["export", "out"], {"model": None, "force": False}),
        (["train", "imgs", "-o", "run", "--architecture", "mbt2018", "--overwrite", "--no-progress"],
         {"architecture": "mbt2018", "overwrite": True, "progress": False}),
        (["train", "imgs", "-o", "run", "--model", "mbt2018", "--force", "--quiet"],
         {"architecture": "mbt2018", "overwrite": True, "progress": False}),
        (["bench", "jpeg", "data", "--no-progress", "--overwrite"], {"quiet": True, "force": True}),
        (["plot", "a.json", "-o", "a.png", "--overwrite"], {"force": True}),
    ],
)
def test_old_spellings_still_work_as_hidden_aliases(argv, expected):
    parser, _ = _build()
    args = parser.parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected


def test_an_unknown_option_is_reported_by_the_subcommand_with_exit_code_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compress", "--bogus", "x.png"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage: neuralcodec compress" in err
    assert "neuralcodec compress: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("command", ["demo", "lossless", "compress", "decompress", "eval", "plot", "bdrate", "export",
                                     "train", "bench"])
def test_help_texts_hold_no_markup_or_developer_prose(command, capsys):
    text = _help(command, capsys)
    for markup in ("``", ":mod:", ":func:", ":class:", ":data:", "%%", "**"):
        assert markup not in text, f"{markup!r} in {command} --help"
    assert "Args:" not in text and "Returns" not in text and "Runs the lossless demo" not in text


def test_bdrate_help_names_its_arguments_as_its_prose_does(capsys):
    text = _help("bdrate", capsys)
    assert "REFERENCE.json TEST.json [TEST.json ...]" in text
    assert "each TEST.json results file against REFERENCE.json" in text and "(%;" in text


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(pixels(16, 24)).save(path)
    return path


def test_an_unknown_coding_path_is_a_usage_error_without_python_names(tmp_path, photo, capsys):
    from neuralcodec.zoo.defaults import save_weights

    weights = tmp_path / "w.safetensors"
    save_weights(small_model("mbt2018-mean"), weights, "mbt2018-mean")
    assert main(["compress", str(photo), "--checkpoint", str(weights), "--coding-path", "foo"]) == 2
    err = capsys.readouterr().err
    assert "--coding-path foo" in err and "'foo'" in err and "engine" in err and "compat" in err
    assert "Error" not in err, "no Python class name in the message"
    assert not (tmp_path / "p.nci").exists()


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    """CompressAI's weights cannot be downloaded: the server refuses the connection."""
    monkeypatch.setenv("NEURALCODEC_HOME", str(tmp_path / "home"))
    unreachable = "http://127.0.0.1:9/bmshj2018-factorized-prior-1-446d5c7f.pth.tar"
    monkeypatch.setattr("neuralcodec.zoo.image.weights_url", lambda architecture, metric, quality: unreachable)
    return tmp_path / "home" / "weights"


@pytest.mark.parametrize("command", ["compress", "eval"])
def test_offline_pretrained_weights_are_a_usage_error_naming_the_folder_and_option(command, offline, photo, capsys):
    if command == "compress":
        argv = ["compress", str(photo), "--model", "bmshj2018-factorized", "-q", "1", "--quiet"]
    else:
        argv = ["eval", str(photo), "--model", "bmshj2018-factorized", "--pretrained", "-q", "1", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(offline) in err, "names the folder to place the file in"
    assert "--checkpoint FILE" in err and "NEURALCODEC_HOME" in err
    assert "Traceback" not in err
