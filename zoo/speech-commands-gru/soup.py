"""Greedy model soup of keyword-spotter runs, chosen on draws of the validation voices.

Runs fine-tuned from the same weights can be averaged weight by weight
("model soups", Wortsman et al. 2022). The greedy soup orders the runs by
their accuracy on several draws of the validation voices, starts from the
best, and keeps each next run only if the average with it is at least as
accurate on those draws. No test voice is used. The soup is written as a
preset folder (the best run's card and settings, the averaged model);
rewrite its card and metrics with `recipe.py --evaluate-only SOUP --output FINAL`.

    python zoo/speech-commands-gru/soup.py RUN_PRESET... --output SOUP [--draws 4]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def average_weights(models) -> list:
    """The weight-by-weight mean of models of one architecture."""
    import numpy as np

    weights = [model.get_weights() for model in models]
    if any(len(w) != len(weights[0]) or any(a.shape != b.shape for a, b in zip(w, weights[0])) for w in weights):
        raise ValueError("Only runs of one architecture can be averaged; their weight shapes differ.")
    return [np.mean(np.stack(group), axis=0).astype(group[0].dtype) for group in zip(*weights)]


def greedy_soup(spotters: dict, draws: int, log=print) -> tuple[list[str], float]:
    """Names of the runs in the greedy soup and its pooled validation accuracy.

    The best run's model holds each trial average while it is measured and
    gets its own weights back at the end.
    """
    from test_draws import load_draws, pooled_accuracies

    settings = dict(next(iter(spotters.values())).card.get("corpus", {}))
    data = load_draws(settings, draws, "validation")  # read once, scored for every run and trial
    scores = {row["preset"]: row["accuracy"] for row in pooled_accuracies(spotters, data)}
    order = sorted(scores, key=scores.get, reverse=True)
    for name in order:
        log(json.dumps({"run": name, "validation_accuracy": scores[name]}))
    soup, best = [order[0]], scores[order[0]]
    trial = spotters[order[0]]
    original = trial.model.get_weights()
    try:
        for name in order[1:]:
            trial.model.set_weights(average_weights([spotters[n].model for n in soup + [name]]))
            accuracy = pooled_accuracies({"soup": trial}, data)[0]["accuracy"]
            kept = accuracy >= best
            log(json.dumps({"add": name, "soup_validation_accuracy": accuracy, "kept": kept}))
            if kept:
                soup, best = soup + [name], accuracy
    finally:
        trial.model.set_weights(original)
    return soup, best


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+", help="preset folders of runs fine-tuned from the same weights")
    parser.add_argument("--output", type=Path, required=True, help="preset folder to write the soup to (must not exist)")
    parser.add_argument("--draws", type=int, default=4, help="draws of the validation voices (corpus seeds 0..N-1)")
    args = parser.parse_args(argv)
    if args.output.exists():
        parser.error(f"--output {args.output} exists; choose a new folder")
    from keras_rnnzoo.zoo.io import check_preset_name

    try:
        check_preset_name(args.output.name)
    except ValueError as error:
        parser.error(f"--output {args.output}: the folder's name is the soup's preset name. {error}")
    if len(set(args.presets)) < 2:
        parser.error("give at least two different runs to average")
    for name in args.presets:
        if not Path(name, "preset.json").is_file():
            parser.error(f"{name} is not a preset folder (no preset.json)")
    from keras_rnnzoo import zoo

    spotters = {name: zoo.load(name) for name in args.presets}
    soup, accuracy = greedy_soup(spotters, args.draws)
    first = spotters[soup[0]]
    first.model.set_weights(average_weights([spotters[name].model for name in soup]))
    training = {"soup": soup, "soup_validation_accuracy_pooled": accuracy, "validation_draws": args.draws,
                "ingredients": [zoo.preset_info(name).get("training") for name in soup],
                "recipe": "zoo/speech-commands-gru/soup.py"}
    zoo.save_preset(first, args.output, card=Path(soup[0]) / "card.md", overwrite=False,
                    name=args.output.name, training=training, metrics={})  # measured by recipe.py --evaluate-only
    print(json.dumps({"soup": soup, "validation_accuracy": accuracy, "output": str(args.output)}))


if __name__ == "__main__":
    main()
