"""Surprise's SVD, SVD++ and KNNBaseline on the same splits (the optional ``[bench]`` extra).

Every algorithm is fitted on the split's training ratings and scored on its test ratings with
movierec's own metric functions. SVD and SVD++ keep Surprise's defaults (SVD: 100 factors,
20 epochs, lr 0.005, reg 0.02), with ``random_state=0``; KNNBaseline uses the item-based
pearson-baseline similarity that Surprise's documentation recommends for it (with the
default user-based MSD similarity it is much weaker: 0.893 on latest-small).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from movierec import metrics


def available() -> bool:
    """True when scikit-surprise is importable."""
    try:
        import surprise  # noqa: F401
    except ImportError:
        return False
    return True


def _trainset(train: pd.DataFrame, scale: tuple[float, float]):
    from surprise import Dataset, Reader

    frame = train[["user_id", "movie_id", "rating"]]
    return Dataset.load_from_df(frame, Reader(rating_scale=scale)).build_full_trainset()


def _algorithm(name: str, **kwargs: Any):
    import surprise

    if name == "svd":
        return surprise.SVD(random_state=0, **kwargs)
    if name == "svdpp":
        return surprise.SVDpp(random_state=0, **kwargs)
    if name == "knn-baseline":
        options = {"name": "pearson_baseline", "user_based": False}
        return surprise.KNNBaseline(sim_options=options, verbose=False, **kwargs)
    raise ValueError(f"unknown Surprise algorithm {name!r}")


def _score(algo, test: pd.DataFrame) -> np.ndarray:
    return np.array([algo.predict(u, m).est for u, m in
                     zip(test["user_id"].to_numpy(), test["movie_id"].to_numpy(), strict=True)],
                    dtype=np.float32)


def evaluate(name: str, train: pd.DataFrame, test: pd.DataFrame,
             scale: tuple[float, float], **kwargs: Any) -> dict[str, Any]:
    """Fit Surprise algorithm ``name`` (svd, svdpp, knn-baseline); RMSE/MAE on ``test``."""
    trainset = _trainset(train, scale)
    algo = _algorithm(name, **kwargs)
    started = time.perf_counter()
    algo.fit(trainset)
    seconds = time.perf_counter() - started
    predicted = _score(algo, test)
    truth = test["rating"].to_numpy(np.float32)
    return {"model": f"surprise {name}", "rmse": round(metrics.rmse(truth, predicted), 4),
            "mae": round(metrics.mae(truth, predicted), 4), "train_seconds": round(seconds, 2)}


def svd_curve(train: pd.DataFrame, test: pd.DataFrame, scale: tuple[float, float],
              epochs: list[int]) -> list[dict[str, float]]:
    """Surprise SVD's test RMSE after each of ``epochs`` epochs and its training seconds.

    Surprise cannot score between epochs, so each point is a fresh fit for that many epochs
    (same seed: the first ``n`` epochs of a longer run are the same).
    """
    trainset = _trainset(train, scale)
    truth = test["rating"].to_numpy(np.float32)
    curve = []
    for n in epochs:
        algo = _algorithm("svd", n_epochs=n)
        started = time.perf_counter()
        algo.fit(trainset)
        seconds = time.perf_counter() - started
        curve.append({"epoch": n, "seconds": round(seconds, 3),
                      "rmse": round(metrics.rmse(truth, _score(algo, test)), 4)})
    return curve
