"""Does the decoder name a held-out pair's shape from the picture or from the color word before it?

For single-object scenes with a held-out color-shape pair (red triangle, blue
star), the decoder is fed "<start> a SIZE COLOR" and its most likely shape is
read, once with the true color word and once with each of a few other color
words. If the shape is right far more often after a wrong color word, the
picture is understood and the error comes from the color word (a language
prior learnt from training captions, where no blue star ever occurs).

    python zoo/shapes-captioner/color_prior_probe.py [PRESET] [--scenes 600]
"""

from __future__ import annotations

import argparse

import numpy as np


def shape_accuracy(captioner, images, objects, color_of):
    """Share of objects whose shape is the decoder's top shape after '<start> a SIZE color_of(object)'."""
    from keras import ops

    from keras_rnnzoo.data import shapes
    from keras_rnnzoo.zoo.captioner import _log_softmax

    vocabulary, decoder = captioner.vocabulary, captioner.decoder
    features = captioner.encoder(images.astype("float32"), training=False)
    projected = decoder.project_features(features)
    states = decoder.initial_states(features)
    prefix = [[vocabulary.start_id, vocabulary.index[shapes.ARTICLE], vocabulary.index[o.size],
               vocabulary.index[color_of(o)]] for o in objects]
    prefix = np.array(prefix, dtype="int32")
    for position in range(prefix.shape[1]):
        logits, _, states = decoder.step(ops.convert_to_tensor(prefix[:, position]), states, features, projected)
    shape_ids = [vocabulary.index[s] for s in shapes.SHAPES]
    best = _log_softmax(ops.convert_to_numpy(logits).astype("float64"))[:, shape_ids].argmax(axis=1)
    return float(np.mean([shapes.SHAPES[b] == o.shape for b, o in zip(best, objects)]))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", nargs="?", default="shapes-captioner")
    parser.add_argument("--scenes", type=int, default=600, help="held-out scenes to draw (about half have one object)")
    parser.add_argument("--seed", type=int, default=424242)
    args = parser.parse_args(argv)
    from keras_rnnzoo import zoo
    from keras_rnnzoo.data import shapes

    captioner = zoo.load(args.preset)
    images, scenes = shapes.generate(args.scenes, args.seed, size=captioner.image_size, split="held_out")
    results = {}
    for color, shape in shapes.HELD_OUT_PAIRS:
        chosen = [i for i, s in enumerate(scenes) if len(s.objects) == 1 and (s.objects[0].color, s.objects[0].shape) == (color, shape)]
        objects = [scenes[i].objects[0] for i in chosen]
        row = {"scenes": len(chosen), "true color word": shape_accuracy(captioner, images[chosen], objects, lambda o: o.color)}
        for other in ("green", "yellow", "white"):
            row[f"'{other}' instead"] = shape_accuracy(captioner, images[chosen], objects, lambda o, c=other: c)
        results[f"{color} {shape}"] = row
        print(f"{color} {shape}: " + ", ".join(f"{k} {v:.1%}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return results


if __name__ == "__main__":
    main()
