"""Top-10 ranking peers side by side, measured in one run on the same splits.

Datasets and protocols:

* latest-small with the tutorial's split (random 90/10, seed 42) and ML-100K's official
  ``u1.base`` / ``u1.test``: relevant = held-out rating >= 4, the user's training movies
  not ranked (as ``movierec evaluate``): NDCG@10, precision@10, recall@10, hit rate@10.
* leave-last-1 on each dataset: every user's latest rating held out (users with one
  rating stay in training), every held-out movie relevant: HR@10, NDCG@10.

Peers, each trained on the protocol's training part only, with settings chosen on a
validation split of the training part. These are the development splits: the hand search
that shaped the presets saw their test figures (issue 25), so the table is not an unbiased
estimate; ``benchmarks.select`` gives the nested one for the rank preset.

* ``popularity``: number of training ratings.
* every ranking model of the registry (``model_names(group="ranking")``; today ``ease``)
  with ``--preset rank``'s settings.
* ``dot-bias`` with ``--preset fast``: the rating models' best ranker.
* ``EASE (Steck 2019)``: the paper's EASE, on who rated what (every training rating counts
  1, no popularity scaling, side rows, low-pass term or user columns), its lam chosen from
  ``PAPER_EASE_LAMS`` by validation NDCG@10 on the validation split: the reference that
  movierec's ``ease`` must beat.
* implicit's ALS and BPR (optional: only when ``import implicit`` works), on who rated what
  (every training rating counts 1), with factors and regularization chosen by validation
  NDCG@10 on ``validation_split`` of the training part.
* ``ease x rating`` (see :func:`blend_scores`): EASE's "will they watch it" and dot-bias's
  "how will they rate it", combined with a weight chosen on the validation split.

Cost columns: seconds to train, seconds to rank the top 10 for every user (numpy, all
users at once in chunks), and the peak resident memory of the benchmark process while the
peer trained (MiB; it includes what the process already held, so only the largest figures
say much: ease's dense ``W`` and ``B`` and their float64 solve).

Usage::

    python -m benchmarks.ranking            # prints the table, writes results/ranking.md
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import latest_small, machine_info, markdown_table, ml100k
from movierec.data import Dataset
from movierec.evaluation import evaluate_split, popularity_scorer
from movierec.measure import measure
from movierec.models import model_names
from movierec.presets import paper_ease, resolve_preset
from movierec.recommend import Recommender
from movierec.splits import Split, leave_last_n, validation_split
from movierec.topk import top_k
from movierec.training import EncodedSplit, TrainConfig

RESULTS = Path(__file__).parent / "results"
K = 10
Scorer = Callable[[np.ndarray], np.ndarray]
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
PAPER_EASE_LAMS = (50.0, 100.0, 200.0, 300.0, 500.0, 1000.0)


@dataclass
class Fitted:
    """A trained peer: its scorer and what training cost."""

    score: Scorer
    train_seconds: float
    peak_rss_mib: float | None
    note: str = ""


# -- peers ------------------------------------------------------------------------------------

def fit_popularity(data: EncodedSplit, dataset: Dataset) -> Fitted:
    started = time.perf_counter()
    score = popularity_scorer(data.train_pairs, len(data.encoders.movies))
    return Fitted(score, time.perf_counter() - started, None)


def fit_preset(data: EncodedSplit, dataset: Dataset, preset: str, model: str
               ) -> tuple[Fitted, Recommender]:
    config = resolve_preset(preset, dataset.name, model=model, n_ratings=dataset.n_ratings)
    return fit_config(data, config)


def fit_config(data: EncodedSplit, config: TrainConfig) -> tuple[Fitted, Recommender]:
    result = data.fit(config, verbose=0)
    rec = Recommender.from_model(result.model, data.encoders, data.split.train)
    m = result.metrics
    return Fitted(rec.ranking_scores, m["train_seconds"], m["peak_rss_mib"]), rec


def _standardized(rows: np.ndarray) -> np.ndarray:
    """Each user's scores over the catalogue to mean 0, standard deviation 1."""
    rows = rows.astype(np.float64)
    rows -= rows.mean(axis=1, keepdims=True)
    rows /= np.maximum(rows.std(axis=1, keepdims=True), 1e-12)
    return rows


def blend_scores(ranker: Scorer, rating: Recommender, weight: float) -> Scorer:
    """``z(ranker) + weight * z(predicted rating)``, each standardized per user: "will they
    watch it" plus "how will they rate it"."""
    def score(users: np.ndarray) -> np.ndarray:
        return (_standardized(ranker(users))
                + weight * _standardized(rating.score_users(users))).astype(np.float32)
    return score


def implicit_peers() -> dict[str, Any]:
    """implicit's ALS and BPR classes, or {} when the package is not installed."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
    except ImportError:
        return {}
    return {"implicit ALS": (AlternatingLeastSquares,
                             [{"factors": f, "regularization": r, "iterations": 15}
                              for f in (64, 128) for r in (0.05, 0.5, 5.0)]),
            "implicit BPR": (BayesianPersonalizedRanking,
                             [{"factors": f, "learning_rate": lr, "regularization": 0.01,
                               "iterations": 100} for f in (64, 128) for lr in (0.01, 0.05)])}


def fit_implicit(cls: Any, params: dict[str, Any], data: EncodedSplit) -> Fitted:
    from scipy.sparse import csr_matrix

    n_users, n_movies = len(data.encoders.users), len(data.encoders.movies)
    pairs = data.train_pairs
    user_items = csr_matrix((np.ones(len(pairs), np.float32), (pairs[:, 0], pairs[:, 1])),
                            shape=(n_users, n_movies))
    with measure() as cost:
        model = cls(**params, random_state=42)
        model.fit(user_items, show_progress=False)
    users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)

    def score(batch: np.ndarray) -> np.ndarray:
        return users[batch] @ items.T

    return Fitted(score, cost.seconds, cost.peak_rss_mib, json.dumps(params))


# -- protocol ---------------------------------------------------------------------------------

def metrics_of(score: Scorer, data: EncodedSplit, threshold: float | None) -> dict[str, float]:
    return evaluate_split(score, data.split, data.encoders, k=K, relevance_threshold=threshold)


def all_users_seconds(score: Scorer, data: EncodedSplit) -> float:
    """Seconds to rank the top 10 unseen movies of every user (chunks of 1024 users)."""
    n_users = len(data.encoders.users)
    seen_rows = data.train_pairs
    started = time.perf_counter()
    for start in range(0, n_users, 1024):
        users = np.arange(start, min(start + 1024, n_users))
        scores = np.array(score(users), dtype=np.float32, copy=True)
        mask = (seen_rows[:, 0] >= start) & (seen_rows[:, 0] < start + len(users))
        scores[seen_rows[mask, 0] - start, seen_rows[mask, 1]] = -np.inf
        top_k(scores, K)
    return time.perf_counter() - started


def validation_of(dataset: Dataset, split: Split, leave_last: bool) -> EncodedSplit:
    """The validation split of ``split``'s training part, by the same protocol: random 10 %
    (seed 42), or each user's latest training rating for leave-last-1."""
    inner = (leave_last_n(split.train, 1) if leave_last
             else validation_split(split.train, 0.1, seed=42))
    return EncodedSplit.from_dataset(dataset, inner)


def run_protocol(dataset: Dataset, split: Split, label: str, threshold: float | None,
                 *, leave_last: bool = False) -> list[dict[str, Any]]:
    """Every peer on one split; rows of the table."""
    data = EncodedSplit.from_dataset(dataset, split)
    validation = validation_of(dataset, split, leave_last)
    rows: list[dict[str, Any]] = []

    def add(name: str, fitted: Fitted, setting: str = "") -> None:
        found = metrics_of(fitted.score, data, threshold)
        rows.append({"protocol": label, "model": name, "setting": setting or fitted.note,
                     "ndcg": found[f"ndcg@{K}"], "precision": found[f"precision@{K}"],
                     "recall": found[f"recall@{K}"], "hit_rate": found[f"hit_rate@{K}"],
                     "train_s": fitted.train_seconds,
                     "all_users_s": all_users_seconds(fitted.score, data),
                     "peak_mib": fitted.peak_rss_mib})
        print(f"{label} {name}: NDCG@10 {found[f'ndcg@{K}']:.4f}", flush=True)

    add("popularity", fit_popularity(data, dataset))
    rating_fit, rating_rec = fit_preset(data, dataset, "fast", "dot-bias")
    add("dot-bias (fast)", rating_fit)
    rankers = {}
    for name in model_names(group="ranking"):
        fitted, rec = fit_preset(data, dataset, "rank", name)
        rankers[name] = (fitted, rec)
        add(f"{name} (rank)", fitted)
    def paper(lam: float) -> TrainConfig:
        config = paper_ease(dataset.name, lam)
        assert config is not None  # a lam is given
        return config

    by_lam = {lam: metrics_of(fit_config(validation, paper(lam))[0].score, validation,
                              threshold)[f"ndcg@{K}"] for lam in PAPER_EASE_LAMS}
    lam = max(by_lam, key=lambda value: by_lam[value])
    add("EASE (Steck 2019)", fit_config(data, paper(lam))[0],
        f"lam {lam:g} (validation NDCG@10 by lam: "
        + ", ".join(f"{value:g}: {v:.4f}" for value, v in by_lam.items()) + ")")
    for name, (cls, grid) in implicit_peers().items():
        best = max(grid, key=lambda p: metrics_of(fit_implicit(cls, p, validation).score,
                                                  validation, threshold)[f"ndcg@{K}"])
        add(name, fit_implicit(cls, best, data))
    # "will they watch it" x "how will they rate it": the weight chosen on validation.
    for name, (fitted, _) in rankers.items():
        val_ranker, _ = fit_preset(validation, dataset, "rank", name)
        _, val_rating = fit_preset(validation, dataset, "fast", "dot-bias")
        by_weight = {w: metrics_of(blend_scores(val_ranker.score, val_rating, w), validation,
                                   threshold)[f"ndcg@{K}"] for w in BLEND_WEIGHTS}
        weight = max(by_weight, key=lambda w: by_weight[w])
        blended = replace(fitted, score=blend_scores(fitted.score, rating_rec, weight),
                          train_seconds=fitted.train_seconds + rating_fit.train_seconds)
        add(f"{name} x dot-bias rating", blended,
            f"weight {weight:g} (validation NDCG@10 by weight: "
            + ", ".join(f"{w:g}: {v:.4f}" for w, v in by_weight.items()) + ")")
    return rows


COLUMNS = [("protocol", "protocol"), ("model", "model"), ("ndcg", "NDCG@10"),
           ("precision", "precision@10"), ("recall", "recall@10"), ("hit_rate", "HR@10"),
           ("train_s", "train s"), ("all_users_s", "top-10 all users s"),
           ("peak_mib", "peak MiB"), ("setting", "setting")]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(RESULTS / "ranking.md"))
    parser.add_argument("--datasets", default="latest-small,100k")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for name in args.datasets.split(","):
        bench = latest_small(args.data_dir) if name == "latest-small" else ml100k(args.data_dir)
        rows += run_protocol(bench.dataset, bench.split, bench.label + ", rating >= 4", 4.0)
        last = leave_last_n(bench.dataset.ratings, 1)
        rows += run_protocol(bench.dataset, last, f"{name} leave-last-1", None,
                             leave_last=True)
    table = markdown_table(rows, COLUMNS)
    print(table)
    info = machine_info()
    text = ("# Top-10 ranking: peers side by side\n\n"
            "Written by `python -m benchmarks.ranking` (see its docstring for the protocols "
            "and how each peer's settings were chosen, always on a validation split of the "
            "training part). These are the development splits, whose test figures the "
            "hand search saw: the nested estimates are in `selection.md`. Held-out "
            "protocol: relevant = held-out rating >= 4, training "
            "movies excluded. Leave-last-1: each user's latest rating held out, every "
            "held-out movie relevant (HR@10 = recall@10 there); its validation split is "
            "leave-last-1 of the training part. Peak MiB is the benchmark process's peak "
            "while the peer trained (it includes what the process already held).\n\n"
            f"{table}\n\nMachine: {info['usable_cpus']} usable CPUs, {info['platform']}, "
            f"Python {info['python']}, Keras {info['keras']} ({info['keras_backend']}), "
            f"numpy {info['numpy']}.\n")
    Path(args.out).write_text(text)
    return rows


if __name__ == "__main__":
    main()
