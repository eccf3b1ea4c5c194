"""The shapes scene generator: grammar, truthfulness, held-out pairs, renderers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL", reason="the training renderer needs Pillow (keras-rnnzoo[captioning])")

from keras_rnnzoo.data import shapes  # noqa: E402
from keras_rnnzoo.data.shapes import Scene, ShapeObject  # noqa: E402

# Data generation and loading only (NumPy and Pillow): no Keras backend involved.
pytestmark = pytest.mark.backend_independent


def _scene(*objects):
    return Scene(tuple(ShapeObject(*item) for item in objects))


LEFT_RIGHT = _scene(("circle", "red", "large", 0.25, 0.5, 0.2), ("square", "blue", "small", 0.75, 0.55, 0.1))


def test_captions_follow_the_grammar():
    assert LEFT_RIGHT.captions() == [
        "a large red circle to the left of a small blue square",
        "a small blue square to the right of a large red circle",
    ]
    single = _scene(("star", "yellow", "small", 0.5, 0.5, 0.1))
    assert single.captions() == ["a small yellow star"]
    parsed = shapes.parse_caption("a large red circle to the left of a small blue square")
    assert parsed.objects == (("large", "red", "circle"), ("small", "blue", "square"))
    assert parsed.relation == "to the left of"


@pytest.mark.parametrize(
    "caption",
    [
        "a large red circle",  # misses an object
        "a large green circle to the left of a small blue square",  # color
        "a small red circle to the left of a small blue square",  # size
        "a large red star to the left of a small blue square",  # shape
        "a large red circle to the right of a small blue square",  # relation
        "a large red circle above a small blue square",  # relation axis
        "a large red circle to the left of",  # not in the grammar
        "large red circle",
        "",
    ],
)
def test_untrue_or_ungrammatical_captions_are_not_truthful(caption):
    assert not shapes.is_truthful(caption, LEFT_RIGHT)


def test_parse_errors_name_the_caption():
    with pytest.raises(ValueError, match="'a big red circle'.*word 1"):
        shapes.parse_caption("a big red circle")
    with pytest.raises(ValueError, match="relation"):
        shapes.parse_caption("a big red circle".replace("big", "large") + " near a small red star")
    with pytest.raises(ValueError, match="unexpected words"):
        shapes.parse_caption("a large red circle above a small red star please")


def test_generator_is_seeded_and_its_captions_are_true():
    images, scenes = shapes.generate(40, seed=3)
    again, scenes_again = shapes.generate(40, seed=3)
    np.testing.assert_array_equal(images, again)
    assert scenes == scenes_again
    assert images.shape == (40, 64, 64, 3) and images.dtype == np.uint8
    counts = {len(scene.objects) for scene in scenes}
    assert counts == {1, 2}
    for scene in scenes:
        assert all(shapes.is_truthful(caption, scene) for caption in scene.captions())
        if len(scene.objects) == 2:
            a, b = scene.objects
            dx, dy = abs(a.x - b.x), abs(a.y - b.y)
            assert max(dx, dy) >= shapes.AXIS_DOMINANCE * min(dx, dy)
        for item in scene.objects:
            low, high = shapes.SIZE_RADIUS[item.size]
            assert low <= item.radius <= high
            assert item.radius <= item.x <= 1 - item.radius and item.radius <= item.y <= 1 - item.radius


def test_held_out_pairs_never_in_training_and_always_in_held_out_split():
    rng = np.random.default_rng(0)
    for _ in range(400):
        scene = shapes.sample_scene(rng)
        assert not scene.pairs() & set(shapes.HELD_OUT_PAIRS)
    _, held = shapes.generate(30, seed=1, split="held_out", renderer="plain")
    assert all(scene.pairs() & set(shapes.HELD_OUT_PAIRS) for scene in held)


def test_symmetries_keep_captions_true():
    image = np.arange(4 * 4 * 3).reshape(4, 4, 3)
    for code in range(8):
        scene, transformed = shapes.transform_scene(LEFT_RIGHT, image, code)
        assert transformed.shape == image.shape
        assert sorted(transformed.reshape(-1)) == sorted(image.reshape(-1))
        assert all(shapes.is_truthful(c, scene) for c in scene.captions())
    flipped, _ = shapes.transform_scene(LEFT_RIGHT, None, 2)
    assert flipped.captions()[0] == "a large red circle to the right of a small blue square"
    turned, _ = shapes.transform_scene(LEFT_RIGHT, None, 1)
    assert turned.captions()[0] == "a large red circle above a small blue square"
    with pytest.raises(ValueError, match="0..7"):
        shapes.transform_scene(LEFT_RIGHT, None, 8)


def test_plain_renderer_draws_css_colours_where_the_objects_are():
    scene = _scene(("circle", "red", "large", 0.3, 0.3, 0.2), ("square", "blue", "small", 0.8, 0.8, 0.1))
    image = shapes.render_scene_plain(scene, 64, background=(150, 150, 150))
    assert image[19, 19].tolist() == [255, 0, 0]
    assert image[51, 51].tolist() == [0, 0, 255]
    assert image[2, 60].tolist() == [150, 150, 150]


def test_varied_renderer_keeps_the_object_colour_visible():
    scene = _scene(("square", "yellow", "large", 0.5, 0.5, 0.22))
    rng = np.random.default_rng(5)
    for _ in range(10):
        image = shapes.render_scene(scene, rng, 64).astype(float)
        centre = image[28:36, 28:36].reshape(-1, 3).mean(0)
        assert centre[0] > 120 and centre[1] > 100 and centre[2] < 110, centre


def test_sample_scene_argument_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="num_objects"):
        shapes.sample_scene(rng, num_objects=3)
    with pytest.raises(ValueError, match="pair"):
        shapes.sample_scene(rng, require_pairs=[("pink", "circle")])
    with pytest.raises(ValueError, match="split"):
        shapes.generate(1, 0, split="validation")
