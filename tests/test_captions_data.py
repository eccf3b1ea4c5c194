"""Caption data: the Flickr8k and COCO loaders, the vocabulary, image reading."""

from __future__ import annotations

import json

import numpy as np
import pytest

PIL = pytest.importorskip("PIL", reason="image reading needs Pillow (keras-rnnzoo[captioning])")
from PIL import Image  # noqa: E402

from keras_rnnzoo.data.captions import (  # noqa: E402
    CaptionedImage,
    Vocabulary,
    load_captions,
    load_coco,
    load_flickr8k,
    read_image,
    tokenize,
)

# Data generation and loading only (NumPy and Pillow): no Keras backend involved.
pytestmark = pytest.mark.backend_independent


def _write_image(path, size=(20, 16), color=(200, 30, 40)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


# ----------------------------------------------------------------- vocabulary
def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A dog, running. Isn't it?") == ["a", "dog", "running", "isn't", "it"]


def test_vocabulary_special_tokens_and_round_trip():
    vocabulary = Vocabulary.build(["a red circle", "a blue square", "a red star"])
    assert vocabulary.tokens[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert vocabulary.tokens[4:6] == ["a", "red"]  # most frequent first
    ids = vocabulary.encode("A red zebra", max_length=7)
    assert ids[0] == vocabulary.start_id and ids[3] == vocabulary.unknown_id
    assert ids[4] == vocabulary.end_id and ids[5:] == [vocabulary.pad_id] * 2
    assert vocabulary.decode(ids) == "a red <unk>"
    restored = Vocabulary.from_json(json.loads(json.dumps(vocabulary.to_json())))
    assert restored.tokens == vocabulary.tokens


def test_vocabulary_truncation_keeps_end_and_min_count():
    vocabulary = Vocabulary.build(["a a b", "a c"], min_count=2)
    assert vocabulary.tokens[4:] == ["a"]
    ids = vocabulary.encode("a a a a a", max_length=4)
    assert ids == [1, 4, 4, 2]
    batch = vocabulary.encode_batch(["a", "a a"], 5)
    assert batch.shape == (2, 5) and batch.dtype == np.int32


def test_vocabulary_errors():
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary(["<end>", "a"])
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary.from_json({"tokens": ["a", "b"]})
    with pytest.raises(ValueError, match="outside the vocabulary"):
        Vocabulary(["a"]).decode([1, 99])


# ------------------------------------------------------------------- Flickr8k
def _flickr_fixture(root):
    images = root / "Flicker8k_Dataset"
    _write_image(images / "1000268201_693b08cb0e.jpg")
    _write_image(images / "1001773457_577c3a7d70.jpg", color=(10, 10, 200))
    lines = [
        "1000268201_693b08cb0e.jpg#0\tA child in a pink dress is climbing up a set of stairs in an entry way .",
        "1000268201_693b08cb0e.jpg#1\tA girl going into a wooden building .",
        "1001773457_577c3a7d70.jpg#0\tA black dog and a spotted dog are fighting",
        "",
        "1001773457_577c3a7d70.jpg#1\tA black dog and a tri-colored dog playing with each other on the road .",
    ]
    token_file = root / "Flickr8k.token.txt"
    token_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return token_file


def test_flickr8k_loader(tmp_path):
    token_file = _flickr_fixture(tmp_path)
    items = load_flickr8k(token_file)
    assert [item.path.name for item in items] == ["1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg"]
    assert items[0].captions[1] == "A girl going into a wooden building ."
    assert all(isinstance(item, CaptionedImage) and item.path.is_file() for item in items)
    assert load_captions(tmp_path, "flickr8k") == items  # a folder holding the token file


def test_flickr8k_errors_name_the_problem(tmp_path):
    token_file = _flickr_fixture(tmp_path)
    with open(token_file, "a") as handle:
        handle.write("no tab on this line\n")
    with pytest.raises(ValueError, match=r"Flickr8k.token.txt:6"):
        load_flickr8k(token_file)
    token_file.write_text("missing.jpg#0\tA caption .\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        load_flickr8k(token_file)
    with pytest.raises(FileNotFoundError, match="nothere.txt"):
        load_flickr8k(tmp_path / "nothere.txt")
    with pytest.raises(FileNotFoundError, match="Image folder"):
        load_flickr8k(token_file, tmp_path / "no_images")


# ----------------------------------------------------------------------- COCO
def _coco_fixture(root):
    annotations = root / "annotations"
    annotations.mkdir(parents=True)
    _write_image(root / "val2017" / "000000179765.jpg")
    _write_image(root / "val2017" / "000000190236.jpg", color=(0, 255, 0))
    data = {
        "info": {"description": "fixture"},
        "licenses": [],
        "images": [
            {"id": 179765, "file_name": "000000179765.jpg", "height": 16, "width": 20},
            {"id": 190236, "file_name": "000000190236.jpg", "height": 16, "width": 20},
        ],
        "annotations": [
            {"image_id": 179765, "id": 38, "caption": "A black Honda motorcycle parked in front of a garage."},
            {"image_id": 179765, "id": 182, "caption": "A Honda motorcycle parked in a grass driveway"},
            {"image_id": 190236, "id": 401, "caption": "An office cubicle with four different types of computers."},
        ],
    }
    path = annotations / "captions_val2017.json"
    path.write_text(json.dumps(data))
    return path, data


def test_coco_loader(tmp_path):
    path, _ = _coco_fixture(tmp_path)
    items = load_coco(path)
    assert len(items) == 2 and len(items[0].captions) == 2
    assert items[0].path == (tmp_path / "val2017" / "000000179765.jpg").resolve()
    assert items[1].captions == ("An office cubicle with four different types of computers.",)
    assert load_captions(tmp_path / "annotations", "coco") == items


def test_coco_errors_name_the_problem(tmp_path):
    path, data = _coco_fixture(tmp_path)
    data["annotations"].append({"image_id": 5, "id": 1, "caption": "orphan"})
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"annotations\[3\].*image id 5"):
        load_coco(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="captions_val2017.json is not valid JSON"):
        load_coco(path)
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="'annotations'"):
        load_coco(path)
    with pytest.raises(ValueError, match="Unknown caption format"):
        load_captions(path, "voc")


# --------------------------------------------------------------------- images
@pytest.mark.parametrize(
    "mode, value",
    [("L", 128), ("LA", (128, 255)), ("RGBA", (10, 20, 30, 255)), ("P", 3), ("I;16", 40000), ("CMYK", (0, 0, 0, 0))],
)
def test_read_image_converts_modes_and_resizes(tmp_path, mode, value):
    image = Image.new(mode, (30, 20), value)
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = tmp_path / f"picture_{mode.replace(';', '')}{suffix}"
    image.save(path)
    array = read_image(path, 16)
    assert array.shape == (16, 16, 3) and array.dtype == np.uint8
    if mode == "I;16":
        assert abs(int(array[0, 0, 0]) - round(40000 / 257)) <= 1


def test_read_image_alpha_is_composited_over_white(tmp_path):
    path = tmp_path / "transparent.png"
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(path)
    assert read_image(path).reshape(-1, 3).tolist()[0] == [255, 255, 255]


def test_read_image_arrays():
    assert read_image(np.zeros((5, 7), np.uint8)).shape == (5, 7, 3)
    assert read_image(np.ones((5, 7, 1), np.float32)).max() == 255
    assert read_image(np.full((4, 4, 3), 65535, np.uint16)).max() == 255
    rgba = np.zeros((4, 4, 4), np.uint8)
    assert read_image(rgba, (2, 3)).shape == (2, 3, 3)
    with pytest.raises(ValueError, match=r"got \(4, 4, 2\)"):
        read_image(np.zeros((4, 4, 2)))


def test_read_image_bad_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png is an empty file"):
        read_image(empty)
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    with pytest.raises(ValueError, match="notes.jpg is not an image file"):
        read_image(text)
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:60])
    with pytest.raises(ValueError, match="corrupt.png is a corrupt or truncated image"):
        read_image(corrupt)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="is a folder"):
        read_image(tmp_path)
