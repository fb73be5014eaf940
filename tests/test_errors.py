"""One base class for the package's errors: every exception class neuralcodec defines is a
:class:`neuralcodec.errors.NeuralCodecError`, and keeps its built-in kind (issue #29)."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import neuralcodec
from neuralcodec.errors import NeuralCodecError

#: Exception classes outside the hierarchy (none: the Rust core's StreamError is defined on
#: neuralcodec.errors.NeuralCodecValueError).
OUTSIDE: set = set()


def _package_modules():
    for info in pkgutil.walk_packages(neuralcodec.__path__, prefix="neuralcodec."):
        if info.name.endswith(".__main__"):
            continue  # running it is the command line
        try:
            yield importlib.import_module(info.name)
        except ModuleNotFoundError as error:  # an optional dependency (onnx, imagecodecs, ...)
            if (error.name or "").startswith("neuralcodec"):
                raise


def _exception_classes():
    found = {}
    for module in [neuralcodec, *_package_modules()]:
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and not issubclass(value, Warning):
                if value.__module__.startswith(("neuralcodec", "_core")):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_exception_class_of_the_package_is_a_neuralcodec_error():
    classes = _exception_classes()
    # The walk reached every layer (the codec, the zoo, the engine, eval, bench, export).
    for name in ("CodecError", "WeightsError", "EngineUnsupportedError", "DatasetError", "BenchError", "ManifestError"):
        assert any(key.endswith("." + name) for key in classes), name
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, NeuralCodecError))
    assert set(outside) <= OUTSIDE, f"not NeuralCodecError subclasses: {outside}"


def test_the_rust_cores_stream_error_is_a_neuralcodec_error_and_a_value_error():
    from neuralcodec.ans import RansDecoder, StreamError

    assert issubclass(StreamError, NeuralCodecError) and issubclass(StreamError, ValueError)
    decoder = RansDecoder()
    with pytest.raises(NeuralCodecError, match="string"):
        decoder.decode_with_indexes(b"\x00\x01\x02", [0], [[0, 65536]], [2], [0])


def test_the_errors_keep_their_builtin_kind():
    from neuralcodec.bench.codecs import BenchError
    from neuralcodec.codec import CodecError, FormatError
    from neuralcodec.engine import EngineUnsupportedError
    from neuralcodec.zoo.weights import WeightsError

    assert issubclass(FormatError, CodecError) and issubclass(CodecError, ValueError)
    assert issubclass(WeightsError, RuntimeError) and issubclass(BenchError, RuntimeError)
    assert issubclass(EngineUnsupportedError, TypeError)
    with pytest.raises(ValueError):
        raise FormatError("a ValueError still")
    with pytest.raises(NeuralCodecError):
        raise FormatError("and a NeuralCodecError")


def test_the_errors_module_is_torch_free():
    code = "import sys, neuralcodec.errors; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_unsupported_names_getattr_says_what_is_missing_and_where_to_get_it(monkeypatch):
    import types

    from neuralcodec.errors import unsupported_names_getattr

    module = types.ModuleType("neuralcodec.fake.meshes")
    module.__getattr__ = unsupported_names_getattr(module.__name__, ("MeshLoss",), "mesh loss", "trimesh")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    expected = (
        "neuralcodec does not implement CompressAI's mesh loss 'MeshLoss' (it codes images); "
        "install compressai with trimesh and import it from compressai.fake.meshes"
    )
    with pytest.raises(ImportError) as raised:
        _ = module.MeshLoss
    assert str(raised.value) == expected
    with pytest.raises(ImportError, match="mesh loss 'MeshLoss'"):
        from neuralcodec.fake.meshes import MeshLoss  # noqa: F401
    with pytest.raises(AttributeError, match=r"module 'neuralcodec\.fake\.meshes' has no attribute 'Other'"):
        _ = module.Other
    assert not hasattr(module, "Other")
