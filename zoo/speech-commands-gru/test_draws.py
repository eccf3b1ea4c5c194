"""Accuracy of keyword-spotter presets on several draws of the held-out test (or validation) voices.

The card's test number is one draw of the test voices (corpus seed 0: each
voice says each keyword 3 times, flite-awb 12 times), 1,224 clips, so it moves
by about half a point from the draw alone. Draw k synthesizes the same held-out
voice groups again with corpus seed k (new rates, pitches, shifts and, for
espeak-ng variants, other English languages); draws are cached in
`$RNNZOO_HOME/data` like `rnnzoo evaluate`'s. Use it to compare presets more
precisely than one draw allows; never to train or select on. To choose
between training runs, use `--split validation` (draws of the validation
voices, which no run trains on) instead.

    python zoo/speech-commands-gru/test_draws.py [PRESET ...] [--draws 4] [--first-draw 0] [--split validation]
"""

from __future__ import annotations

import argparse
import json


def load_draws(settings: dict, draws: int, split: str = "test", first_draw: int = 0) -> list[tuple]:
    """`(waveforms, labels)` of each draw of `split`'s voices (corpus seeds `first_draw .. first_draw + draws - 1`).

    `settings` are the corpus settings of a preset's card (`card["corpus"]`).
    """
    from keras_rnnzoo.data import speech_commands
    from keras_rnnzoo.zoo.keyword_spotter import held_out_corpus

    data = []
    for seed in range(first_draw, first_draw + draws):
        folder = held_out_corpus({**settings, "seed": seed}, split)
        data.append(speech_commands.load_examples(speech_commands.list_examples(folder, split, seed=0)))
    return data


def pooled_accuracies(spotters: dict, data: list[tuple]) -> list[dict]:
    """One row per preset: accuracy per draw of `data` and over all draws pooled."""
    import numpy as np

    rows = []
    for name, spotter in spotters.items():
        hits = [spotter.probabilities(x).argmax(axis=-1) == y for x, y in data]
        rows.append({
            "preset": name,
            "accuracy_per_draw": [round(float(np.mean(h)), 4) for h in hits],
            "accuracy": round(float(np.mean(np.concatenate(hits))), 4),
            "clips": int(sum(len(h) for h in hits)),
        })
    return rows


def draw_accuracies(spotters: dict, draws: int, split: str = "test", first_draw: int = 0) -> list[dict]:
    """`pooled_accuracies` on draws of `split`'s voices, with the first preset's corpus settings."""
    settings = dict(next(iter(spotters.values())).card.get("corpus", {}))
    return pooled_accuracies(spotters, load_draws(settings, draws, split, first_draw))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=["speech-commands-gru"], help="preset names or folders")
    parser.add_argument("--draws", type=int, default=4, help="number of draws of the voices")
    parser.add_argument("--first-draw", type=int, default=0,
                        help="corpus seed of the first draw (draw 0 is the card's test set); later seeds give "
                             "fresh draws for a check that no earlier choice has seen")
    parser.add_argument("--split", choices=("test", "validation"), default="test",
                        help="whose voices: the test voices (reporting) or the validation voices (choosing runs)")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error(f"--draws must be at least 1; got {args.draws}")
    if args.first_draw < 0:
        parser.error(f"--first-draw must be 0 or more; got {args.first_draw}")
    from keras_rnnzoo import zoo

    for row in draw_accuracies({name: zoo.load(name) for name in args.presets}, args.draws, args.split, args.first_draw):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
