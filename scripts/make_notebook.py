"""Writes docs/tutorial.ipynb from the cells below (outputs stripped: the test command
executes it). Run: python scripts/make_notebook.py"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS: list[tuple[str, str]] = [
    ("md", """# How to build a movie recommender with Keras, with movierec

The classic tutorial, cell by cell: load MovieLens latest-small, look at it, encode the ids,
split 90/10 with `random_state=42`, build and train its four Keras models (V1-V4), compare
them, and recommend the top 10 unseen movies for a user. Each model is shown twice: as the
plain Keras code the tutorial writes, and as the library call that builds the same model.
Then beyond the tutorial: ranking against popularity, a new user, similar movies.

**In Colab**: run `!pip install "movierec @ git+<this repository's URL>"` in a first cell
(or `pip install -e .` from a checkout). The data is read the way the command line reads it:
the `MOVIEREC_DATA` folder if set (it holds `ml-latest-small/` as GroupLens ships it),
otherwise the user cache, otherwise it is downloaded from GroupLens once (about 1 MB).

The outputs of this notebook are stripped in the repository; `scripts/test.sh` executes it
top to bottom on latest-small, so every cell here is known to run."""),
    ("code", """import os
EPOCHS = int(os.environ.get("TUTORIAL_EPOCHS", "5"))   # the tutorial's 5; the tests may use fewer

import movierec       # first: it selects the JAX backend unless KERAS_BACKEND says otherwise
import movierec.data
import keras
print(f"movierec {movierec.__version__} | Keras {keras.__version__} "
      f"on {keras.backend.backend()}")"""),
    ("md", "## 1. Load the data"),
    ("code", """dataset = movierec.data.load("latest-small")
print(f"{dataset.n_ratings:,} ratings by {dataset.n_users} users of {dataset.n_movies:,} movies,"
      f" scale {dataset.rating_scale}")
dataset.ratings.head()"""),
    ("md", "## 2. Look at it: the top 15 users x top 15 movies (sum of ratings)"),
    ("code", """from movierec.explore import summarize

summary = summarize(dataset, top=15)
summary.pivot"""),
    ("md", """## 3. Encode the ids and split 90/10

The tutorial maps user and movie ids to contiguous indices and splits with scikit-learn's
`train_test_split(test_size=0.1, random_state=42)`; `random_split` draws exactly the same
rows."""),
    ("code", """from movierec.splits import random_split
from movierec.training import EncodedSplit

split = random_split(dataset.ratings, test_size=0.1, seed=42)
data = EncodedSplit.from_dataset(dataset, split, split_seed=42, test_size=0.1)
n_users, n_movies = len(data.encoders.users), len(data.encoders.movies)
print(f"train {len(data.train_pairs):,} / test {len(data.test_pairs):,}; "
      f"{n_users} users, {n_movies} movies")
data.train_pairs[:3]   # [user_index, movie_index]"""),
    ("md", """## 4. The four models

V1 as the tutorial writes it in plain Keras (functional API):"""),
    ("code", """def tutorial_v1(n_users, n_movies, factors=50):
    user = keras.Input(shape=(1,), name="user")
    movie = keras.Input(shape=(1,), name="movie")
    u = keras.layers.Embedding(n_users, factors, embeddings_initializer="he_normal",
                               embeddings_regularizer=keras.regularizers.l2(1e-6))(user)
    m = keras.layers.Embedding(n_movies, factors, embeddings_initializer="he_normal",
                               embeddings_regularizer=keras.regularizers.l2(1e-6))(movie)
    rating = keras.layers.Dot(axes=2)([u, m])
    return keras.Model([user, movie], keras.layers.Flatten()(rating))

tutorial_v1(n_users, n_movies).summary()"""),
    ("md", """The same model, and V2-V4, from the library: registered, serializable Keras classes
(they reload with `safe_mode=True`) written with `keras.ops` only, so they run on JAX,
PyTorch and TensorFlow. They take one int32 `(batch, 2)` input, `[user, movie]`."""),
    ("code", """from movierec.models import build_model, model_names, model_spec

TUTORIAL = ["dot", "dot-bias", "mlp", "recommender-net"]
for name in TUTORIAL:
    model = build_model(name, n_users, n_movies, factors=50, rating_range=dataset.rating_scale)
    print(f"{name:16} {model.count_params():>8,} parameters  {model_spec(name).description}")
print("all registered models:", ", ".join(model_names()))"""),
    ("md", """## 5. Train them and plot the loss curves

The tutorial's settings: Adam 1e-3, batch 64, 5 epochs. Validation RMSE is reported in rating
units for every model, whatever loss it trains with (V4 trains with binary cross-entropy on
ratings scaled to [0, 1])."""),
    ("code", """from movierec.training import TrainConfig

results = {}
for name in TUTORIAL:
    results[name] = data.fit(TrainConfig(model=name, epochs=EPOCHS, seed=42), verbose=0)
    m = results[name].metrics
    print(f"{name:16} validation RMSE {m['rmse']:.4f}  MAE {m['mae']:.4f}  "
          f"(best epoch {m['best_epoch']}: {m['best_epoch_rmse']:.4f})")"""),
    ("code", """from matplotlib.figure import Figure

figure = Figure(figsize=(11, 3.2), layout="constrained")
for axes, (name, result) in zip(figure.subplots(1, len(results)), results.items()):
    epochs = [row["epoch"] for row in result.history]
    axes.plot(epochs, [row["loss"] for row in result.history], label="train")
    axes.plot(epochs, [row["val_loss"] for row in result.history], label="validation")
    axes.set_title(name); axes.set_xlabel("epoch")
axes.legend()
figure"""),
    ("md", "## 6. Compare them, next to baselines, on rating error and on ranking"),
    ("code", """import pandas as pd
from movierec.evaluation import baseline_ranking_reports, ranking_report
from movierec.recommend import Recommender

def recommender_for(result):
    # Lists leave out what the user rated in either part; the evaluation still scores the
    # held-out ratings (it excludes the training ones only).
    return Recommender.from_model(result.model, data.encoders, split.train, dataset.movies,
                                  held_out_ratings=split.test)

baselines = baseline_ranking_reports(split, data.encoders, 10, 4.0)
rows = {name: {"RMSE": r.metrics["rmse"], **ranking_report(recommender_for(r), split, k=10)}
        for name, r in results.items()}
rows.update({name: {"RMSE": None, **report} for name, report in baselines.items()})
pd.DataFrame(rows).T[["RMSE", "ndcg@10", "precision@10", "hit_rate@10"]].round(4)"""),
    ("md", """Models trained to predict ratings rank poorly: a chart of the most popular movies
beats them on NDCG@10. Section 8 comes back to this."""),
    ("md", "## 7. The top 10 unseen movies for a user"),
    ("code", """best = min(results, key=lambda name: results[name].metrics["rmse"])
rec = recommender_for(results[best])
user = 68
ids, ratings = rec.recommend([user], k=10)
top = rec.catalog.describe(ids[0]).assign(predicted=ratings[0].round(2))
print(f"Top 10 for user {user} from {best} (every movie they rated left out)")
top"""),
    ("md", """## 8. Beyond the tutorial

### A model that ranks: EASE
EASE (Steck 2019) learns item-item weights in closed form from who rated what, with movies
rated below 4 weighing 0.3 and a mild popularity discount. It is a registered Keras model like
the others (its weights are the item-item matrix), scored from its weights with numpy. It
predicts no rating: its scores are relative."""),
    ("code", """ease = data.fit(TrainConfig(model="ease", seed=42), verbose=0)
ease_rec = recommender_for(ease)
ranking = {"ease": ranking_report(ease_rec, split, k=10), **baselines}
ranking.update({name: rows[name] for name in TUTORIAL})
pd.DataFrame(ranking).T[["ndcg@10", "precision@10", "hit_rate@10"]].round(4)"""),
    ("code", """ids, scores = ease_rec.recommend([user], k=10)
print(f"Top 10 for user {user} from EASE (every movie they rated left out)")
ease_rec.catalog.describe(ids[0]).assign(relative_score=scores[0].round(3))"""),
    ("md", """### A new user, without retraining (rating model)
The new user's vector is solved by regularized least squares against the frozen movie
vectors."""),
    ("code", """toy_story, matrix, notebook = 1, 2571, 15
ids, ratings = rec.recommend_new_user({toy_story: 5.0, 3114: 5.0, matrix: 2.0}, k=5)
rec.catalog.describe(ids).assign(predicted=ratings.round(2))"""),
    ("md", "### Similar movies (cosine of the learned movie vectors)"),
    ("code", """ids, cosine = rec.similar_movies(toy_story, k=5, min_ratings=20)
rec.catalog.describe(ids).assign(cosine=cosine.round(3))"""),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text)
             for kind, text in CELLS]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


if __name__ == "__main__":
    path = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"
    nbformat.write(build(), path)
    print(f"wrote {path}")
