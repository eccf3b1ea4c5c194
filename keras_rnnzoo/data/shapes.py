"""Generated scenes of simple shapes with captions from a small grammar.

In the spirit of ShapeWorld (Kuhnle & Copestake 2017): every scene is a
known list of objects, so a caption can be checked against it
(`is_truthful`), and the captioner is trained on pictures whose rendering
style varies widely so that the style does not matter.

Grammar (what the words name)::

    caption  := object | object RELATION object
    object   := "a" SIZE COLOR SHAPE
    SIZE     := small | large
    COLOR    := red | green | blue | yellow | purple | orange | white | black
    SHAPE    := circle | square | triangle | star
    RELATION := "to the left of" | "to the right of" | "above" | "below"

A scene holds one or two objects. With two, the relation compares the
centres of the objects along the axis where they differ most (the generator
places them so that this axis is clear: its offset is at least twice the
other). A two-object scene has two true captions, one per object as the
subject ("a small red circle above a large blue square" and "a large blue
square below a small red circle"); both are references for BLEU / CIDEr.

Sizes are relative to the picture: a small object spans about 16-24% of the
picture's side, a large one 34-46%.

Two renderers draw scenes: `render_scene` (Pillow; the training renderer,
with random background colour and texture, position, size, rotation,
outline thickness, antialiasing, noise, blur and JPEG quality) and
`render_scene_plain` (an independent NumPy rasterizer with the CSS colour
values, kept out of training, to judge that rendering style does not matter).

Example:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> scene = sample_scene(rng)
>>> image = render_scene(scene, rng, size=64)
>>> image.shape, image.dtype
((64, 64, 3), dtype('uint8'))
>>> all(is_truthful(caption, scene) for caption in scene.captions())
True
"""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "star")
COLORS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black")
SIZES = ("small", "large")
RELATIONS = ("to the left of", "to the right of", "above", "below")
INVERSE_RELATION = {
    "to the left of": "to the right of",
    "to the right of": "to the left of",
    "above": "below",
    "below": "above",
}
#: Color-shape pairs never drawn in training scenes (compositional test).
HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (("red", "triangle"), ("blue", "star"))
ARTICLE = "a"


def grammar_vocabulary():
    """The `captions.Vocabulary` of every word of the caption grammar (plus its special tokens)."""
    from keras_rnnzoo.data.captions import Vocabulary

    return Vocabulary.build([" ".join(SIZES), " ".join(COLORS), " ".join(SHAPES), " ".join(RELATIONS), ARTICLE])


#: Object radius (fraction of the picture's side) per size.
SIZE_RADIUS = {"small": (0.08, 0.12), "large": (0.17, 0.23)}
#: Along the relation's axis the offset is at least this many times the other.
AXIS_DOMINANCE = 2.0
_MIN_GAP = 0.02

# Training palette: (hue centre, hue jitter, saturation range, value range).
_PALETTE = {
    "red": (0.0, 0.025, (0.75, 1.0), (0.6, 1.0)),
    "orange": (0.085, 0.02, (0.8, 1.0), (0.85, 1.0)),
    "yellow": (0.155, 0.02, (0.75, 1.0), (0.85, 1.0)),
    "green": (0.33, 0.05, (0.6, 1.0), (0.45, 0.95)),
    "blue": (0.64, 0.04, (0.65, 1.0), (0.6, 1.0)),
    "purple": (0.80, 0.035, (0.55, 1.0), (0.45, 0.9)),
    "white": (0.0, 0.5, (0.0, 0.08), (0.9, 1.0)),
    "black": (0.0, 0.5, (0.0, 0.3), (0.0, 0.15)),
}
# The plain renderer's colours: CSS named colours, none of them tuned here.
CSS_COLORS = {
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "purple": (128, 0, 128),
    "orange": (255, 165, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
_MIN_CONTRAST = 0.35  # RGB distance (0..sqrt(3)) between background and objects


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene; `x`, `y`, `radius` are fractions of the side (y down)."""

    shape: str
    color: str
    size: str
    x: float
    y: float
    radius: float

    def phrase(self) -> str:
        """`"a large red circle"`."""
        return f"{ARTICLE} {self.size} {self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """The objects of a picture; the generator's ground truth."""

    objects: tuple[ShapeObject, ...]

    def captions(self) -> list[str]:
        """Every caption of the grammar that is true of this scene."""
        if len(self.objects) == 1:
            return [self.objects[0].phrase()]
        result = []
        for first, second in ((0, 1), (1, 0)):
            a, b = self.objects[first], self.objects[second]
            result.append(f"{a.phrase()} {relation_between(a, b)} {b.phrase()}")
        return result

    def to_dict(self) -> dict:
        return {"objects": [asdict(item) for item in self.objects]}

    @classmethod
    def from_dict(cls, data: dict) -> "Scene":
        return cls(tuple(ShapeObject(**item) for item in data["objects"]))

    def pairs(self) -> set[tuple[str, str]]:
        return {(item.color, item.shape) for item in self.objects}


def relation_between(a: ShapeObject, b: ShapeObject) -> str:
    """The relation of `a` to `b` along the axis where their centres differ most."""
    dx, dy = a.x - b.x, a.y - b.y
    if abs(dx) >= abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    return "above" if dy < 0 else "below"


# ------------------------------------------------------------------ parsing
@dataclass(frozen=True)
class ParsedCaption:
    objects: tuple[tuple[str, str, str], ...]  # (size, color, shape)
    relation: str | None


def parse_caption(caption: str) -> ParsedCaption:
    """Parse a caption of the grammar; `ValueError` (naming it) if it is not one."""
    words = caption.lower().replace(".", " ").split()
    objects, relation, position = [], None, 0

    def read_object(position: int) -> int:
        chunk = words[position : position + 4]
        if (
            len(chunk) < 4
            or chunk[0] not in ("a", "an")
            or chunk[1] not in SIZES
            or chunk[2] not in COLORS
            or chunk[3] not in SHAPES
        ):
            raise ValueError(
                f"Caption {caption!r} is not in the shapes grammar: expected "
                f"'a SIZE COLOR SHAPE' at word {position + 1}."
            )
        objects.append((chunk[1], chunk[2], chunk[3]))
        return position + 4

    position = read_object(0)
    if position < len(words):
        for candidate in RELATIONS:
            length = len(candidate.split())
            if " ".join(words[position : position + length]) == candidate:
                relation = candidate
                position += length
                break
        else:
            raise ValueError(
                f"Caption {caption!r} is not in the shapes grammar: expected a "
                f"relation ({', '.join(RELATIONS)}) at word {position + 1}."
            )
        position = read_object(position)
    if position != len(words):
        raise ValueError(
            f"Caption {caption!r} is not in the shapes grammar: unexpected "
            f"words after word {position}."
        )
    return ParsedCaption(tuple(objects), relation)


def is_truthful(caption: str, scene: Scene) -> bool:
    """Whether every object, color, size and relation the caption states is true.

    The caption must also account for every object of the scene (a caption
    naming one object of a two-object scene is not counted as truthful), and
    a caption outside the grammar is never truthful.
    """
    try:
        parsed = parse_caption(caption)
    except ValueError:
        return False
    if len(parsed.objects) != len(scene.objects):
        return False
    described = [(item.size, item.color, item.shape) for item in scene.objects]
    if len(described) == 1:
        return parsed.objects[0] == described[0]
    for first, second in ((0, 1), (1, 0)):
        if (parsed.objects[0], parsed.objects[1]) == (described[first], described[second]):
            a, b = scene.objects[first], scene.objects[second]
            if relation_between(a, b) == parsed.relation:
                return True
    return False


# ----------------------------------------------------------------- sampling
def sample_scene(
    rng: np.random.Generator,
    *,
    num_objects: int | None = None,
    exclude_pairs: Iterable[tuple[str, str]] = HELD_OUT_PAIRS,
    require_pairs: Iterable[tuple[str, str]] | None = None,
    max_objects: int = 2,
) -> Scene:
    """A random scene of the grammar.

    Args:
        rng: a NumPy random generator.
        num_objects: 1 or 2; random (with `max_objects`) when None.
        exclude_pairs: (color, shape) pairs that no object may have.
        require_pairs: when given, the first object is one of these pairs
            (used to build the compositional test set).
        max_objects: 1 or 2.
    """
    if max_objects not in (1, 2):
        raise ValueError(f"max_objects must be 1 or 2; got {max_objects!r}.")
    if num_objects is None:
        num_objects = int(rng.integers(1, max_objects + 1))
    if num_objects not in (1, 2):
        raise ValueError(f"num_objects must be 1 or 2; got {num_objects!r}.")
    excluded = {tuple(pair) for pair in exclude_pairs}
    allowed = [(c, s) for c in COLORS for s in SHAPES if (c, s) not in excluded]
    required = [tuple(pair) for pair in require_pairs] if require_pairs else None
    for pair in required or []:
        if pair[0] not in COLORS or pair[1] not in SHAPES:
            raise ValueError(f"Unknown color-shape pair {pair!r}.")
    for _ in range(1000):
        attributes = []
        for index in range(num_objects):
            pool = required if (required and index == 0) else allowed
            color, shape = pool[int(rng.integers(len(pool)))]
            size = SIZES[int(rng.integers(2))]
            low, high = SIZE_RADIUS[size]
            attributes.append((shape, color, size, float(rng.uniform(low, high))))
        if num_objects == 2 and attributes[0][:3] == attributes[1][:3]:
            continue  # two identical descriptions make the caption ambiguous
        positions = _place(rng, [item[3] for item in attributes])
        if positions is None:
            continue
        objects = tuple(
            ShapeObject(shape, color, size, x, y, radius)
            for (shape, color, size, radius), (x, y) in zip(attributes, positions)
        )
        if required and len(objects) == 2 and rng.random() < 0.5:
            objects = objects[::-1]
        return Scene(objects)
    raise RuntimeError("Could not place the objects of a scene (1000 tries).")


def _place(rng: np.random.Generator, radii: Sequence[float]):
    margin = 0.02
    if len(radii) == 1:
        r = radii[0]
        return [tuple(rng.uniform(r + margin, 1 - r - margin, size=2))]
    for _ in range(200):
        points = [tuple(rng.uniform(r + margin, 1 - r - margin, size=2)) for r in radii]
        (x0, y0), (x1, y1) = points
        dx, dy = abs(x0 - x1), abs(y0 - y1)
        if max(dx, dy) < AXIS_DOMINANCE * min(dx, dy):
            continue
        # no overlap: boxes of the objects do not touch along the main axis
        if max(dx, dy) < radii[0] + radii[1] + _MIN_GAP:
            continue
        return points
    return None


# ---------------------------------------------------------------- rendering
def _object_rgb(color: str, rng: np.random.Generator) -> tuple[int, int, int]:
    hue, jitter, (s_low, s_high), (v_low, v_high) = _PALETTE[color]
    h = (hue + rng.uniform(-jitter, jitter)) % 1.0
    s, v = rng.uniform(s_low, s_high), rng.uniform(v_low, v_high)
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, v))


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float, inner=0.45):
    if shape == "square":
        radius, points, offset = r * 0.85 * math.sqrt(2), 4, math.pi / 4
        radii = [radius] * points
    elif shape == "triangle":
        radius, points, offset = r * 1.1, 3, -math.pi / 2
        radii = [radius] * points
    elif shape == "star":
        points, offset = 10, -math.pi / 2
        radii = [r * 1.15 if k % 2 == 0 else r * 1.15 * inner for k in range(points)]
    else:
        raise ValueError(f"No polygon for shape {shape!r}.")
    return [
        (
            cx + rad * math.cos(angle + offset + 2 * math.pi * k / points),
            cy + rad * math.sin(angle + offset + 2 * math.pi * k / points),
        )
        for k, rad in enumerate(radii)
    ]


def _background(rng: np.random.Generator, object_rgbs, size: int) -> np.ndarray:
    colors = np.array(object_rgbs, dtype=np.float32) / 255.0
    for _ in range(100):
        base = np.array(
            colorsys.hsv_to_rgb(rng.random(), rng.uniform(0, 0.3), rng.uniform(0.15, 0.95)),
            dtype=np.float32,
        )
        if np.min(np.linalg.norm(colors - base, axis=1)) >= _MIN_CONTRAST + 0.1:
            break
    image = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    kind = rng.integers(5)
    amplitude = rng.uniform(0.03, 0.1)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 1:  # linear gradient
        theta = rng.uniform(0, 2 * math.pi)
        field = (np.cos(theta) * xx + np.sin(theta) * yy) - 0.5
    elif kind == 2:  # smooth noise
        coarse = rng.normal(size=(5, 5)).astype(np.float32)
        index = np.clip((np.arange(size) * 4 / (size - 1)), 0, 4)
        low = np.floor(index).astype(int)
        high = np.minimum(low + 1, 4)
        t = index - low
        rows = coarse[low] * (1 - t)[:, None] + coarse[high] * t[:, None]
        field = rows[:, low] * (1 - t)[None, :] + rows[:, high] * t[None, :]
        field = field / 3.0
    elif kind == 3:  # stripes
        theta = rng.uniform(0, math.pi)
        period = rng.uniform(0.05, 0.25)
        field = 0.5 * np.sign(np.sin(2 * math.pi * (np.cos(theta) * xx + np.sin(theta) * yy) / period))
    elif kind == 4:  # checker
        cells = int(rng.integers(3, 10))
        field = (((xx * cells).astype(int) + (yy * cells).astype(int)) % 2) - 0.5
    else:
        field = np.zeros((size, size), np.float32)
    image = image + amplitude * field[..., None]
    return np.clip(image * 255.0, 0, 255)


def render_scene(
    scene: Scene,
    rng: np.random.Generator,
    size: int = 64,
    *,
    vary: bool = True,
) -> np.ndarray:
    """Draw `scene` with Pillow as a `(size, size, 3)` uint8 RGB array.

    With `vary=True` (training) the style is random: background colour and
    texture, rotation, outline thickness, supersampling (antialiasing) or
    none, resampling filter, Gaussian noise, blur and JPEG quality. Object
    colours are jittered around their names' hues.
    """
    from PIL import Image, ImageDraw, ImageFilter

    supersample = int(rng.choice([1, 2, 4])) if vary else 4
    canvas = int(size * rng.uniform(0.8, 1.6)) if vary else size
    side = canvas * supersample
    rgbs = [_object_rgb(item.color, rng) for item in scene.objects]
    if vary:
        background = _background(rng, rgbs, side // supersample)
        image = Image.fromarray(background.astype(np.uint8)).resize((side, side), Image.NEAREST)
    else:
        image = Image.new("RGB", (side, side), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    for item, rgb in zip(scene.objects, rgbs):
        cx, cy, r = item.x * side, item.y * side, item.radius * side
        outline_width = int(rng.integers(0, 3)) * supersample if vary else 0
        if outline_width:
            factor = 0.6 if item.color != "black" else None
            outline = (
                tuple(int(c * factor) for c in rgb)
                if factor
                else tuple(min(255, c + 70) for c in rgb)
            )
        else:
            outline = None
        if item.shape == "circle":
            draw.ellipse(
                [cx - r, cy - r, cx + r, cy + r], fill=rgb, outline=outline, width=outline_width
            )
        else:
            angle = rng.uniform(0, 2 * math.pi) if vary else 0.0
            if item.shape == "triangle" and vary and rng.random() < 0.5:
                angle = rng.normal(0, 0.15)  # often upright
            polygon = _shape_polygon(item.shape, cx, cy, r, angle)
            draw.polygon(polygon, fill=rgb, outline=outline, width=outline_width)
    if supersample > 1 or canvas != size:
        resample = (
            [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX][int(rng.integers(4))]
            if vary
            else Image.LANCZOS
        )
        image = image.resize((size, size), resample)
    if not vary:
        return np.asarray(image, dtype=np.uint8).copy()
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.1, 0.9)))
    array = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.7:
        array = array + rng.normal(0, rng.uniform(1, 12), size=array.shape)
    image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.integers(30, 96)))
        buffer.seek(0)
        image = Image.open(buffer).convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def render_scene_plain(
    scene: Scene, size: int = 64, background=(200, 200, 200), star_inner: float = 0.5
) -> np.ndarray:
    """An independent renderer: NumPy rasterizing, CSS colours, 3x3 supersampling.

    Shares no drawing code with `render_scene` (no Pillow, other colour
    values, other star proportions, axis-aligned shapes); used only to judge
    the model, never to train it.
    """
    sub = 3
    coords = (np.arange(size * sub, dtype=np.float64) + 0.5) / (size * sub)
    xx, yy = np.meshgrid(coords, coords)
    image = np.empty((size * sub, size * sub, 3), np.float64)
    image[:] = np.asarray(background, np.float64)
    for item in scene.objects:
        if item.shape == "circle":
            mask = (xx - item.x) ** 2 + (yy - item.y) ** 2 <= item.radius**2
        elif item.shape == "square":
            half = item.radius * 0.85
            mask = (np.abs(xx - item.x) <= half) & (np.abs(yy - item.y) <= half)
        else:
            polygon = _shape_polygon(item.shape, item.x, item.y, item.radius, 0.0, star_inner)
            mask = _inside_polygon(xx, yy, polygon)
        image[mask] = CSS_COLORS[item.color]
    image = image.reshape(size, sub, size, sub, 3).mean(axis=(1, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _inside_polygon(xx: np.ndarray, yy: np.ndarray, polygon) -> np.ndarray:
    """Even-odd rule, vectorized over the pixel grid."""
    inside = np.zeros(xx.shape, dtype=bool)
    count = len(polygon)
    for index in range(count):
        (x0, y0), (x1, y1) = polygon[index], polygon[(index + 1) % count]
        if y0 == y1:
            continue
        crosses = (yy >= min(y0, y1)) & (yy < max(y0, y1))
        x_at = x0 + (yy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xx < x_at)
    return inside


def transform_scene(scene: Scene, image: np.ndarray | None, code: int):
    """Apply one of the 8 symmetries of the square to a scene and its picture.

    `code` bits: 1 transposes (swaps x and y), 2 flips left-right, 4 flips
    top-bottom, in that order. Returns `(scene, image)`; the new scene's
    `captions()` are exactly true of the new picture (relations follow the
    objects; shapes are drawn at random rotations anyway). `image` may be None.
    """
    if not 0 <= int(code) < 8:
        raise ValueError(f"code must be an integer in 0..7; got {code!r}.")
    objects = []
    for item in scene.objects:
        x, y = item.x, item.y
        if code & 1:
            x, y = y, x
        if code & 2:
            x = 1.0 - x
        if code & 4:
            y = 1.0 - y
        objects.append(ShapeObject(item.shape, item.color, item.size, x, y, item.radius))
    if image is not None:
        if code & 1:
            image = np.swapaxes(image, 0, 1)
        if code & 2:
            image = image[:, ::-1]
        if code & 4:
            image = image[::-1]
    return Scene(tuple(objects)), image


# ----------------------------------------------------------------- datasets
def generate(
    count: int,
    seed: int,
    *,
    size: int = 64,
    split: str = "train",
    held_out_pairs: Iterable[tuple[str, str]] = HELD_OUT_PAIRS,
    renderer: str = "varied",
    max_objects: int = 2,
) -> tuple[np.ndarray, list[Scene]]:
    """`count` scenes and their pictures, `(count, size, size, 3)` uint8.

    Args:
        split: `"train"` (no object has a held-out color-shape pair), `"test"`
            (same distribution as train, other seed) or `"held_out"` (every
            scene contains a held-out pair).
        renderer: `"varied"` (`render_scene`) or `"plain"` (`render_scene_plain`).
    """
    if split not in ("train", "test", "held_out"):
        raise ValueError(f"split must be 'train', 'test' or 'held_out'; got {split!r}.")
    if renderer not in ("varied", "plain"):
        raise ValueError(f"renderer must be 'varied' or 'plain'; got {renderer!r}.")
    held_out_pairs = [tuple(pair) for pair in held_out_pairs]
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.uint8)
    scenes = []
    for index in range(count):
        if split == "held_out":
            scene = sample_scene(
                rng, exclude_pairs=(), require_pairs=held_out_pairs, max_objects=max_objects
            )
        else:
            scene = sample_scene(rng, exclude_pairs=held_out_pairs, max_objects=max_objects)
        if renderer == "varied":
            images[index] = render_scene(scene, rng, size)
        else:
            gray = int(rng.integers(100, 181))
            images[index] = render_scene_plain(scene, size, background=(gray, gray, gray))
        scenes.append(scene)
    return images, scenes
