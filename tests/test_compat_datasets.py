"""neuralcodec.datasets and .transforms: what CompressAI's suite does not check."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodec.datasets import (
    ImageFolder,
    PreGeneratedMemmapDataset,
    RawVideoSequence,
    VideoFolder,
    VideoFormat,
    Vimeo90kDataset,
    get_num_frms,
    get_raw_video_file_info,
)
from neuralcodec.datasets.cache import CacheDataset
from neuralcodec.datasets.ndarray import NdArrayDataset
from neuralcodec.datasets.stack import StackDataset
from neuralcodec.datasets.utils import hash_file
from neuralcodec.train.data import CropSampler
from neuralcodec.transforms.functional import rgb2ycbcr, ycbcr2rgb, yuv_420_to_444, yuv_444_to_420


def _save(path, size=(40, 30), value=(10, 20, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "RGB" else value[0]).save(path)


def _to_tensor(array):
    return torch.from_numpy(np.array(array)).permute(2, 0, 1).float() / 255.0


def test_a_missing_split_is_a_runtime_error_and_a_file_not_found_error_naming_it(tmp_path):
    (tmp_path / "train").mkdir()
    for kind in (RuntimeError, FileNotFoundError):
        with pytest.raises(kind, match="test"):
            ImageFolder(tmp_path, split="test")


def test_image_folder_lists_images_only_in_name_order_and_decodes_rgb(tmp_path):
    _save(tmp_path / "train" / "b.png", value=(200, 0, 0))
    _save(tmp_path / "train" / "a.JPG", value=(0, 0, 0))
    _save(tmp_path / "train" / "c.png", value=(77, 0, 0), mode="L")
    (tmp_path / "train" / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "train" / "notes.txt").write_text("not an image")
    (tmp_path / "train" / "sub").mkdir()
    dataset = ImageFolder(tmp_path)
    assert [p.name for p in dataset.samples] == ["a.JPG", "b.png", "c.png"]
    images = [dataset[i] for i in range(len(dataset))]
    assert all(isinstance(img, Image.Image) and img.mode == "RGB" for img in images)
    assert images[1].getpixel((0, 0)) == (200, 0, 0)
    assert images[2].getpixel((0, 0)) == (77, 77, 77)  # grayscale converted
    assert ImageFolder(tmp_path, transform=_to_tensor_from_pil)[1].shape == (3, 30, 40)


def _to_tensor_from_pil(img):
    return _to_tensor(np.asarray(img))


def test_the_trainers_crop_sampler_reads_the_same_files_and_pixels(tmp_path):
    _save(tmp_path / "train" / "b.png", value=(1, 2, 3))
    _save(tmp_path / "train" / "a.png", value=(4, 5, 6))
    (tmp_path / "train" / "readme.md").write_text("x")
    dataset = ImageFolder(tmp_path)
    sampler = CropSampler(tmp_path / "train", patch_size=16)
    assert sampler.files == dataset.samples
    assert torch.equal(sampler.full_image(0)[0], _to_tensor_from_pil(dataset[0]))
    with pytest.raises(ValueError, match="no images"):
        CropSampler(_empty(tmp_path), patch_size=16)


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_pregenerated_patches_read_back_and_bad_files_are_refused(tmp_path):
    patches = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    patches.tofile(tmp_path / "training.npy")
    dataset = PreGeneratedMemmapDataset(tmp_path, image_size=(4, 6))
    assert len(dataset) == 2
    assert np.array_equal(np.asarray(dataset[1]), patches[1])
    with pytest.raises(ValueError, match="split"):
        PreGeneratedMemmapDataset(tmp_path, split="test")
    with pytest.raises(ValueError, match="whole"):
        PreGeneratedMemmapDataset(tmp_path, image_size=5)
    with pytest.raises(FileNotFoundError, match=r"validation\.npy"):
        PreGeneratedMemmapDataset(tmp_path, split="valid", image_size=(4, 6))
    with pytest.raises(RuntimeError):
        PreGeneratedMemmapDataset(tmp_path / "missing")


def test_video_folder_gives_three_frames_in_order_sharing_one_transform(tmp_path):
    clip = tmp_path / "sequences" / "clip0"
    for k, value in enumerate((10, 20, 30, 40)):
        _save(clip / f"im{k + 1}.png", size=(8, 6), value=(value, 0, 0))
    (tmp_path / "train.list").write_text("clip0\n")
    frames = VideoFolder(tmp_path, transform=_to_tensor)[0]
    assert len(frames) == 3 and all(f.shape == (3, 6, 8) for f in frames)
    assert [round(float(f[0, 0, 0]) * 255) for f in frames] == [10, 20, 30]
    with pytest.raises(RuntimeError, match="transform"):
        VideoFolder(tmp_path)
    with pytest.raises(RuntimeError, match=r"test\.list"):
        VideoFolder(tmp_path, transform=_to_tensor, split="test")


def test_vimeo90k_lists_every_frame_of_every_clip_and_checks_its_choices(tmp_path):
    (tmp_path / "tri_trainlist.txt").write_text("00001/0001\n\n00001/0002\n")
    for clip in ("0001", "0002"):
        for k in range(1, 4):
            _save(tmp_path / "sequences" / "00001" / clip / f"im{k}.png", size=(4, 4))
    dataset = Vimeo90kDataset(tmp_path)
    assert len(dataset) == 6
    assert dataset.samples[3].endswith("00001/0002/im1.png")
    assert dataset[5].size == (4, 4)
    for kwargs in ({"tuplet": 5}, {"split": "test"}):
        for kind in (ValueError, KeyError):
            with pytest.raises(kind):
                Vimeo90kDataset(tmp_path, **kwargs)


def _write_yuv420(path, frames, width, height, dtype=np.uint8):
    planes = []
    for f in range(frames):
        planes.append(np.full((height, width), 10 + f, dtype))
        planes.append(np.full(((height + 1) // 2, (width + 1) // 2), 100 + f, dtype))
        planes.append(np.full(((height + 1) // 2, (width + 1) // 2), 200 + f, dtype))
    np.concatenate([p.ravel() for p in planes]).tofile(path)


def test_a_raw_420_file_reads_back_frame_by_frame(tmp_path):
    path = tmp_path / "clip_8x6_25fps_8bit_420.yuv"
    _write_yuv420(path, frames=3, width=8, height=6)
    seq = RawVideoSequence.from_file(str(path))
    assert (seq.width, seq.height, seq.bitdepth, seq.format, seq.framerate) == (8, 6, 8, VideoFormat.YUV420, 25)
    assert len(seq) == seq.total_frms == 3
    frame = seq[2]
    assert frame["y"].shape == (6, 8) and frame["u"].shape == (3, 4)
    assert int(frame["y"][0, 0]) == 12 and int(frame["u"][0, 0]) == 102 and int(frame["v"][0, 0]) == 202
    copy = tmp_path / "decoded.yuv"
    copy.write_bytes(path.read_bytes())
    assert len(RawVideoSequence.new_like(seq, str(copy))) == 3


def test_ten_bit_and_odd_sized_frames_are_counted_whole(tmp_path):
    path = tmp_path / "clip_7x5_30fps_10bit_420.yuv"
    _write_yuv420(path, frames=2, width=7, height=5, dtype=np.uint16)
    seq = RawVideoSequence.from_file(str(path))
    assert len(seq) == seq.total_frms == 2
    assert seq[1]["u"].shape == (3, 4) and int(seq[1]["y"][4, 6]) == 11
    assert get_num_frms(path.stat().st_size, 7, 5, VideoFormat.YUV420, np.uint16) == 2
    truncated = tmp_path / "cut_8x6_8bit_420.yuv"
    truncated.write_bytes(b"\x00" * (72 + 10))
    with pytest.raises(ValueError, match="whole number"):
        RawVideoSequence.from_file(str(truncated))
    with pytest.raises(RuntimeError, match="format"):
        RawVideoSequence.from_file(str(tmp_path / "clip_8x6.yuv"))


@pytest.mark.parametrize(
    "name, expected",
    [
        ("BQMall_832x480_60fps_8bit_420.yuv", {"width": 832, "height": 480, "framerate": Fraction(60),
                                              "bitdepth": 8, "format": VideoFormat.YUV420, "extension": "yuv"}),
        ("Race_1920x1080_59.94Hz_10bit_p444.yuv", {"framerate": Fraction(60000, 1001), "bitdepth": 10,
                                                   "format": VideoFormat.YUV444}),
        ("x_416x240_30fps_I420_10LE.yuv", {"bitdepth": 10, "format": VideoFormat.YUV420, "endianness": "le"}),
        ("x_416x240_30fps_yuv420p10le", {"bitdepth": 10, "format": VideoFormat.YUV420, "endianness": "le"}),
        ("v_100x50_25fps_y42B.yuv", {"format": VideoFormat.YUV422, "bitdepth": 8}),
        ("Basketball_1920x1080_50.yuv", {"width": 1920, "height": 1080, "bitdepth": 8}),
    ],
)
def test_file_names_give_size_rate_depth_and_format(name, expected):
    info = get_raw_video_file_info(name)
    assert {k: info.get(k) for k in expected} == expected


def test_a_file_name_with_two_bit_depths_is_refused_and_one_with_none_gives_nothing():
    with pytest.raises(ValueError, match="bit-depth twice"):
        get_raw_video_file_info("x_8x8_12bit_I420_10LE.yuv")
    assert get_raw_video_file_info("nothing") == {}
    assert "format" not in get_raw_video_file_info("x_4200x2000_8bit.yuv")  # no "420" inside a number


class _Squares(CacheDataset):
    def __init__(self, root, fail_at=None):
        super().__init__(root)
        self.loaded, self.fail_at = [], fail_at
        self._ensure_cache()

    def _get_items(self):
        return [1, 2, 3]

    def _load_item(self, item):
        if item == self.fail_at:
            raise OSError("interrupted")
        self.loaded.append(item)
        return {"x": np.full((2,), item * item, np.float32), "n": torch.tensor([item])}


def test_a_cache_dataset_computes_once_and_an_interrupted_cache_is_redone(tmp_path):
    with pytest.raises(OSError):
        _Squares(tmp_path / "c", fail_at=3)
    assert not (tmp_path / "c" / "info.json").exists()
    first = _Squares(tmp_path / "c")
    assert first.loaded == [1, 2, 3] and len(first) == 3
    second = _Squares(tmp_path / "c")
    assert second.loaded == [] and np.array_equal(second[2]["x"], [9.0, 9.0]) and int(second[1]["n"][0]) == 2


def test_array_and_stacked_datasets_check_their_lengths():
    a, b = np.arange(6).reshape(3, 2), np.arange(3)
    assert NdArrayDataset(a, b)[1][1] == 1 and np.array_equal(NdArrayDataset(a, single=True)[2], [4, 5])
    with pytest.raises(ValueError, match="Size mismatch"):
        NdArrayDataset(a, np.arange(4))
    assert StackDataset(a=a, b=b)[2]["b"] == 2 and StackDataset(a, b)[0][1] == 0
    with pytest.raises(ValueError):
        StackDataset(a, b=b)
    with pytest.raises(ValueError, match="Size mismatch"):
        StackDataset(a, np.arange(5))


def test_hash_file_is_sha256_of_the_bytes(tmp_path):
    import hashlib

    (tmp_path / "f").write_bytes(b"abc" * 100000)
    assert hash_file(tmp_path / "f", bufsize=1000) == hashlib.sha256(b"abc" * 100000).hexdigest()


def test_colour_conversions_keep_white_grey_and_flat_chroma():
    white = torch.ones(1, 3, 4, 4)
    assert torch.allclose(rgb2ycbcr(white)[0, :, 0, 0], torch.tensor([1.0, 0.5, 0.5]), atol=1e-6)
    grey = torch.full((3, 2, 2), 0.25)
    assert torch.allclose(rgb2ycbcr(grey)[:, 0, 0], torch.tensor([0.25, 0.5, 0.5]), atol=1e-6)
    assert torch.allclose(ycbcr2rgb(rgb2ycbcr(grey)), grey, atol=1e-6)
    flat = torch.cat([torch.rand(1, 1, 8, 8), torch.full((1, 2, 8, 8), 0.3)], dim=1)
    y, u, v = yuv_444_to_420(flat)
    assert u.shape == (1, 1, 4, 4) and torch.allclose(u, torch.full_like(u, 0.3))
    for mode in ("bilinear", "bicubic", "nearest"):
        assert torch.allclose(yuv_420_to_444((y, u, v), mode=mode), flat, atol=1e-6)


def test_sixteen_bit_images_are_refused_rather_than_clipped(tmp_path):
    (tmp_path / "train").mkdir()
    Image.fromarray(np.full((4, 4), 40000, np.uint16)).save(tmp_path / "train" / "deep.png")
    with pytest.raises(ValueError, match="more than 8 bits"):
        ImageFolder(tmp_path)[0]
