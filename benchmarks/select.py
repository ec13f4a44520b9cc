"""The rank preset's selection as code, run afresh on every outer split (nested validation).

:func:`select` is the whole selection of ``--preset rank``'s ``ease`` settings for a
dataset: the grid (:data:`GRIDS`, with :data:`FIXED` beside it), the validation protocol
(:data:`PROTOCOLS`) and the rule that picks the winner (the best mean validation NDCG@10;
ties go to the first setting of the grid) are all fixed here, in code. It is handed an outer
split's training part alone (:class:`benchmarks.common.TrainingPart`), so it cannot see the
test part (``tests/test_sealed_tuning.py`` checks). The paper's EASE, the reference row, has
its lam chosen the same way from :data:`PAPER_LAMS`.

:func:`nested` runs that selection on the training part of each outer split
(:data:`OUTER`: latest-small, five random 90/10 splits, seeds 42 and four others; ML-100K,
u1 .. u5, each fold's settings chosen on its own ``u{n}.base``) and only then scores the
winner on that split's test part, once. The mean and spread of those test figures over the
outer splits estimate how well the *procedure* does on data it never saw: they are the
honest figures. The seed-42 split and u1 are the development splits on which the presets
were searched for by hand (with test figures in view; see
``benchmarks/results/tuning-notes.md``): their rows are shown, but the estimate is the mean.

Each outer split also scores, for comparison, popularity and the preset's settings as they
stand in ``presets.py``. That column is not an honest estimate: those settings were chosen
on the seed-42 split and on u1.base, which holds u2 .. u5's test parts.

Usage::

    python -m benchmarks.select                        # both datasets, all outer splits
    python -m benchmarks.select --datasets 100k --splits 1   # one split, to time it
    python -m benchmarks.select --rmse   # also fast's dot-bias by RMSE (about 4 min more)
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import TrainingPart, machine_info, markdown_table, training_part
from benchmarks.ranking import fit_config, fit_popularity, metrics_of
from benchmarks.tune import validation_data
from movierec.atomic import write_text
from movierec.data import Dataset, load
from movierec.presets import paper_ease, resolve_preset
from movierec.splits import Split, ml100k_fold, random_split
from movierec.training import EncodedSplit, TrainConfig

RESULTS = Path(__file__).parent / "results"
THRESHOLD = 4.0
"""Relevant: a held-out rating of at least this (validation and test alike)."""

GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "latest-small": {"lam": (100.0, 200.0), "popularity_exponent": (0.1, 0.2),
                     "side_weight": (0.0, 1.5)},
    "100k": {"lam": (300.0, 500.0), "popularity_exponent": (0.1, 0.2),
             "lowpass_weight": (0.0, 0.25), "user_weight": (0.0, 0.6)},
}
"""The values tried, every combination (8 on latest-small, 16 on 100k): the neighbourhood
of the hand-searched preset, sized so that the nested run of both datasets fits in about
25 minutes of one core (an ease solve on latest-small's 9,700 movies takes about 6 s)."""

FIXED: dict[str, dict[str, float]] = {
    "latest-small": {"positive": 4.0, "negative_weight": 0.3},
    "100k": {"positive": 4.0, "negative_weight": 0.3, "side_weight": 2.0,
             "lowpass_factors": 32},
}
"""The settings every grid point shares."""

PROTOCOLS: dict[str, tuple[str, tuple[int, ...]]] = {
    "latest-small": ("random", (42, 43, 44)),
    "100k": ("contiguous", ()),
}
"""Validation protocol per dataset (:func:`benchmarks.tune.validation_data`): latest-small,
the mean over three random 10 % validation splits of the training part; 100k, the mean over
the training part's five contiguous folds, which are shaped like its test fold."""

PAPER_LAMS = (200.0, 500.0)
"""lam values for the paper's EASE, chosen by the same protocol."""

OUTER: dict[str, tuple[int, ...]] = {"latest-small": (42, 1, 2, 3, 4), "100k": (1, 2, 3, 4, 5)}
"""latest-small: seeds of the random 90/10 outer splits; 100k: the official folds."""

DEVELOPMENT = {"latest-small": 42, "100k": 1}
"""The outer split each dataset's presets were developed on."""

RMSE_GRID: dict[str, tuple[float, ...]] = {"learning_rate": (0.03, 0.1), "l2": (0.03, 0.05, 0.08)}
"""``--preset fast``'s dot-bias selection: every combination, each trained with early
stopping (patience 2, at most :data:`RMSE_MAX_EPOCHS`) on ``validation_split`` (10 %, seed
42) of the training part; the lowest validation RMSE wins and its best epoch becomes the
fixed epoch count of the run scored on the test part."""
RMSE_MAX_EPOCHS = 40
"""Most epochs a grid point trains for before early stopping ends it."""


@dataclass(frozen=True)
class Selection:
    """What :func:`select` chose on one training part, and the figures it chose by."""

    setting: dict[str, float]
    config: TrainConfig
    validation_ndcg: float
    by_setting: list[tuple[dict[str, float], float]]
    paper_lam: float
    paper_by_lam: dict[float, float]
    seconds: float


def grid(dataset: str) -> list[dict[str, float]]:
    """Every setting of ``dataset``'s grid, in the order ties are broken."""
    values = GRIDS[_key(dataset)]
    return [dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())]


def _key(dataset: str) -> str:
    return dataset if dataset in GRIDS else "latest-small"


def _mean_validation(splits: list[EncodedSplit], config: TrainConfig) -> float:
    return statistics.fmean(split.fit(config, verbose=0).metrics["val_ndcg_at_10"]
                            for split in splits)


def select(train: TrainingPart) -> Selection:
    """The rank preset's ``ease`` settings, chosen on ``train`` alone by the fixed grid,
    protocol and rule."""
    started = time.perf_counter()
    key = _key(train.dataset.name)
    validation, seeds = PROTOCOLS[key]
    splits = validation_data(train, validation, seeds)
    by_setting = []
    for setting in grid(key):
        config = TrainConfig(model="ease", **FIXED[key], **setting)
        by_setting.append((setting, _mean_validation(splits, config)))
    best, score = max(by_setting, key=lambda pair: pair[1])  # first of equals wins
    paper_by_lam = {}
    for lam in PAPER_LAMS:
        config = paper_ease(train.dataset.name, lam)
        assert config is not None  # a lam is given
        paper_by_lam[lam] = _mean_validation(splits, config)
    paper_lam = max(paper_by_lam, key=lambda lam: paper_by_lam[lam])
    return Selection(best, TrainConfig(model="ease", **FIXED[key], **best), score, by_setting,
                     paper_lam, paper_by_lam, time.perf_counter() - started)


@dataclass(frozen=True)
class RatingSelection:
    """What :func:`select_rating` chose on one training part."""

    setting: dict[str, float]
    config: TrainConfig
    validation_rmse: float


def select_rating(train: TrainingPart) -> RatingSelection:
    """``--preset fast``'s dot-bias settings (learning rate, l2, epochs), chosen on ``train``
    alone by :data:`RMSE_GRID` and its fixed protocol."""
    base = resolve_preset("fast", train.dataset.name, model="dot-bias",
                          n_ratings=train.dataset.n_ratings)
    (split,) = validation_data(train, "random", (42,))
    found = []
    for combo in itertools.product(*RMSE_GRID.values()):
        setting = dict(zip(RMSE_GRID, combo, strict=True))
        config = replace(base, **setting, epochs=RMSE_MAX_EPOCHS, early_stopping=2)
        metrics = split.fit(config, verbose=0).metrics
        found.append((metrics["best_epoch_rmse"], setting, int(metrics["best_epoch"])))
    rmse, setting, epochs = min(found, key=lambda entry: entry[0])  # first of equals wins
    return RatingSelection({**setting, "epochs": epochs},
                           replace(base, **setting, epochs=epochs), rmse)


def nested_rmse(dataset: Dataset, n_splits: int | None = None) -> list[dict[str, Any]]:
    """One row per outer split: :func:`select_rating` on its training part, then the test
    RMSE of the winner and of the preset as it stands."""
    rows = []
    frozen = resolve_preset("fast", dataset.name, model="dot-bias", n_ratings=dataset.n_ratings)
    for label, number, split in outer_splits(dataset)[:n_splits]:
        chosen = select_rating(training_part(dataset, split))
        data = EncodedSplit.from_dataset(dataset, split)
        row = {"dataset": dataset.name, "split": label,
               "development": number == DEVELOPMENT[_key(dataset.name)],
               "setting": ", ".join(f"{k} {v:g}" for k, v in chosen.setting.items()),
               "validation": chosen.validation_rmse,
               "rmse": data.fit(chosen.config, verbose=0).metrics["rmse"],
               "frozen": data.fit(frozen, verbose=0).metrics["rmse"]}
        rows.append(row)
        print(f"{dataset.name} {label}: dot-bias chose {row['setting']} (validation RMSE "
              f"{row['validation']:.4f}); test RMSE {row['rmse']:.4f}, preset as it stands "
              f"{row['frozen']:.4f}", flush=True)
    return rows


def outer_splits(dataset: Dataset) -> list[tuple[str, int, Split]]:
    """``dataset``'s outer splits (:data:`OUTER`): label, seed or fold, split."""
    if dataset.name == "100k":
        return [(f"u{fold}", fold, ml100k_fold(dataset.ratings, fold))
                for fold in OUTER["100k"]]
    return [(f"seed {seed}", seed, random_split(dataset.ratings, 0.1, seed=seed))
            for seed in OUTER[_key(dataset.name)]]


def scored_ndcg(data: EncodedSplit, config: TrainConfig) -> float:
    """NDCG@10 on ``data``'s test part of ``config`` trained on its training part."""
    fitted, _ = fit_config(data, config)
    return metrics_of(fitted.score, data, THRESHOLD)["ndcg@10"]


def nested(dataset: Dataset, n_splits: int | None = None) -> list[dict[str, Any]]:
    """One row per outer split: the selection on its training part, then its test figures."""
    rows = []
    frozen = resolve_preset("rank", dataset.name, model="ease", n_ratings=dataset.n_ratings)
    for label, number, split in outer_splits(dataset)[:n_splits]:
        chosen = select(training_part(dataset, split))
        data = EncodedSplit.from_dataset(dataset, split)
        paper = paper_ease(dataset.name, chosen.paper_lam)
        assert paper is not None
        popularity = metrics_of(fit_popularity(data, dataset).score, data, THRESHOLD)
        row = {"dataset": dataset.name, "split": label,
               "development": number == DEVELOPMENT[_key(dataset.name)],
               "setting": ", ".join(f"{k} {v:g}" for k, v in chosen.setting.items()),
               "validation": chosen.validation_ndcg, "ease": scored_ndcg(data, chosen.config),
               "paper_lam": chosen.paper_lam, "paper": scored_ndcg(data, paper),
               "popularity": popularity["ndcg@10"], "frozen": scored_ndcg(data, frozen),
               "seconds": chosen.seconds}
        rows.append(row)
        print(f"{dataset.name} {label}: chose {row['setting']} (validation {row['validation']:.4f}"
              f", {row['seconds']:.0f} s); test NDCG@10 ease {row['ease']:.4f}, paper EASE "
              f"(lam {row['paper_lam']:g}) {row['paper']:.4f}, popularity "
              f"{row['popularity']:.4f}, frozen preset {row['frozen']:.4f}", flush=True)
    return rows


def summary(rows: list[dict[str, Any]],
            columns: tuple[str, ...] = ("ease", "paper", "popularity", "frozen")
            ) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over each dataset's outer splits."""
    out = []
    for name in dict.fromkeys(row["dataset"] for row in rows):
        mine = [row for row in rows if row["dataset"] == name]
        entry: dict[str, Any] = {"dataset": name, "n": len(mine)}
        for column in columns:
            values = [row[column] for row in mine]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            entry[column] = f"{statistics.fmean(values):.4f} ± {spread:.4f}"
        if "ease" in columns:
            wins = sum(row["ease"] > row["paper"] for row in mine)
            entry["wins"] = f"{wins} of {len(mine)}"
        out.append(entry)
    return out


SPLIT_COLUMNS = [("dataset", "dataset"), ("split", "outer split"), ("setting", "chosen setting"),
                 ("validation", "validation NDCG@10"), ("ease", "ease (selected) test"),
                 ("paper", "paper EASE test"), ("paper_lam", "paper lam"),
                 ("popularity", "popularity test"), ("frozen", "preset in presets.py test"),
                 ("seconds", "selection s")]
RMSE_SPLIT_COLUMNS = [("dataset", "dataset"), ("split", "outer split"),
                      ("setting", "chosen setting"), ("validation", "validation RMSE"),
                      ("rmse", "dot-bias (selected) test RMSE"),
                      ("frozen", "preset in presets.py test RMSE")]
RMSE_SUMMARY_COLUMNS = [("dataset", "dataset"), ("n", "outer splits"),
                        ("rmse", "dot-bias, selected per split"),
                        ("frozen", "preset in presets.py (not honest)")]
SUMMARY_COLUMNS = [("dataset", "dataset"), ("n", "outer splits"),
                   ("ease", "ease, selected per split"), ("paper", "paper EASE"),
                   ("popularity", "popularity"), ("frozen", "preset in presets.py (not honest)"),
                   ("wins", "ease ahead of paper EASE")]


def write(rows: list[dict[str, Any]], out: Path,
          rmse_rows: list[dict[str, Any]] | None = None) -> str:
    """The results page (atomically); returns its text."""
    shown = [{**row, "split": row["split"] + (" (development)" if row["development"] else "")}
             for row in rows]
    grids = "\n".join(f"- {name}: {', '.join(f'{k} {v}' for k, v in GRIDS[name].items())}; "
                      f"fixed {FIXED[name]}; validation {PROTOCOLS[name][0]}"
                      + (f" (seeds {PROTOCOLS[name][1]})" if PROTOCOLS[name][1] else
                         " (five contiguous folds)") for name in GRIDS)
    info = machine_info()
    text = ("# Nested selection of the rank preset (`python -m benchmarks.select`)\n\n"
            "Each outer split's training part alone goes through the whole selection "
            "(grid, validation protocol and winner fixed in `benchmarks/select.py`); the "
            "winner is then scored once on that split's test part (NDCG@10, relevant: "
            "held-out rating >= 4, training movies not ranked). The mean ± sample standard "
            "deviation over the outer splits is the honest estimate. The development rows "
            "(seed 42, u1) are the splits the presets were searched on by hand with test "
            "figures in view; the presets.py column scores the preset as it stands (chosen "
            "on the development split) on every outer split, for comparison only: on the "
            "other splits it is not an honest figure (u1.base holds u2 .. u5's test parts)."
            "\n\n"
            f"Grids:\n{grids}\n- paper EASE: lam from {PAPER_LAMS} by the same protocol\n\n"
            f"{markdown_table(summary(rows), SUMMARY_COLUMNS)}\n\n"
            f"{markdown_table(shown, SPLIT_COLUMNS)}\n\n"
            + (_rmse_section(rmse_rows) if rmse_rows else "") +
            f"Machine: {info['usable_cpus']} usable CPUs, {info['platform']}, Python "
            f"{info['python']}, numpy {info['numpy']}.\n")
    write_text(out, text)
    return text


def _rmse_section(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "split": row["split"] + (" (development)" if row["development"] else "")}
             for row in rows]
    return ("## Rating error: `--preset fast`'s dot-bias, selected per outer split\n\n"
            f"Grid {RMSE_GRID}, each point trained with early stopping (patience 2, at most "
            f"{RMSE_MAX_EPOCHS} epochs) on `validation_split` (10 %, seed 42) of the outer "
            "training part; the lowest validation RMSE wins, its best epoch is the epoch "
            "count of the run scored once on the test part.\n\n"
            f"{markdown_table(summary(rows, ('rmse', 'frozen')), RMSE_SUMMARY_COLUMNS)}\n\n"
            f"{markdown_table(shown, RMSE_SPLIT_COLUMNS)}\n\n")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--datasets", default="latest-small,100k")
    parser.add_argument("--splits", type=int, default=None,
                        help="Only the first N outer splits (to time one).")
    parser.add_argument("--out", default=str(RESULTS / "selection.md"))
    parser.add_argument("--rmse", action="store_true",
                        help="Also the fast preset's dot-bias selection, by RMSE.")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    rmse_rows: list[dict[str, Any]] = []
    for name in args.datasets.split(","):
        dataset = load(name, args.data_dir)
        rows += nested(dataset, args.splits)
        if args.rmse:
            rmse_rows += nested_rmse(dataset, args.splits)
    print(markdown_table(summary(rows), SUMMARY_COLUMNS))
    write(rows, Path(args.out), rmse_rows)
    return rows


if __name__ == "__main__":
    main()
