"""Image-caption data: Flickr8k and COCO loaders, a word vocabulary, image reading.

Formats read:

- **Flickr8k**: `Flickr8k.token.txt`, one caption a line,
  `<image file name>#<n>\\t<caption>`, plus a folder of the images.
- **COCO captions**: `captions_<split>.json` with `"images"`
  (`id`, `file_name`) and `"annotations"` (`image_id`, `caption`), plus a
  folder of the images.

Both loaders return a list of `CaptionedImage(path, captions)`.

Example:

>>> vocabulary = Vocabulary.build(["a red circle", "a blue square"])
>>> vocabulary.encode("a red star", max_length=6)
[1, 4, 7, 3, 2, 0]
>>> vocabulary.decode([1, 4, 7, 2, 0])
'a red'
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAD, START, END, UNKNOWN = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS = (PAD, START, END, UNKNOWN)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class CaptionedImage:
    """An image file and its reference captions."""

    path: Path
    captions: tuple[str, ...]


def tokenize(caption: str) -> list[str]:
    """Lower-cased words; punctuation dropped (`"A dog, running."` -> `['a', 'dog', 'running']`)."""
    return _WORD.findall(caption.lower())


class Vocabulary:
    """Word <-> id table with `<pad>`=0, `<start>`=1, `<end>`=2, `<unk>`=3.

    Args:
        words: the ordinary words, in id order (ids start at 4).
    """

    def __init__(self, words: Iterable[str]):
        words = list(words)
        clash = [word for word in words if word in SPECIAL_TOKENS]
        if clash:
            raise ValueError(f"Vocabulary words may not be special tokens: {clash}.")
        if len(set(words)) != len(words):
            raise ValueError("Vocabulary words must be unique.")
        self.tokens = list(SPECIAL_TOKENS) + words
        self.index = {token: position for position, token in enumerate(self.tokens)}
        self.pad_id, self.start_id, self.end_id, self.unknown_id = range(4)

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1, max_size: int | None = None):
        """The words of `captions` seen at least `min_count` times, most frequent first."""
        counts = Counter(word for caption in captions for word in tokenize(caption))
        ranked = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(SPECIAL_TOKENS))]
        return cls(ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, caption: str, max_length: int | None = None) -> list[int]:
        """`<start>` words `<end>`, unknown words as `<unk>`, padded / cut to `max_length`.

        A caption cut short keeps its `<end>` token as the last one.
        """
        ids = [self.start_id] + [self.index.get(w, self.unknown_id) for w in tokenize(caption)]
        ids.append(self.end_id)
        if max_length is not None:
            if len(ids) > max_length:
                ids = ids[: max_length - 1] + [self.end_id]
            ids = ids + [self.pad_id] * (max_length - len(ids))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Words up to the first `<end>`; `<start>` and `<pad>` skipped."""
        words = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id == self.end_id:
                break
            if token_id in (self.start_id, self.pad_id):
                continue
            if not 0 <= token_id < len(self.tokens):
                raise ValueError(f"Token id {token_id} is outside the vocabulary (size {len(self)}).")
            words.append(self.tokens[token_id])
        return " ".join(words)

    def encode_batch(self, captions: Iterable[str], max_length: int) -> np.ndarray:
        return np.array([self.encode(c, max_length) for c in captions], dtype=np.int32)

    def to_json(self) -> dict:
        return {"tokens": self.tokens}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        tokens = list(data.get("tokens", []))
        if tokens[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
            raise ValueError(
                f"A vocabulary must start with {list(SPECIAL_TOKENS)}; got {tokens[:4]}."
            )
        return cls(tokens[len(SPECIAL_TOKENS) :])


# ------------------------------------------------------------------ loaders
def load_flickr8k(token_file: str | os.PathLike, image_dir: str | os.PathLike | None = None):
    """Read `Flickr8k.token.txt` (`name.jpg#n<TAB>caption` lines).

    Args:
        token_file: the token file, or a folder holding `Flickr8k.token.txt`.
        image_dir: folder of the images; by default `Flicker8k_Dataset`,
            `Flickr8k_Dataset`, `Images` or `images` beside the token file,
            else the token file's folder.

    Returns:
        `CaptionedImage`s in file order.

    Raises:
        FileNotFoundError: the token file, the image folder or an image is missing.
        ValueError: a malformed line (its number is named).
    """
    token_file = Path(token_file)
    if token_file.is_dir():
        token_file = token_file / "Flickr8k.token.txt"
    if not token_file.is_file():
        raise FileNotFoundError(f"Flickr8k token file not found: {token_file}")
    image_dir = _image_dir(token_file.parent, image_dir, ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images"))
    grouped: dict[str, list[str]] = {}
    with token_file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            key, tab, caption = line.partition("\t")
            name, hash_sign, index = key.partition("#")
            if not tab or not hash_sign or not name or not caption.strip():
                raise ValueError(
                    f"{token_file}:{number}: expected 'IMAGE.jpg#N<TAB>caption', got {line[:80]!r}"
                )
            grouped.setdefault(name, []).append(caption.strip())
    if not grouped:
        raise ValueError(f"Flickr8k token file {token_file} holds no captions.")
    return [CaptionedImage(_image_path(image_dir, name, token_file), tuple(c)) for name, c in grouped.items()]


def load_coco(annotation_file: str | os.PathLike, image_dir: str | os.PathLike | None = None):
    """Read a COCO captions file (`captions_train2017.json` and the like).

    Args:
        annotation_file: the JSON file, or a folder holding one
            `captions_*.json` (the first by name if several).
        image_dir: folder of the images; by default the folder named like the
            split (`train2017` for `captions_train2017.json`) beside the file
            or beside its parent (the COCO `annotations/` layout), else
            `images`, else the file's folder.

    Raises:
        FileNotFoundError: the JSON file, the image folder or an image is missing.
        ValueError: invalid JSON, or a missing key (named), or an annotation
            whose image id is not among the images.
    """
    annotation_file = Path(annotation_file)
    if annotation_file.is_dir():
        found = sorted(annotation_file.glob("captions_*.json")) or sorted(
            annotation_file.glob("annotations/captions_*.json")
        )
        if not found:
            raise FileNotFoundError(f"No captions_*.json file in {annotation_file}")
        annotation_file = found[0]
    if not annotation_file.is_file():
        raise FileNotFoundError(f"COCO captions file not found: {annotation_file}")
    try:
        data = json.loads(annotation_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{annotation_file} is not valid JSON: {error}") from None
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ValueError(f"{annotation_file} has no {key!r} list: not a COCO captions file.")
    split = annotation_file.stem.removeprefix("captions_")
    base = annotation_file.parent
    candidates = (split, f"../{split}", "images", f"../images/{split}", "../images")
    image_dir = _image_dir(base, image_dir, candidates)
    files = {}
    for position, image in enumerate(data["images"]):
        try:
            files[image["id"]] = image["file_name"]
        except (KeyError, TypeError):
            raise ValueError(f"{annotation_file}: images[{position}] needs 'id' and 'file_name'.") from None
    grouped: dict[object, list[str]] = {}
    for position, annotation in enumerate(data["annotations"]):
        try:
            image_id, caption = annotation["image_id"], annotation["caption"]
        except (KeyError, TypeError):
            raise ValueError(
                f"{annotation_file}: annotations[{position}] needs 'image_id' and 'caption'."
            ) from None
        if image_id not in files:
            raise ValueError(
                f"{annotation_file}: annotations[{position}] refers to image id {image_id!r}, "
                "which is not in 'images'."
            )
        grouped.setdefault(image_id, []).append(str(caption).strip())
    return [
        CaptionedImage(_image_path(image_dir, files[image_id], annotation_file), tuple(captions))
        for image_id, captions in grouped.items()
    ]


def load_captions(path: str | os.PathLike, format: str, image_dir=None) -> list[CaptionedImage]:
    """`load_coco` or `load_flickr8k` by `format` (`"coco"` or `"flickr8k"`)."""
    if format == "coco":
        return load_coco(path, image_dir)
    if format == "flickr8k":
        return load_flickr8k(path, image_dir)
    raise ValueError(f"Unknown caption format {format!r}; use 'coco' or 'flickr8k'.")


def _image_dir(base: Path, image_dir, candidates) -> Path:
    if image_dir is not None:
        image_dir = Path(image_dir)
        if not image_dir.is_dir():
            raise FileNotFoundError(f"Image folder not found: {image_dir}")
        return image_dir
    for name in candidates:
        candidate = (base / name).resolve()
        if candidate.is_dir():
            return candidate
    return base


def _image_path(image_dir: Path, name: str, source: Path) -> Path:
    path = image_dir / name
    if not path.is_file():
        raise FileNotFoundError(f"Image {name!r} listed in {source} not found in {image_dir}")
    return path


# ------------------------------------------------------------- image input
def read_image(image, size: int | tuple[int, int] | None = None, name: str | None = None) -> np.ndarray:
    """An RGB uint8 array `(height, width, 3)` from a file path or an array.

    Grayscale, grayscale+alpha, RGBA (composited over white), palette, CMYK
    and 16-bit images are converted; `size` (an int or `(height, width)`)
    resizes with bilinear filtering. Arrays may be `(h, w)`, `(h, w, 1|3|4)`,
    uint8, uint16 (scaled by 1/257) or float in [0, 1].

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty, corrupt or non-image file, or an array of
            another shape; the message names the file.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        label = name or str(path)
        if not path.exists():
            raise FileNotFoundError(f"Image file not found: {label}")
        if path.is_dir():
            raise ValueError(f"{label} is a folder, not an image file.")
        if path.stat().st_size == 0:
            raise ValueError(f"{label} is an empty file, not an image.")
        try:
            with Image.open(path) as opened:
                opened.load()
                array = _pil_to_rgb(opened)
        except UnidentifiedImageError:
            raise ValueError(f"{label} is not an image file Pillow can read.") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"{label} is a corrupt or truncated image: {error}") from None
    else:
        array = _array_to_rgb(np.asarray(image), name or "array")
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else size
        if array.shape[:2] != (height, width):
            array = np.asarray(Image.fromarray(array).resize((width, height), Image.BILINEAR))
    return np.ascontiguousarray(array, dtype=np.uint8)


def _pil_to_rgb(image) -> np.ndarray:
    from PIL import Image

    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        scale = 257.0 if values.max() <= 65535 else values.max() / 255.0
        gray = np.clip(np.round(values / scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = values.max() if values.max() > 1 else 1.0
        gray = np.clip(np.round(values / top * 255), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "P":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def _array_to_rgb(array: np.ndarray, label: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or 0 in array.shape:
        raise ValueError(
            f"{label}: expected an image array of shape (h, w), (h, w, 1), (h, w, 3) "
            f"or (h, w, 4); got {array.shape}."
        )
    if array.dtype == np.uint8:
        values = array.astype(np.float64)
    elif array.dtype == np.uint16:
        values = array.astype(np.float64) / 257.0
    elif np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float64) * (255.0 if array.max() <= 1.0 else 1.0)
    elif np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        values = array.astype(np.float64) * (255.0 if array.dtype == bool else 1.0)
    else:
        raise ValueError(f"{label}: unsupported image dtype {array.dtype}.")
    if values.ndim == 2:
        values = np.repeat(values[..., None], 3, axis=-1)
    elif values.shape[-1] == 4:
        alpha = values[..., 3:] / 255.0
        values = values[..., :3] * alpha + 255.0 * (1 - alpha)
    return np.clip(np.round(values), 0, 255).astype(np.uint8)
