"""The captioning model, beam search, the Captioner task and the shipped `shapes-captioner`."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

pytest.importorskip("PIL", reason="the Captioner reads images with Pillow (keras-rnnzoo[captioning])")
from PIL import Image  # noqa: E402

from keras_rnnzoo import zoo  # noqa: E402
from keras_rnnzoo.cli.train import load_recipe  # noqa: E402
from keras_rnnzoo.data import shapes  # noqa: E402
from keras_rnnzoo.data.captions import Vocabulary  # noqa: E402
from keras_rnnzoo.zoo import captioner as cap  # noqa: E402

SHIPPED = "shapes-captioner"
EVAL_SCENES = 40
TRUTH_FLOOR = 0.85  # measured 0.975 (varied and plain renderer)
HELD_OUT_TRUTH_FLOOR = 0.7  # measured 0.875


def _tiny_captioner(cell="lstm"):
    vocabulary = Vocabulary("a small large red blue circle square above below".split())
    model = cap.build_captioner_model(
        len(vocabulary), image_size=32, max_length=7, filters=(4, 4, 4), feature_dim=6,
        embedding_dim=5, units=6, attention_units=4, cell=cell, dropout=0.0,
    )
    return cap.Captioner(model, {"name": "tiny-captioner", "config": {"max_length": 7}}, vocabulary=vocabulary)


# --------------------------------------------------------------------- layers
def test_coordinate_channels_span_minus_one_to_one():
    out = keras.ops.convert_to_numpy(cap.CoordinateChannels()(np.zeros((1, 3, 5, 2), "float32")))
    assert out.shape == (1, 3, 5, 4)
    np.testing.assert_allclose(out[0, 0, :, 2], np.linspace(-1, 1, 5), atol=1e-6)
    np.testing.assert_allclose(out[0, :, 0, 3], np.linspace(-1, 1, 3), atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_decoder_shapes_and_config_round_trip(cell):
    decoder = cap.AttentionDecoder(11, embedding_dim=4, units=5, attention_units=3, cell=cell)
    features = np.random.default_rng(0).normal(size=(2, 9, 7)).astype("float32")
    tokens = np.array([[1, 4, 5], [1, 6, 0]], "int32")
    logits = keras.ops.convert_to_numpy(decoder([features, tokens]))
    assert logits.shape == (2, 3, 11) and np.isfinite(logits).all()
    clone = cap.AttentionDecoder.from_config(decoder.get_config())
    clone([features, tokens])
    clone.set_weights(decoder.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone([features, tokens])), logits, atol=1e-5)
    # the teacher-forced call and step-by-step decoding agree
    states = decoder.initial_states(features)
    projected = decoder.project_features(features)
    for t in range(3):
        step_logits, weights, states = decoder.step(tokens[:, t], states, features, projected)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(step_logits), logits[:, t], atol=1e-5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(weights).sum(-1), 1.0, atol=1e-5)


def test_decoder_input_aliases_read_a_word_as_another_everywhere():
    keras.utils.set_random_seed(5)
    decoder = cap.AttentionDecoder(11, embedding_dim=4, units=5, attention_units=3, input_aliases=[(6, 3), (7, 3)])
    features = np.random.default_rng(1).normal(size=(2, 9, 7)).astype("float32")
    said = np.array([[1, 6, 5], [1, 7, 4]], "int32")
    read = np.array([[1, 3, 5], [1, 3, 4]], "int32")
    logits = keras.ops.convert_to_numpy(decoder([features, said]))
    np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(decoder([features, read])), atol=1e-6)
    other = keras.ops.convert_to_numpy(decoder([features, np.array([[1, 8, 5], [1, 8, 4]], "int32")]))
    assert not np.allclose(logits[:, 1:], other[:, 1:], atol=1e-4)  # other words are still read as themselves
    # decoding step by step reads through the aliases too, and the config keeps them
    states, projected = decoder.initial_states(features), decoder.project_features(features)
    for t in range(3):
        step_logits, _, states = decoder.step(said[:, t], states, features, projected)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(step_logits), logits[:, t], atol=1e-5)
    assert cap.AttentionDecoder.from_config(decoder.get_config()).input_aliases == [[6, 3], [7, 3]]
    with pytest.raises(ValueError, match=r"input_aliases. pair \[6, 11\] is outside the vocabulary"):
        cap.AttentionDecoder(11, input_aliases=[(6, 11)])


def test_decoder_delayed_inputs_reach_the_decoder_one_word_late():
    keras.utils.set_random_seed(6)
    decoder = cap.AttentionDecoder(11, embedding_dim=4, units=5, attention_units=3,
                                   input_aliases=[(6, 3), (7, 3)], delayed_inputs=[6, 7])
    features = np.random.default_rng(2).normal(size=(2, 9, 7)).astype("float32")
    six = np.array([[1, 6, 5, 4], [1, 2, 6, 4]], "int32")
    seven = np.where(six == 6, 7, six).astype("int32")
    logits_six = keras.ops.convert_to_numpy(decoder([features, six]))
    logits_seven = keras.ops.convert_to_numpy(decoder([features, seven]))
    # a word said at input position t is read as <unk> at step t (6 and 7 alike) and
    # reaches the decoder at step t + 1, with the next word
    for row, position in ((0, 1), (1, 2)):
        np.testing.assert_allclose(logits_six[row, : position + 1], logits_seven[row, : position + 1], atol=1e-6)
        assert not np.allclose(logits_six[row, position + 1], logits_seven[row, position + 1], atol=1e-4)
    # step-by-step decoding carries the pending embedding as a last state, same logits
    states, projected = decoder.initial_states(features), decoder.project_features(features)
    assert len(states) == len(decoder.state_sizes) + 1
    for t in range(4):
        step_logits, _, states = decoder.step(six[:, t], states, features, projected)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(step_logits), logits_six[:, t], atol=1e-5)
    assert cap.AttentionDecoder.from_config(decoder.get_config()).delayed_inputs == [6, 7]
    with pytest.raises(ValueError, match=r"delayed_inputs. \[3, 11\] must be token ids"):
        cap.AttentionDecoder(11, delayed_inputs=[11, 3])


def test_decoder_query_words_let_an_aliased_word_steer_attention():
    keras.utils.set_random_seed(7)
    features = np.random.default_rng(3).normal(size=(2, 9, 7)).astype("float32")
    six = np.array([[1, 6, 5, 4], [1, 2, 6, 4]], "int32")
    seven = np.where(six == 6, 7, six).astype("int32")
    options = dict(embedding_dim=4, units=5, attention_units=3, input_aliases=[(6, 3), (7, 3)])
    plain = cap.AttentionDecoder(11, **options)
    steered = cap.AttentionDecoder(11, query_words=True, **options)
    plain([features, six])
    steered([features, six])
    shared = {w.path.split("/", 1)[1]: w for w in plain.weights}
    for weight in steered.weights:
        if "word_query_projection" not in weight.path:
            weight.assign(keras.ops.convert_to_numpy(shared[weight.path.split("/", 1)[1]].value))
    # new weights start at zero: the same function as without them
    np.testing.assert_allclose(keras.ops.convert_to_numpy(steered([features, six])),
                               keras.ops.convert_to_numpy(plain([features, six])), atol=1e-6)
    steered.word_query_projection.kernel.assign(np.random.default_rng(4).normal(size=(4, 3)).astype("float32"))
    logits_six = keras.ops.convert_to_numpy(steered([features, six]))
    logits_seven = keras.ops.convert_to_numpy(steered([features, seven]))
    assert not np.allclose(logits_six[0, 1], logits_seven[0, 1], atol=1e-4)  # 6 and 7 look at different places
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain([features, six])),
                               keras.ops.convert_to_numpy(plain([features, seven])), atol=1e-6)
    states, projected = steered.initial_states(features), steered.project_features(features)
    for t in range(4):
        step_logits, _, states = steered.step(six[:, t], states, features, projected)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(step_logits), logits_six[:, t], atol=1e-5)
    assert cap.AttentionDecoder.from_config(steered.get_config()).query_words is True


def test_recipe_init_copies_weights_into_a_model_with_added_parts():
    recipe = load_recipe("shapes-captioner")
    options = dict(image_size=32, filters=(4,), feature_dim=6, embedding_dim=4, units=5, attention_units=3)
    keras.utils.set_random_seed(8)
    source = cap.build_captioner_model(11, **options)
    target = cap.build_captioner_model(11, query_words=True, **options)
    assert recipe.copy_weights(source, target) == ["decoder/word_query_projection/kernel"]
    images = np.random.default_rng(5).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    tokens = np.array([[1, 4, 5, 6, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]] * 2, "int32")[:, : source.inputs[1].shape[1]]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(target([images, tokens])),
                               keras.ops.convert_to_numpy(source([images, tokens])), atol=1e-5)
    with pytest.raises(ValueError, match="word_query_projection.*no counterpart"):
        recipe.copy_weights(target, source)


def test_decoder_argument_errors():
    with pytest.raises(ValueError, match="units"):
        cap.AttentionDecoder(10, units=0)
    with pytest.raises(ValueError, match="dropout"):
        cap.AttentionDecoder(10, dropout=1.0)
    with pytest.raises(ValueError, match="Unknown cell 'nope'"):
        cap.AttentionDecoder(10, cell="nope")


# ---------------------------------------------------------------- beam search
def test_greedy_decoding_is_beam_width_one():
    captioner = _tiny_captioner()
    keras.utils.set_random_seed(3)
    for number, weight in enumerate(captioner.model.weights):  # make the output depend on the picture
        values = np.random.default_rng(number).normal(size=weight.shape).astype("float32")
        weight.assign(np.abs(values) + 0.5 if "variance" in weight.path else values)
    images = np.random.default_rng(1).integers(0, 256, size=(3, 32, 32, 3)).astype("float32")
    greedy = captioner.caption_arrays(images, beam=1)
    # the same greedy loop, by hand
    features = captioner.encoder(images, training=False)
    states = captioner.decoder.initial_states(features)
    projected = captioner.decoder.project_features(features)
    tokens = np.full(3, captioner.vocabulary.start_id, "int32")
    chosen, done = [[] for _ in range(3)], np.zeros(3, bool)
    for step in range(7 - 1):
        logits, _, states = captioner.decoder.step(tokens, states, features, projected)
        logits = keras.ops.convert_to_numpy(logits).astype("float64")
        logits[:, [0, 1, 3]] = -np.inf
        if step == 7 - 2:
            logits[:, :] = -np.inf
            logits[:, 2] = 0.0
        tokens = logits.argmax(-1).astype("int32")
        for row in range(3):
            if not done[row]:
                if tokens[row] == 2:
                    done[row] = True
                else:
                    chosen[row].append(int(tokens[row]))
    assert [caption.tokens for caption in greedy] == chosen
    for caption in greedy + captioner.caption_arrays(images, beam=3):
        assert len(caption.tokens) <= 5 and np.isfinite(caption.score)
        assert caption.attention.shape == (len(caption.tokens) + 1, 16)
        np.testing.assert_allclose(caption.attention.sum(-1), 1.0, atol=1e-4)
        assert caption.log_probability <= 0.0


def test_beam_search_argument_errors():
    captioner = _tiny_captioner()
    images = np.zeros((1, 32, 32, 3), "float32")
    with pytest.raises(ValueError, match="beam_width"):
        captioner.caption_arrays(images, beam=0)
    with pytest.raises(ValueError, match="max_length"):
        captioner.caption_arrays(images, max_length=2)


def test_preset_round_trip_keeps_vocabulary_and_predictions(tmp_path):
    captioner = _tiny_captioner(cell="gru")
    folder = zoo.save_preset(captioner, tmp_path / "tiny-captioner", card="# tiny\n")
    meta = json.loads((folder / "preset.json").read_text())
    assert meta["task"] == "captioner" and cap.VOCABULARY_FILE in meta["files"]
    loaded = zoo.load(folder)
    assert isinstance(loaded, cap.Captioner)
    assert loaded.vocabulary.tokens == captioner.vocabulary.tokens
    image = np.random.default_rng(0).integers(0, 256, size=(40, 50, 3)).astype("uint8")
    assert loaded.predict(image) == captioner.predict(image)
    (folder / cap.VOCABULARY_FILE).write_text('{"tokens": []}')
    with pytest.raises(zoo.PresetError, match="vocabulary.json"):
        zoo.load(folder)


def test_captioner_needs_matching_vocabulary():
    captioner = _tiny_captioner()
    with pytest.raises(ValueError, match="vocabulary has 5 tokens"):
        cap.Captioner(captioner.model, {}, vocabulary=Vocabulary(["a"]))


def test_metrics_from_pycocoevalcap_and_truthfulness():
    pytest.importorskip("pycocoevalcap", reason="BLEU / CIDEr need the captioning extra")
    references = [["a small red circle"], ["a large blue square above a small red star",
                                           "a small red star below a large blue square"]]
    perfect = cap.caption_scores(["a small red circle", "a large blue square above a small red star"], references)
    assert perfect["bleu_4"] > 0.99 and perfect["bleu_1"] > 0.99
    worse = cap.caption_scores(["a small red square", "a large blue square below a small red star"], references)
    assert worse["bleu_4"] < perfect["bleu_4"] and worse["cider"] < perfect["cider"]
    scene = shapes.Scene((shapes.ShapeObject("circle", "red", "small", 0.5, 0.5, 0.1),))
    assert cap.truthfulness(["a small red circle", "a small red square"], [scene, scene]) == 0.5
    with pytest.raises(ValueError, match="one scene per caption"):
        cap.truthfulness(["a small red circle"], [])


# ------------------------------------------------------------ shipped preset
@pytest.fixture(scope="module")
def shipped():
    return zoo.load(SHIPPED)


def test_shipped_preset_card(shipped):
    assert shipped.card["task"] == "captioner"
    assert shipped.image_size == 64 and len(shipped.vocabulary) == 4 + 22
    for name in ("test", "held_out_pairs", "plain_renderer", "plain_renderer_held_out_pairs"):
        metrics = shipped.card["metrics"][name]
        assert {"bleu_1", "bleu_4", "cider", "truthfulness", "split", "command"} <= set(metrics)
    assert shipped.card["config"]["held_out_pairs"] == [["red", "triangle"], ["blue", "star"]]


def _colors_and_sizes_right(caption, scene):
    try:
        parsed = shapes.parse_caption(caption)
    except ValueError:
        return False
    said = sorted((size, color) for size, color, _ in parsed.objects)
    return said == sorted((item.size, item.color) for item in scene.objects)


# Floors a little under what the shipped model measures on these 40-scene
# sets (the card holds the 1000-scene numbers): a regression guard.
@pytest.mark.parametrize(
    "split, renderer, seed, truthful_floor, attribute_floor",
    [("test", "varied", 71, TRUTH_FLOOR, 0.9), ("held_out", "varied", 72, HELD_OUT_TRUTH_FLOOR, 0.85),
     ("test", "plain", 73, TRUTH_FLOOR, 0.9)],
)
def test_shipped_model_on_unseen_scenes(shipped, split, renderer, seed, truthful_floor, attribute_floor):
    images, scenes = shapes.generate(EVAL_SCENES, seed, split=split, renderer=renderer)
    captions = shipped.predict(list(images))
    for caption in captions:
        shapes.parse_caption(caption)  # always in the grammar
    pairs = list(zip(captions, scenes))
    assert np.mean([_colors_and_sizes_right(c, s) for c, s in pairs]) >= attribute_floor, pairs
    assert cap.truthfulness(captions, scenes) >= truthful_floor, [(c, s.captions()[0]) for c, s in pairs]


def test_shipped_predict_details_and_greedy(shipped):
    scene = shapes.Scene((shapes.ShapeObject("circle", "yellow", "large", 0.35, 0.6, 0.2),))
    image = shapes.render_scene_plain(scene)
    details = shipped.predict(image, beam=3, return_details=True)
    assert shapes.is_truthful(details.text, scene), details.text
    assert details.attention.shape == (len(details.text.split()) + 1, 64)
    np.testing.assert_allclose(details.attention.sum(-1), 1.0, atol=1e-4)
    assert details.score <= 0
    assert shapes.is_truthful(shipped.predict(image, beam=1), scene)
    # the attention of the word "circle" lies on the circle's half of the picture
    grid = details.attention[details.text.split().index("circle")].reshape(8, 8)
    assert grid[3:, :4].sum() > 0.5


def _scene_file(tmp_path, mode):
    scene = shapes.Scene((shapes.ShapeObject("circle", "white", "large", 0.5, 0.5, 0.22),))
    picture = Image.fromarray(shapes.render_scene_plain(scene, 150, background=(60, 60, 60)))
    if mode == "I;16":
        gray = np.asarray(picture.convert("L"), dtype=np.uint16) * 257
        picture = Image.fromarray(gray)
    elif mode != "RGB":
        picture = picture.convert(mode)
    path = tmp_path / f"scene_{mode.replace(';', '')}.png"
    picture.save(path)
    return path, scene


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16"])
def test_shipped_predict_converts_any_image_file(shipped, tmp_path, mode):
    path, scene = _scene_file(tmp_path, mode)
    caption = shipped.predict(str(path))
    shapes.parse_caption(caption)  # in the grammar
    assert "circle" in caption and "large" in caption, caption


@pytest.mark.parametrize(
    "name, content, message",
    [("empty.png", b"", "empty.png is an empty file"),
     ("notes.png", b"plain text, not a picture", "notes.png is not an image file"),
     ("cut.png", None, "cut.png is a corrupt or truncated image")],
)
def test_shipped_predict_bad_files_name_the_file(shipped, tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        good, _ = _scene_file(tmp_path, "RGB")
        content = good.read_bytes()[:100]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        shipped.predict(str(path))


def test_cli_predict_json_beam_and_attention(shipped, tmp_path, capsys):
    from keras_rnnzoo.cli import main

    first, _ = _scene_file(tmp_path, "RGB")
    second, _ = _scene_file(tmp_path, "L")
    figure = tmp_path / "maps.png"
    code = main(["predict", SHIPPED, str(first), str(second), "--json", "--beam", "2", "--attention", str(figure)])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out)
    assert [entry["input"] for entry in result] == [str(first), str(second)]
    for number, entry in enumerate(result):
        shapes.parse_caption(entry["caption"])
        assert isinstance(entry["score"], float)
        written = tmp_path / f"maps-{number}.png"
        assert entry["attention"] == str(written) and Image.open(written).size[1] > 64


def test_cli_predict_bad_file_is_one_line_error(tmp_path, capsys):
    from keras_rnnzoo.cli import main

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    assert main(["predict", SHIPPED, str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "broken.jpg" in captured.err



def test_recipe_attribute_swap_keeps_targets_and_never_says_a_held_out_pair():
    recipe = load_recipe("shapes-captioner")
    vocabulary = shapes.grammar_vocabulary()
    images, scenes = shapes.generate(60, 5, size=32, split="train")

    def batches(swap):
        return recipe.make_batches(keras, images, None, vocabulary, 16, 32, 20, 7, scenes=scenes, word_dropout=0.0,
                                   attribute_swap=swap, held_out_pairs=shapes.HELD_OUT_PAIRS)

    plain, swapped = batches(0.0), batches(0.5)
    kind = {vocabulary.index[w]: name for name, words in (("size", shapes.SIZES), ("color", shapes.COLORS),
                                                            ("shape", shapes.SHAPES)) for w in words}
    changed = 0
    for index in range(len(plain)):
        (images_a, inputs_a), targets_a = plain[index]
        (images_b, inputs_b), targets_b = swapped[index]
        np.testing.assert_array_equal(targets_a, targets_b)
        np.testing.assert_array_equal(images_a, images_b)
        differs = inputs_a != inputs_b
        assert all(kind.get(int(a)) is not None and kind.get(int(a)) == kind.get(int(b))
                   for a, b in zip(inputs_a[differs], inputs_b[differs]))  # a color for a color, ...
        changed += int(differs.sum())
        for row in inputs_b:
            text = " ".join(vocabulary.tokens[i] for i in row)
            assert "red triangle" not in text and "blue star" not in text, text
    assert changed > 100


def test_recipe_batches_work_with_a_vocabulary_outside_the_grammar():
    """COCO / Flickr8k vocabularies lack the shape words; without --attribute-swap they are never looked up."""
    recipe = load_recipe("shapes-captioner")
    texts = ["a dog runs on grass", "a cat sits on a mat"]
    vocabulary = Vocabulary.build(texts)
    images = np.zeros((2, 16, 16, 3), dtype="uint8")
    batches = recipe.make_batches(keras, images, lambda i: [texts[i]], vocabulary, 8, 4, 1, 0, word_dropout=0.0)
    (_, inputs), targets = batches[0]
    assert inputs.shape == targets.shape == (4, 7)
