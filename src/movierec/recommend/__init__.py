"""Top-K recommendations, similar movies and cold start, scored from the learned weights.

A :class:`Recommender` copies a trained model's weights into numpy arrays once and scores
from them, so a request never compiles or calls Keras, and all users can be scored in a few
matrix products.

Modules:

* :mod:`~movierec.recommend.scoring`: :class:`ScoringWeights` and the numpy forward pass of
  each model (raw scores, and raw scores -> ratings);
* :mod:`~movierec.recommend.cold_start`: fitting a new user from a few ratings;
* :mod:`~movierec.recommend.scorers`: the two together for one model, and for a blend;
* :mod:`~movierec.recommend.history`: the training ratings, indexed by user;
* :mod:`~movierec.recommend.ids`: raw ids <-> indices;
* :mod:`~movierec.recommend.recommender`: the :class:`Recommender` facade.

The top-K itself is :func:`movierec.topk.top_k_rows`, shared with the evaluation (which
sits above this package and uses it; nothing here imports the evaluation).

Example:
    >>> from movierec.runs import load_run                       # doctest: +SKIP
    >>> rec = Recommender.from_run(load_run("runs/dot-bias"))   # doctest: +SKIP
    >>> ids, ratings = rec.recommend([68], k=10)                # doctest: +SKIP
"""

from movierec.recommend.history import DAMPING
from movierec.recommend.recommender import Recommender
from movierec.recommend.scoring import ScoringWeights

__all__ = [
    "DAMPING",
    "Recommender",
    "ScoringWeights",
]
