"""How the presets were chosen: a grid search on a validation split of the training data.

The validation split is :func:`movierec.splits.validation_split` (10 %, seed 42) of the
*training* part (latest-small: the tutorial's 90 %; 100k: ``u1.base``). The script is handed
that training part alone (:func:`benchmarks.common.tuning_dataset`), so no test rating is
reachable from it and it prints no test figure (``tests/test_sealed_tuning.py`` checks).
Each setting trains with early stopping on that validation split (patience 2); the best
epoch it reports becomes the preset's fixed ``epochs``. A ranking model (``ease``) has no
epochs and no RMSE: it is solved once per setting and ranked by its validation NDCG@10
(relevant: validation ratings >= 4, the user's training movies not ranked).

A ranking model can be ranked by the mean over several validation splits instead:
``--seeds 42,43,44`` (random splits with those seeds) or ``--validation contiguous``
(:func:`movierec.splits.contiguous_folds`: the five folds of consecutive rows, which on
``u1.base`` are shaped like ``u1.test``).

Usage::

    python -m benchmarks.tune --dataset latest-small --model dot-bias \\
        --grid '{"learning_rate": [0.02, 0.03, 0.05], "l2": [0.03, 0.05, 0.08]}' \\
        --base '{"optimizer": "sparse-adagrad", "batch_size": 4096, "epochs": 30}'
    python -m benchmarks.tune --dataset 100k --preset best --model blend
    python -m benchmarks.tune --dataset latest-small --model ease \
        --grid '{"lam": [50, 100, 200], "popularity_exponent": [0.0, 0.2, 0.3]}'
    python -m benchmarks.tune --dataset 100k --model ease --validation contiguous \
        --grid '{"lam": [200, 300], "lowpass_weight": [0.0, 0.35]}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from dataclasses import replace

from benchmarks.common import TrainingPart, markdown_table, tuning_dataset
from movierec.models import model_spec
from movierec.presets import resolve_preset
from movierec.splits import contiguous_folds, validation_split
from movierec.training import EncodedSplit, TrainConfig

VALIDATIONS = ("random", "contiguous")


def validation_data(train: TrainingPart, validation: str = "random",
                    seeds: tuple[int, ...] = (42,)) -> list[EncodedSplit]:
    """The validation splits carved from ``train``, a benchmark's training part
    (:class:`benchmarks.common.TrainingPart`: it holds no test rating): a random 10 % per
    seed, or (``contiguous``) the five :func:`~movierec.splits.contiguous_folds`."""
    splits = (contiguous_folds(train.ratings, 5) if validation == "contiguous"
              else [validation_split(train.ratings, 0.1, seed=seed) for seed in seeds])
    return [EncodedSplit.from_dataset(train.dataset, split) for split in splits]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="latest-small")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default="dot-bias")
    parser.add_argument("--preset", default=None, help="Start from this preset's settings.")
    parser.add_argument("--base", default="{}", help="JSON TrainConfig fields for every run.")
    parser.add_argument("--grid", default="{}", help="JSON field -> list of values to try.")
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--validation", choices=VALIDATIONS, default="random",
                        help="random 10 %% splits (--seeds), or the contiguous folds.")
    parser.add_argument("--seeds", default="42", help="Comma-separated random split seeds.")
    args = parser.parse_args(argv)
    splits = validation_data(tuning_dataset(args.dataset, args.data_dir), args.validation,
                             tuple(int(seed) for seed in args.seeds.split(",")))
    base = TrainConfig(model=args.model)
    if args.preset:
        base = resolve_preset(args.preset, args.dataset, model=args.model)
    base = replace(base, **json.loads(args.base))
    grid = json.loads(args.grid)
    rows = []
    ranking = not model_spec(base.model).predicts_ratings
    if len(splits) > 1 and not ranking:
        parser.error("several validation splits are for ranking models only")
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values, strict=True))
        config = replace(base, **setting)
        if config.model != "blend" and not ranking:
            config = replace(config, early_stopping=args.patience)
        started = time.perf_counter()
        runs = [data.fit(config, verbose=0).metrics for data in splits]
        seconds = round((time.perf_counter() - started) / len(splits), 1)
        m = runs[0]
        if ranking:
            by_split = [run["val_ndcg_at_10"] for run in runs]
            rows.append({"setting": json.dumps(setting),
                         "val_ndcg": round(statistics.fmean(by_split), 4),
                         "val_recall": round(statistics.fmean(
                             run["val_recall_at_10"] for run in runs), 4),
                         "by_split": " ".join(f"{v:.4f}" for v in by_split),
                         "seconds": seconds})
            print(f"{args.dataset} {args.model} {setting}: validation NDCG@10 "
                  f"{rows[-1]['val_ndcg']:.4f} ({rows[-1]['by_split']})", flush=True)
            continue
        rows.append({"setting": json.dumps(setting), "val_rmse": round(m["best_epoch_rmse"], 4),
                     "best_epoch": m["best_epoch"], "seconds": seconds})
        print(f"{args.dataset} {args.model} {setting}: validation RMSE "
              f"{m['best_epoch_rmse']:.4f} at epoch {m['best_epoch']}", flush=True)
    if ranking:
        print(markdown_table(sorted(rows, key=lambda r: -r["val_ndcg"]),
                             [("setting", "setting"), ("val_ndcg", "validation NDCG@10"),
                              ("val_recall", "validation recall@10"),
                              ("by_split", "NDCG@10 by split"), ("seconds", "s per split")]))
        return rows
    print(markdown_table(sorted(rows, key=lambda r: r["val_rmse"]),
                         [("setting", "setting"), ("val_rmse", "validation RMSE"),
                          ("best_epoch", "best epoch"), ("seconds", "s")]))
    return rows


if __name__ == "__main__":
    main()
