"""``movierec recommend``, ``movierec similar`` and ``movierec evaluate`` on a saved run."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from movierec.checks import plain as _plain
from movierec.cli.options import (
    DataDirOption,
    DatasetOption,
    MoviesOption,
    RatingsOption,
    wide_console,
)
from movierec.errors import MovierecError, UnknownIdError

RunOption = typer.Option(..., "--run", "-r", help="A run directory written by `movierec train`.")
KOption = typer.Option(10, "-k", "--top-k", min=1, help="How many movies to list.")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")


def register(app: typer.Typer) -> None:
    app.command("recommend")(recommend_command)
    app.command("similar")(similar_command)
    app.command("evaluate")(evaluate_command)


def _load(run_dir: Path):
    from movierec.recommend import Recommender
    from movierec.runs import load_run

    run = load_run(run_dir)
    return run, Recommender.from_run(run)


NO_VALIDATION = ("this run was trained on every rating (--test-size 0): it has no held-out "
                 "part and no validation metrics")


def _without_validation(run) -> bool:
    """Whether ``run`` held nothing out (``movierec train --test-size 0``)."""
    return not run.validated


# --------------------------------------------------------------------------------------------
# recommend
# --------------------------------------------------------------------------------------------


def recommend_command(
    run: Path = RunOption,
    user: str | None = typer.Option(None, "--user", "-u", help="A user id the model knows."),
    k: int = KOption,
    as_json: bool = JsonOption,
    exclude: list[str] | None = typer.Option(
        None, "--exclude", help="A movie id or title never to recommend; repeat for more."),
    all_users: bool = typer.Option(
        False, "--all-users", help="Top K for every user, written to --out."),
    out: Path | None = typer.Option(
        None, "--out", help="With --all-users: the file to write (.parquet or .csv)."),
    fallback: str = typer.Option(
        "none", "--fallback", help="For a user the model does not know: 'none' (an error) "
        "or 'popular' (the best-liked popular movies, labelled as a fallback)."),
    rate: list[str] | None = typer.Option(
        None, "--rate", help="A new user's rating, 'TITLE=5' or 'MOVIE_ID=4'; repeat. The "
        "user is folded into the model without retraining."),
    ratings_of_new_user: Path | None = typer.Option(
        None, "--ratings-of-new-user", help="A new user's ratings as CSV with columns "
        "movie (id or title) and rating."),
    show_rated: int = typer.Option(
        10, "--show-rated", min=0, help="How many of the user's own top-rated movies to "
        "show first (0: none)."),
    chunk_size: int = typer.Option(
        0, "--chunk-size", min=0, help="Users scored at once with --all-users "
        "(0: about 4 million scores per chunk)."),
    users_per_part: int = typer.Option(
        0, "--users-per-part", min=0, help="With --all-users: write --out as a folder of "
        "Parquet parts of this many users each, each part saved as soon as it is scored; "
        "rerun the same command to resume an interrupted export (0: one file)."),
    part_shard: str = typer.Option(
        "0/1", "--part-shard", help="With --users-per-part: I/N, this process writes parts "
        "I, I+N, ... (several processes or machines sharing one folder)."),
) -> None:
    """Top-K movies for a known user, every user, or a new user from a few ratings."""
    if fallback not in ("none", "popular"):
        raise MovierecError(f"--fallback must be 'none' or 'popular', not {fallback!r}")
    new_user = bool(rate) or ratings_of_new_user is not None
    modes = [name for name, on in (("--user", user is not None), ("--all-users", all_users),
                                   ("--rate/--ratings-of-new-user", new_user)) if on]
    if len(modes) != 1:
        raise MovierecError(
            "say whom to recommend for with exactly one of --user ID, --all-users, or "
            "--rate TITLE=RATING / --ratings-of-new-user FILE"
            + (f" (got {' and '.join(modes)})" if modes else "")
        )
    if out is not None and not all_users:
        raise MovierecError("--out is for --all-users; drop it or add --all-users")
    run_info, rec = _load(run)
    excluded = [rec.catalog.resolve(value) for value in exclude or []]
    context = {"run": str(run), "model": rec.model_name, "k": k}
    if _without_validation(run_info):
        context["validation"] = False
        typer.echo(f"note: {NO_VALIDATION}", err=True)
    if all_users:
        if users_per_part:
            _all_users_parts(rec, k, excluded, out, chunk_size or None, users_per_part,
                             part_shard, run, as_json, context)
        else:
            _all_users(rec, k, excluded, out, chunk_size or None, as_json, context)
    elif new_user:
        ratings = _new_user_ratings(rec, rate or [], ratings_of_new_user)
        _new_user(rec, ratings, k, excluded, as_json, context)
    elif user is not None:  # the one mode left (checked above)
        _known_user(rec, user, k, excluded, fallback, show_rated, as_json, context)


def print_user_recommendations(run_dir: Path, user: Any, k: int = 10) -> None:
    """The tutorial's last step: a user's own favourites, then the top K unseen movies."""
    _, rec = _load(run_dir)
    _known_user(rec, str(user), k, [], "none", 10, False,
                {"run": str(run_dir), "model": rec.model_name, "k": k})


def _known_user(rec, user: str, k: int, excluded: list, fallback: str, show_rated: int,
                as_json: bool, context: dict) -> None:
    console = wide_console()
    if not rec.knows_user(user):
        if fallback != "popular":
            try:
                rec.user_indices([user])
            except UnknownIdError as error:
                raise UnknownIdError(
                    f"{error}. Pass --fallback popular for the most popular well-rated "
                    "movies, or rate a few movies with --rate TITLE=RATING") from None
        _popular(rec, user, k, excluded, as_json, context,
                 reason=f"user {user} is unknown to this model")
        return
    user_id = rec.encoders.users.inverse(rec.user_indices([user]))[0]
    user_id = user_id.item() if isinstance(user_id, np.generic) else user_id
    n_rated = rec.n_train_ratings(user_id)
    if n_rated == 0 and fallback == "popular":
        _popular(rec, user_id, k, excluded, as_json, context,
                 reason=f"user {user_id} has no training ratings")
        return
    ids, predicted = rec.recommend([user_id], k, exclude=excluded)
    top = rec.user_top_rated(user_id, show_rated)
    value_key, value_label = _value_columns(rec)
    recs = _rows(rec, ids[0], {value_key: predicted[0]})
    warning = (f"user {user_id} has no training ratings, so the model never learned their "
               "taste; these come from an untrained vector (try --fallback popular)"
               if n_rated == 0 else None)
    if as_json:
        _print_json({**context, "user": user_id, "fallback": None, "warning": warning,
                     "score_kind": rec.score_kind,
                     "n_train_ratings": n_rated, "excluded": excluded,
                     "top_rated": _records(top), "recommendations": recs})
        return
    if show_rated and len(top):
        table = Table(title=f"User {user_id}'s highest-rated movies ({n_rated} rated)")
        for column in ("title", "genres", "rating"):
            table.add_column(column, justify="right" if column == "rating" else "left")
        for row in top.itertuples():
            table.add_row(row.title, _genres(row.genres), f"{row.rating:g}")
        console.print(table)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(_recommendation_table(
        recs, f"Top {k} for user {user_id} ({rec.model_name}, unrated movies only)",
        value_key, value_label))
    if not rec.predicts_ratings:
        console.print(RELATIVE_NOTE.format(model=rec.model_name), highlight=False)


RELATIVE_NOTE = ("{model} is a ranking model: its scores order the movies for you and are "
                 "not ratings (they compare only within this list).")


def _value_columns(rec) -> tuple[str, str]:
    """The JSON key and the column label of a recommendation's value: a predicted rating,
    or a ranking model's relative score (``rec.score_kind``)."""
    if rec.score_kind == "rating":
        return "predicted_rating", "predicted rating"
    return "score", "relative score"


def _popular(rec, user: Any, k: int, excluded: list, as_json: bool, context: dict,
             reason: str) -> None:
    from movierec.recommend.fallback import popular_fallback

    fallback = popular_fallback(rec, k, exclude=excluded, reason=reason)
    recs = _rows(rec, fallback.movie_ids, {"mean_rating": fallback.mean_ratings})
    for row, count in zip(recs, fallback.n_ratings, strict=False):
        row["n_ratings"] = int(count)
    note = fallback.note
    if as_json:
        _print_json({**context, "user": user, "fallback": "popular", "note": note,
                     "excluded": excluded, "recommendations": recs})
        return
    console = wide_console()
    console.print(f"[bold yellow]{note}[/]", highlight=False)
    console.print(_recommendation_table(recs, f"Popular fallback for user {user}",
                                        "mean_rating", "damped mean", extra="n_ratings"))


def _new_user_ratings(rec, rate: list[str], path: Path | None) -> dict[Any, float]:
    from movierec.recommend.new_user import new_user_ratings

    return new_user_ratings(rec.catalog, rate, path)


def _new_user(rec, ratings: dict[Any, float], k: int, excluded: list, as_json: bool,
              context: dict) -> None:
    ids, predicted = rec.recommend_new_user(ratings, k, exclude=excluded)
    value_key, value_label = _value_columns(rec)
    recs = _rows(rec, ids, {value_key: predicted})
    rated = rec.catalog.describe(list(ratings))
    rated["rating"] = list(ratings.values())
    method = rec.fold_in_method
    if as_json:
        _print_json({**context, "user": None, "new_user": True, "method": method,
                     "score_kind": rec.score_kind,
                     "excluded": excluded, "rated": _records(rated),
                     "recommendations": recs})
        return
    console = wide_console()
    table = Table(title=f"Your {len(ratings)} rating(s)")
    for column in ("movie_id", "title", "rating"):
        table.add_column(column, justify="right" if column != "title" else "left")
    for row in rated.itertuples():
        table.add_row(str(row.movie_id), row.title, f"{row.rating:g}")
    console.print(table)
    console.print(f"New user folded in by {method}; no retraining.", highlight=False)
    console.print(_recommendation_table(recs, f"Top {k} for you ({rec.model_name})",
                                        value_key, value_label))
    if not rec.predicts_ratings:
        console.print(RELATIVE_NOTE.format(model=rec.model_name), highlight=False)


def _all_users_parts(rec, k: int, excluded: list, out: Path | None, chunk_size: int | None,
                     users_per_part: int, part_shard: str, run: Path, as_json: bool,
                     context: dict) -> None:
    from movierec.recommend.export import export_parts

    if out is None:
        raise MovierecError("--users-per-part writes a folder of parts: add --out DIR")
    try:
        index, count = (int(v) for v in part_shard.split("/"))
    except ValueError:
        raise MovierecError(f"--part-shard takes I/N (e.g. 0/2), not {part_shard!r}") from None
    model_file = Path(run) / "model.keras"
    stat = model_file.stat()
    summary = export_parts(rec, out, k, users_per_part=users_per_part, exclude=excluded,
                           chunk_size=chunk_size, shard=(index, count),
                           fingerprint=f"{stat.st_size}:{stat.st_mtime_ns}")
    if as_json:
        _print_json({**context, "out": str(out), "parts": summary.parts,
                     "written": summary.written, "skipped": summary.skipped,
                     "rows": summary.rows, "complete": summary.complete,
                     "seconds": round(summary.seconds, 3)})
    else:
        state = "complete" if summary.complete else "incomplete (other shards' parts missing)"
        wide_console().print(
            f"Wrote {summary.written} of {summary.parts} parts ({summary.rows:,} rows; "
            f"{summary.skipped} already there) to {out} in {summary.seconds:.2f} s; "
            f"export {state}", highlight=False, soft_wrap=True)


def _all_users(rec, k: int, excluded: list, out: Path | None, chunk_size: int | None,
               as_json: bool, context: dict) -> None:
    from movierec.recommend.export import EXPORT_SUFFIXES, export_all_users

    if out is None:
        raise MovierecError("--all-users writes a file: add --out recs.parquet (or .csv)")
    if out.suffix.lower() not in EXPORT_SUFFIXES:
        raise MovierecError(f"--out must end in .parquet or .csv, not {out.name!r}")
    summary = export_all_users(rec, out, k, exclude=excluded, chunk_size=chunk_size)
    if as_json:
        _print_json({**context, "users": summary.users, "rows": summary.rows, "out": str(out),
                     "seconds": round(summary.seconds, 3)})
    else:
        wide_console().print(f"Wrote top {k} for {summary.users:,} users ({summary.rows:,} "
                             f"rows) to {out} in {summary.seconds:.2f} s", highlight=False,
                             soft_wrap=True)


# --------------------------------------------------------------------------------------------
# similar
# --------------------------------------------------------------------------------------------


def similar_command(
    run: Path = RunOption,
    movie: str | None = typer.Option(None, "--movie", "-m", help="A title (fuzzy) or id."),
    movie_id: str | None = typer.Option(None, "--movie-id", help="A movie id."),
    k: int = KOption,
    min_ratings: int = typer.Option(
        0, "--min-ratings", min=0, help="Only movies with at least this many training "
        "ratings, so that obscure movies do not dominate."),
    as_json: bool = JsonOption,
) -> None:
    """Movies whose learned embeddings are closest (cosine similarity) to one movie."""
    if (movie is None) == (movie_id is None):
        raise MovierecError("name the movie with exactly one of --movie TITLE or --movie-id ID")
    _, rec = _load(run)
    if movie_id is not None:  # an id only: never a title match
        index = rec.movie_indices([movie_id])
        target = rec.encoders.movies.inverse(index)[0]
        target = target.item() if isinstance(target, np.generic) else target
    else:
        target = rec.catalog.resolve(movie)
    ids, cosine = rec.similar_movies(target, k, min_ratings=min_ratings)
    recs = _rows(rec, ids, {"cosine": cosine})
    counts = rec.movie_counts[rec.movie_indices([row["movie_id"] for row in recs])]
    for row, count in zip(recs, counts, strict=True):
        row["n_ratings"] = int(count)
    target_row = _records(rec.catalog.describe([target]))[0]
    if as_json:
        _print_json({"run": str(run), "model": rec.model_name, "movie": target_row,
                     "min_ratings": min_ratings, "similar": recs})
        return
    wide_console().print(_recommendation_table(
        recs, f"Movies most similar to {target_row['title'] or target} ({rec.model_name} "
        "embeddings" + (f", >= {min_ratings} ratings" if min_ratings else "") + ")",
        "cosine", "cosine", extra="n_ratings"))


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def evaluate_command(
    run: Path = RunOption,
    k: int = KOption,
    threshold: float | None = typer.Option(
        None, "--threshold", help="A held-out movie is relevant when rated at least this "
        "(default 4.0 for holdout; leave-last counts every held-out movie)."),
    protocol: str = typer.Option(
        "holdout", "--protocol", help="holdout: every held-out rating of the run's split; "
        "leave-last: only each user's latest held-out rating."),
    dataset: DatasetOption = None,
    ratings: RatingsOption = None,
    movies: MoviesOption = None,
    data_dir: DataDirOption = None,
    seed: int = typer.Option(0, "--seed", help="Seed of the random baseline."),
    as_json: bool = JsonOption,
) -> None:
    """RMSE/MAE and top-K ranking quality on the run's held-out ratings, with baselines."""
    from movierec.evaluation import (
        baseline_ranking_reports,
        holdout_split,
        leave_last_of_split,
        ranking_report,
        run_dataset,
    )

    if protocol not in ("holdout", "leave-last"):
        raise MovierecError(f"--protocol must be 'holdout' or 'leave-last', not {protocol!r}")
    run_info, rec = _load(run)
    if _without_validation(run_info):
        raise MovierecError(f"nothing to evaluate: {NO_VALIDATION}. Evaluate the validated "
                            "run it was trained like (same settings, --test-size above 0)")
    data = run_dataset(run_info, dataset, ratings, movies, data_dir)
    split = holdout_split(run_info, data)
    if protocol == "leave-last":
        split = leave_last_of_split(split)
    relevance = threshold if threshold is not None else (4.0 if protocol == "holdout" else None)
    started = time.perf_counter()
    report = ranking_report(rec, split, k, relevance)
    seconds = time.perf_counter() - started
    baselines = baseline_ranking_reports(split, rec.encoders, k, relevance, seed=seed)
    result = {"run": str(run), "model": rec.model_name, "dataset": data.name,
              "protocol": protocol, "k": k, "threshold": relevance, "n_test": len(split.test),
              "seconds": round(seconds, 3), "metrics": report, "baselines": baselines}
    if as_json:
        _print_json(result)
        return
    console = wide_console()
    errors = ("ranking model: no rating predictions" if report["rmse"] is None
              else f"RMSE {report['rmse']:.4f}, MAE {report['mae']:.4f}")
    console.print(
        f"{rec.model_name} on {data.name}, {protocol} ({len(split.test):,} held-out ratings): "
        f"{errors}", highlight=False, soft_wrap=True)
    relevant = (f"rated >= {relevance:g}" if relevance is not None
                else "every held-out movie")
    table = Table(title=f"Top-{k} ranking ({relevant} is relevant; "
                  f"{int(report['users_evaluated']):,} users)")
    table.add_column("metric")
    for column in (rec.model_name, "popularity", "random"):
        table.add_column(column, justify="right")
    for key in report:
        if key in ("rmse", "mae", "users_evaluated", "users_without_relevant", "k"):
            continue
        table.add_row(key, *(_fmt(source.get(key)) for source in
                             (report, baselines["popularity"], baselines["random"])))
    console.print(table)


# --------------------------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------------------------


def _rows(rec, ids: np.ndarray, values: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One dict per recommended movie (padding left out): rank, id, title, year, genres."""
    keep = [i for i, value in enumerate(next(iter(values.values())))
            if not (isinstance(value, float | np.floating) and math.isnan(value))]
    described = _records(rec.catalog.describe([ids[i] for i in keep]))
    rows = []
    for rank, (i, row) in enumerate(zip(keep, described, strict=True), start=1):
        rows.append({"rank": rank, **row,
                     **{name: round(float(array[i]), 4) for name, array in values.items()}})
    return rows


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: numpy scalars as Python values, missing years as None."""
    return [{key: _plain(value) for key, value in row.items()}
            for row in frame.to_dict(orient="records")]


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, default=_plain, allow_nan=False))


def _genres(genres: str) -> str:
    return genres.replace("|", ", ") if genres else ""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}"


def _recommendation_table(rows: list[dict[str, Any]], title: str, value_key: str,
                          value_label: str, extra: str | None = None) -> Table:
    table = Table(title=title)
    columns = ["#", "movie_id", "title", "year", "genres", value_label]
    if extra:
        columns.append(extra.replace("_", " "))
    for column in columns:
        table.add_column(column, justify="left" if column in ("title", "genres") else "right")
    for row in rows:
        cells = [str(row["rank"]), str(row["movie_id"]), row["title"],
                 "" if row["year"] is None else str(row["year"]), _genres(row["genres"]),
                 f"{row[value_key]:.3f}"]
        if extra:
            cells.append(f"{row[extra]:,}")
        table.add_row(*cells)
    if not rows:
        table.caption = "nothing left to recommend"
    return table
