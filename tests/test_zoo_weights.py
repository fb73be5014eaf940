"""Weights by URL (verified against the hash in the name, cached) or from local files.

Downloads are tested against an HTTP server on 127.0.0.1 started by the test.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from neuralcodec.zoo import (
    WEIGHT_FILES,
    WeightsError,
    convert_compressai_keys,
    download_weights,
    load_checkpoint,
    load_weights,
    weights_url,
)
from neuralcodec.zoo.weights import cache_dir, expected_hash_prefix


def tiny_state_dict() -> "OrderedDict[str, torch.Tensor]":
    torch.manual_seed(0)
    return OrderedDict(
        [("module.g_a.0.weight", torch.randn(4, 3, 5, 5)), ("module.entropy_bottleneck._biases.0", torch.randn(4, 3, 1))]
    )


def serialized(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class FileServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 and counts requests per path."""

    def __init__(self, files: dict[str, bytes], truncate: bool = False):
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                name = self.path.lstrip("/")
                server.requests.append(name)
                body = server.files.get(name)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (100 if truncate else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def hashed_name(body: bytes, stem: str = "tiny") -> str:
    return f"{stem}-{hashlib.sha256(body).hexdigest()[:8]}.pth.tar"


def test_a_download_is_verified_cached_and_not_fetched_twice(tmp_path):
    body = serialized(tiny_state_dict())
    name = hashed_name(body)
    with FileServer({name: body}) as server:
        first = download_weights(server.url + name, directory=tmp_path, progress=False)
        second = download_weights(server.url + name, directory=tmp_path, progress=False)
    assert first == second == tmp_path / name
    assert first.read_bytes() == body
    assert server.requests == [name]
    assert [p.name for p in tmp_path.iterdir()] == [name], "no temporary files left behind"


def test_a_file_that_does_not_match_the_hash_in_its_name_is_rejected_and_discarded(tmp_path):
    body = serialized(tiny_state_dict())
    name = "tiny-00000000.pth.tar"
    with FileServer({name: body}) as server:
        with pytest.raises(WeightsError, match="promises 00000000"):
            download_weights(server.url + name, directory=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupted_cached_file_is_detected(tmp_path):
    body = serialized(tiny_state_dict())
    name = hashed_name(body)
    (tmp_path / name).write_bytes(body[:-1] + b"x")
    with pytest.raises(WeightsError, match="cached file"):
        download_weights("http://127.0.0.1:9/" + name, directory=tmp_path, progress=False)


def test_a_server_that_is_down_is_reported_with_what_to_do(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(WeightsError, match="offline"):
        download_weights(f"http://127.0.0.1:{port}/w-0123abcd.pth", directory=tmp_path, progress=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_http_errors_and_broken_off_downloads_are_reported(tmp_path):
    body = serialized(tiny_state_dict())
    name = hashed_name(body)
    with FileServer({}) as server:
        with pytest.raises(WeightsError, match="HTTP 404"):
            download_weights(server.url + name, directory=tmp_path, progress=False)
    with FileServer({name: body}, truncate=True) as server:
        with pytest.raises(WeightsError, match="incomplete|broke off"):
            download_weights(server.url + name, directory=tmp_path, progress=False, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_names_without_a_hash_are_refused_unless_unchecked(tmp_path):
    body = serialized(tiny_state_dict())
    with FileServer({"plain.pth": body}) as server:
        with pytest.raises(WeightsError, match="no SHA-256 prefix"):
            download_weights(server.url + "plain.pth", directory=tmp_path, progress=False)
        path = download_weights(server.url + "plain.pth", directory=tmp_path, progress=False, check_hash=False)
    assert path.read_bytes() == body


def test_load_weights_from_a_url_converts_the_keys(tmp_path):
    body = serialized(tiny_state_dict())
    name = hashed_name(body)
    with FileServer({name: body}) as server:
        state = load_weights(server.url + name, directory=tmp_path, progress=False)
    assert list(state) == ["g_a.0.weight", "entropy_bottleneck.biases.0"]


def test_training_checkpoints_and_bare_state_dicts_load_from_local_files(tmp_path):
    state = tiny_state_dict()
    torch.save({"epoch": 3, "state_dict": state, "optimizer": {"lr": 1e-4}}, tmp_path / "train.pth.tar")
    torch.save(state, tmp_path / "bare.pth")
    for name in ("train.pth.tar", "bare.pth"):
        loaded = load_checkpoint(tmp_path / name)
        assert list(loaded) == list(state)
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert list(load_weights(tmp_path / "bare.pth")) == ["g_a.0.weight", "entropy_bottleneck.biases.0"]


class NotWeights:
    pass


def test_files_that_are_not_state_dicts_are_refused(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="cannot read"):
        load_checkpoint(tmp_path / "junk.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="does not hold a state_dict"):
        load_checkpoint(tmp_path / "list.pth")
    # weights_only loading refuses arbitrary pickled objects instead of running their code.
    torch.save({"x": NotWeights()}, tmp_path / "pickle.pth")
    with pytest.raises(WeightsError, match="cannot read"):
        load_checkpoint(tmp_path / "pickle.pth")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("module.g_a.0.weight", "g_a.0.weight"),
        ("module.module.h_s.2.bias", "h_s.2.bias"),
        ("g_a.2.downsample.weight", "g_a.2.skip.weight"),
        ("entropy_bottleneck._biases.3", "entropy_bottleneck.biases.3"),
        ("entropy_bottleneck._bias3", "entropy_bottleneck.biases.3"),
        ("entropy_bottleneck._matrices.0", "entropy_bottleneck.matrices.0"),
        ("entropy_bottleneck._matrix4", "entropy_bottleneck.matrices.4"),
        ("entropy_bottleneck._factors.2", "entropy_bottleneck.factors.2"),
        ("entropy_bottleneck._factor1", "entropy_bottleneck.factors.1"),
        ("entropy_bottleneck.factors.1", "entropy_bottleneck.factors.1"),
        ("entropy_bottleneck.quantiles", "entropy_bottleneck.quantiles"),
        ("entropy_bottleneck._quantized_cdf", "entropy_bottleneck._quantized_cdf"),
    ],
)
def test_compressai_key_spellings_are_converted(old, new):
    assert list(convert_compressai_keys({old: torch.zeros(1)})) == [new]


def test_every_published_file_name_carries_a_hash_and_urls_are_built_from_the_table():
    for architecture, metrics in WEIGHT_FILES.items():
        for metric, qualities in metrics.items():
            for quality, name in qualities.items():
                assert expected_hash_prefix(name) is not None, name
                assert weights_url(architecture, metric, quality).endswith("/" + name)
    assert weights_url("mbt2018", "mse", 3).endswith("mbt2018-3-22901978.pth.tar")
    with pytest.raises(ValueError, match="quality 9"):
        weights_url("cheng2020-anchor", "mse", 9)
    with pytest.raises(ValueError, match="metric 'psnr'"):
        weights_url("mbt2018", "psnr", 1)
    with pytest.raises(ValueError, match="architecture"):
        weights_url("nope", "mse", 1)


def test_the_cache_folder_follows_neuralcodec_home(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURALCODEC_HOME", str(tmp_path))
    assert cache_dir() == Path(tmp_path) / "weights"
