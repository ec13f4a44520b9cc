"""``movierec train``, ``movierec compare`` and ``movierec demo``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from movierec.cli.options import (
    DataDirOption,
    DatasetOption,
    ItemColOption,
    MoviesOption,
    RatingColOption,
    RatingsOption,
    TimestampColOption,
    UserColOption,
    load_data,
    wide_console,
)
from movierec.data import Dataset
from movierec.errors import MovierecError
from movierec.models import MODEL_NAMES, model_names
from movierec.training import EncodedSplit, TrainConfig, TrainMetrics
from movierec.training.config import EASE_WEIGHTS_PER_COLUMN

console = wide_console()

TUTORIAL_MODELS = model_names(group="tutorial")
MODEL_HELP = (f"{', '.join(TUTORIAL_MODELS)} (the tutorial's); "
              f"{', '.join(n for n in MODEL_NAMES if n not in TUTORIAL_MODELS)} "
              "(blend: with --preset best).")
PRESET_HELP = ("Start from a named preset's settings for this dataset: fast (large-batch sparse "
               "training), best (most accurate ratings) or rank (a ranking model for top-10 "
               "lists); see movierec.presets. Options given "
               "explicitly still win.")
DEMO_RANKERS = ("ease", "ials")
"""The ranking models the demo's step 4 trains by default: a closed form and a few
sweeps, seconds each (the autoencoders take about a minute more; ``--all-rankers``)."""
# CLI parameter -> TrainConfig field, for options a preset must not override when given.
_CONFIG_OPTIONS = ("model", "epochs", "batch_size", "learning_rate", "factors", "l2", "seed",
                   "early_stopping", "lam", "negative_weight", "popularity_exponent",
                   "lowpass_weight", "lowpass_factors", "side_weight", "user_weight",
                   "weights_per_column", "reg", "alpha", "dropout")


def _explicit(ctx: typer.Context) -> set[str]:
    """The TrainConfig options the user typed (not left at their defaults)."""
    sources = {name: ctx.get_parameter_source(name) for name in _CONFIG_OPTIONS}
    return {name for name, source in sources.items()
            if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")}


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("compare")(compare_command)
    app.command("demo")(demo_command)


def _verbosity(quiet: bool) -> int | None:
    return 0 if quiet else None


def train_command(
    ctx: typer.Context,
    model: str = typer.Option("dot-bias", "--model", "-m", help=MODEL_HELP),
    dataset: DatasetOption = None,
    ratings: RatingsOption = None,
    movies: MoviesOption = None,
    data_dir: DataDirOption = None,
    user_col: UserColOption = "user",
    item_col: ItemColOption = "item",
    rating_col: RatingColOption = "rating",
    timestamp_col: TimestampColOption = "timestamp",
    epochs: int = typer.Option(5, help="Passes over the training data."),
    batch_size: int = typer.Option(64, help="Ratings per gradient step (tutorial: 64)."),
    learning_rate: float = typer.Option(1e-3, help="Adam learning rate (tutorial: 1e-3)."),
    factors: int = typer.Option(50, help="Embedding size (tutorial: 50)."),
    l2: float = typer.Option(1e-6, help="L2 penalty on the embeddings (tutorial: 1e-6)."),
    seed: int = typer.Option(42, help="Seed for weights and shuffling."),
    split_seed: int = typer.Option(42, help="Seed of the random 90/10 split (tutorial: 42)."),
    test_size: float = typer.Option(
        0.1, help="Fraction of ratings held out for validation; 0 trains on every rating "
        "with no validation (to ship, with --epochs taken from a validated run)."),
    early_stopping: int = typer.Option(
        0, help="Stop after N epochs without a better validation RMSE, keeping the best "
        "weights (0: off; needs a --test-size above 0)."),
    lam: float = typer.Option(100.0, help="ease: L2 penalty of its closed form "
                              "(latest-small's validation choice)."),
    negative_weight: float = typer.Option(
        0.3, help="ease, ials, mult-dae: input weight of a movie rated below 4 (liked ones "
        "weigh 1)."),
    popularity_exponent: float = typer.Option(
        0.2, help="ease: divide each movie's column by (its ratings + 1) ** this."),
    lowpass_weight: float = typer.Option(
        0.0, help="ease: weight of a low-pass term (GF-CF's ideal low-pass filter) beside "
        "EASE's item-item weights, relative to them (0: none; --preset rank sets 0.25 on "
        "100k)."),
    lowpass_factors: int = typer.Option(
        32, help="ease: singular vectors the low-pass term keeps."),
    side_weight: float = typer.Option(
        0.0, help="ease: weight of the movies' genres, release periods and tags (where the "
        "data has them) as extra rows of its input (0: none)."),
    user_weight: float = typer.Option(
        0.0, help="ease: weight of the users' age band, gender and occupation (100k has them) "
        "as extra columns of its input (0: none; --preset rank sets 0.6 on 100k)."),
    weights_per_column: int = typer.Option(
        EASE_WEIGHTS_PER_COLUMN, help="ease: keep this many weights of largest magnitude in "
        "each column of its item-item matrix, stored sparse (0: keep it dense; the default "
        "was chosen on validation splits: a run a fraction of the dense size, NDCG@10 within "
        "0.002)."),
    reg: float = typer.Option(50.0, help="ials: L2 penalty of its least-squares solves "
                              "(--epochs counts its sweeps; latest-small's validation "
                              "choice: 50 with --alpha 8 and 8 sweeps)."),
    alpha: float = typer.Option(8.0, help="ials: confidence scale (a liked movie weighs "
                                "1 + alpha, an unrated one 1)."),
    dropout: float = typer.Option(0.5, help="mult-dae: dropout rate on each user's row."),
    out: Path = typer.Option(None, help="Run directory to write (default runs/<model>)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    preset: str = typer.Option(None, "--preset", help=PRESET_HELP),
    keep_optimizer: bool = typer.Option(
        False, "--keep-optimizer", help="mult-dae, mult-vae: also save the optimizer's "
        "state, to resume training from the run (serving does not need it; it doubles the "
        "run's size)."),
    distribution: str = typer.Option(
        "none", help="none (one device); data (keras.distribution.DataParallel: the model "
        "replicated on every device, each batch split over them); model (ModelParallel: the "
        "user and movie tables sharded by rows over the devices). --batch-size must divide "
        "by the device count. See README 'Training on several devices or machines'."),
    coordinator: str = typer.Option(
        None, help="HOST:PORT of process 0 in a multi-process job (keras.distribution."
        "initialize; default: $KERAS_DISTRIBUTION_JOB_ADDRESSES)."),
    num_processes: int = typer.Option(
        None, help="Processes in the job, one per host or per device group "
        "(default: $KERAS_DISTRIBUTION_NUM_PROCESSES)."),
    process_id: int = typer.Option(
        None, help="This process's id, 0 .. N-1; process 0 writes the run directory "
        "(default: $KERAS_DISTRIBUTION_PROCESS_ID)."),
) -> None:
    """Train one model and save a run directory (model, encoders, history, metrics, plot)."""
    from movierec.runs import process_shard, total_ratings, train_and_save
    from movierec.training.distribute import (
        initialize_processes,
        multi_process_requested,
        process_count,
        process_index,
    )

    if multi_process_requested(coordinator, num_processes):
        # before anything touches a JAX device: it fixes the device list
        initialize_processes(coordinator, num_processes, process_id)
        if distribution == "none":
            distribution = "data"
    config = TrainConfig(
        model=model, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        factors=factors, l2=l2, seed=seed, early_stopping=early_stopping or None,
        lam=lam, negative_weight=negative_weight, popularity_exponent=popularity_exponent,
        lowpass_weight=lowpass_weight, lowpass_factors=lowpass_factors,
        side_weight=side_weight, user_weight=user_weight,
        weights_per_column=weights_per_column, reg=reg, alpha=alpha, dropout=dropout,
        distribution=distribution,
    )
    shard = process_shard(dataset, data_dir, test_size=test_size, split_seed=split_seed) \
        if ratings is None else None
    data, encoded = shard if shard is not None else (
        load_data(dataset, ratings, movies, data_dir, user_col, item_col, rating_col,
                  timestamp_col), None)
    if preset:
        from movierec.presets import resolve_preset

        config = resolve_preset(preset, data.name, base=config, keep=_explicit(ctx),
                                n_ratings=total_ratings(data, encoded))
        model = config.model
        config = replace(config, distribution=distribution)
    if test_size == 0 and config.early_stopping:
        raise MovierecError(
            "--early-stopping needs validation ratings to monitor, and --test-size 0 holds "
            "none out; drop --early-stopping and pass --epochs (e.g. the best epoch of a "
            "validated run)")
    result, run_dir = train_and_save(config, data, out or Path("runs") / model,
                                     encoded=encoded, test_size=test_size,
                                     split_seed=split_seed, data_dir=data_dir,
                                     verbose=_verbosity(quiet),
                                     keep_optimizer=keep_optimizer)
    if run_dir is None:  # process 0 writes the run; the others hold the same weights
        console.print(f"{model}: process {process_index()} of {process_count()} done; "
                      "process 0 writes the run", highlight=False)
        return
    console.print(f"{model}: {_summary(result.train_metrics)}; saved to {run_dir}",
                  highlight=False, soft_wrap=True)


def _summary(m: TrainMetrics) -> str:
    """Validation figures and cost; a blend trains its members, not epochs of its own."""
    if m.ranking_model:
        quality = (f"validation NDCG@10 {m.val_ndcg_at_10:.4f}, recall@10 "
                   f"{m.val_recall_at_10 or 0.0:.4f}" if m.val_ndcg_at_10 is not None
                   else "no validation ranking")
        return (f"ranking model: no rating predictions; {quality}; solved in "
                f"{m.train_seconds:.1f} s, peak {m.peak_rss_mib:,.0f} MiB")
    if not m.validation:
        scores = (f"no validation metrics (trained on all {m.n_train:,} ratings, nothing "
                  "held out)")
    else:
        scores = f"validation RMSE {m.rmse:.4f}, MAE {m.mae:.4f}"
    if m.member_epochs is not None:
        return f"{scores}; {len(m.member_epochs)} members trained in {m.train_seconds:.1f} s"
    if m.best_epoch is not None and m.best_epoch_rmse is not None:
        scores += f" (best epoch {m.best_epoch}: RMSE {m.best_epoch_rmse:.4f})"
    return f"{scores}; {_speed(m)}"


def _speed(m: TrainMetrics) -> str:
    """The first epoch's compile time and the steady speed after it, apart (averaged
    together, a short run's compilation swamps its speed)."""
    if m.steady_ratings_per_second is None or m.compile_seconds is None:
        return (f"{m.seconds_per_epoch or 0.0:.2f} s/epoch, {m.ratings_per_second or 0.0:,.0f} "
                "ratings/s (one epoch: its compilation included)")
    calls, two = m.extra.get("kernel_calls"), m.extra.get("kernel_calls_on_two_threads")
    threads = (f"; the fused kernel ran {two} of its {calls} calls on two threads"
               if calls else "")
    return (f"compile {m.compile_seconds:.2f} s (the first epoch's overhead), then "
            f"{m.steady_ratings_per_second:,.0f} ratings/s ({m.seconds_per_epoch or 0.0:.2f} "
            f"s/epoch with validation{threads})")


def compare_command(
    ctx: typer.Context,
    dataset: DatasetOption = None,
    ratings: RatingsOption = None,
    movies: MoviesOption = None,
    data_dir: DataDirOption = None,
    user_col: UserColOption = "user",
    item_col: ItemColOption = "item",
    rating_col: RatingColOption = "rating",
    timestamp_col: TimestampColOption = "timestamp",
    models: str = typer.Option(
        ",".join([*TUTORIAL_MODELS, "baselines"]),
        help="Comma-separated models; 'baselines' adds global-mean and bias-baseline."),
    epochs: int = typer.Option(5, help="Epochs for every Keras model."),
    batch_size: int = typer.Option(64, help="Batch size for every Keras model."),
    learning_rate: float = typer.Option(1e-3, help="Adam learning rate."),
    seed: int = typer.Option(42, help="Seed for weights and shuffling."),
    split_seed: int = typer.Option(42, help="Seed of the random 90/10 split."),
    out: Path = typer.Option(Path("runs/compare"), help="Folder for runs, JSON and figures."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch output."),
    preset: str = typer.Option(None, "--preset", help=PRESET_HELP),
) -> None:
    """Train several models on the same split and print a comparison table."""
    data = load_data(dataset, ratings, movies, data_dir, user_col, item_col, rating_col,
                     timestamp_col)
    names = [name.strip() for name in models.split(",") if name.strip()]
    base = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                       seed=seed)
    configs = None
    if preset:
        from movierec.comparison import expand_model_names
        from movierec.presets import resolve_preset

        configs = {name: resolve_preset(preset, data.name, model=name, base=base,
                                        keep=_explicit(ctx), n_ratings=data.n_ratings)
                   for name in expand_model_names(names) if name in MODEL_NAMES}
    run_comparison(data, names, base, split_seed=split_seed, out=out, quiet=quiet,
                   configs=configs, preset=preset)


def run_comparison(dataset: Dataset, names: list[str], base: TrainConfig, *, split_seed: int,
                   out: Path, quiet: bool, configs: dict | None = None,
                   preset: str | None = None) -> list:
    """Compare ``names`` on the tutorial's split of ``dataset``; print and save the results."""
    from movierec.comparison import compare_and_save, comparison_tables

    encoded = EncodedSplit.random(dataset, 0.1, split_seed)
    context = {"dataset": dataset.name, "split": encoded.split.name, "train": base.to_dict()}
    if preset:
        context.update(preset=preset,
                       train_by_model={k: c.to_dict() for k, c in (configs or {}).items()})
    rows = compare_and_save(
        dataset, encoded, names, base, out, context, verbose=_verbosity(quiet),
        on_row=lambda row: console.print(_progress_line(row), highlight=False),
        configs=configs,
    )
    for table in comparison_tables(rows, title=f"on {dataset.name} ({encoded.split.name} "
                                   "split, validation part)"):
        console.print(table)
    console.print(f"Saved comparison.json, validation_curves.png and rmse.png in {out}")
    return rows


def _progress_line(row) -> str:
    ndcg = row.ranking.get("ndcg@10")
    parts = [f"RMSE {row.rmse:.4f} in {row.train_seconds:.1f} s" if row.rmse is not None
             else None, f"NDCG@10 {ndcg:.4f}" if ndcg is not None else None]
    if row.rmse is None and ndcg is not None and row.train_seconds:  # a ranker's cost
        parts[1] = f"NDCG@10 {ndcg:.4f} in {row.train_seconds:.1f} s"
    return f"  {row.name}: " + ", ".join(part for part in parts if part)


def demo_command(
    ctx: typer.Context,
    dataset: DatasetOption = None,
    data_dir: DataDirOption = None,
    epochs: int = typer.Option(
        5, help="Epochs for the tutorial's models (tutorial: 5); given explicitly, it also "
        "caps the ranking models' epochs in step 4 (otherwise --preset rank's)."),
    out: Path = typer.Option(Path("runs/demo"), help="Folder for runs and figures."),
    seed: int = typer.Option(42, help="Seed for weights, shuffling and the demo user."),
    all_rankers: bool = typer.Option(
        False, "--all-rankers", help="Step 4: also train the autoencoders (mult-dae, "
        "mult-vae), about a minute more on 2 cores; by default the quick rankers "
        f"({', '.join(DEMO_RANKERS)})."),
) -> None:
    """The whole tutorial in one go on a MovieLens release: explore, compare, recommend;
    then the ranking models (--preset rank) against popularity and the rating models, and
    the best ranker's top 10."""
    import numpy as np

    from movierec.cli.commands_recommend import print_user_recommendations
    from movierec.explore import render_summary, summarize

    data = load_data(dataset, None, None, data_dir)
    console.rule("[bold]1. The data")
    render_summary(summarize(data, top=15), console)
    console.rule("[bold]2. Training and comparing the tutorial's models")
    rows = run_comparison(data, [*TUTORIAL_MODELS, "baselines"],
                          TrainConfig(epochs=epochs, seed=seed), split_seed=42, out=out,
                          quiet=True)
    console.print(f"Loss curves: {out}/<model>/loss.png; validation curves: "
                  f"{out}/validation_curves.png", highlight=False, soft_wrap=True)
    best = min((row for row in rows if row.ranking and row.run_dir and row.rmse is not None),
               key=lambda row: row.rmse)
    user = np.random.default_rng(seed).choice(np.sort(data.ratings["user_id"].unique()))
    console.rule(f"[bold]3. Top 10 unseen movies for user {user} from the best model, "
                 f"{best.name}")
    print_user_recommendations(Path(best.run_dir), user.item(), k=10)
    ranker = _demo_rankers(data, rows, out / "ranking", user.item(),
                           max_epochs=epochs if "epochs" in _explicit(ctx) else None,
                           models=None if all_rankers else DEMO_RANKERS)
    console.rule("[bold]Runs kept")
    console.print(f"Step 2's models: {out}/<model> (recommend with `movierec recommend --run "
                  f"{out}/{best.name} --user {user}`); step 4's rankers: {out}/ranking/<model>"
                  + (f" (the best, {ranker}: `movierec serve --run {out}/ranking/{ranker}`)"
                     if ranker else ""), highlight=False, soft_wrap=True)


def _demo_rankers(data: Dataset, rows: list, out: Path, user, max_epochs: int | None = None,
                  models: tuple[str, ...] | None = None) -> str | None:
    """The demo's step 4: the ranking models (``--preset rank``; ``models`` only, when
    given) against popularity, the paper's EASE (scored, not saved) and the rating models of
    step 2, each printed as it finishes, then the best ranker's top 10 for the same user.
    Returns the best ranker's name (None when none can recommend)."""
    from movierec.cli.commands_recommend import print_user_recommendations
    from movierec.comparison import best_ranker, compare_rankers, comparison_tables

    console.rule("[bold]4. Beyond the tutorial: models that rank, against popularity, the "
                 "paper's EASE and the rating models")
    shown = [name for name in model_names(group="ranking")
             if models is None or name in models]
    left = [name for name in model_names(group="ranking") if name not in shown]
    console.print(f"Training {', '.join(shown)} with --preset rank, then scoring the paper's "
                  "EASE (not saved)" + (f"; {', '.join(left)}: with --all-rankers" if left
                                        else ""), highlight=False, soft_wrap=True)
    ranked, skipped = compare_rankers(
        data, EncodedSplit.random(data, 0.1, 42), rows, out=out, verbose=0,
        max_epochs=max_epochs, reference=True, models=models,
        on_row=lambda row: console.print(_progress_line(row), highlight=False))
    for name, reason in skipped.items():
        console.print(f"[yellow]{name} left out:[/] {reason}", highlight=False)
    console.print(comparison_tables(ranked, title=f"on {data.name}")[1])
    best = best_ranker(ranked)
    if best is None or best.run_dir is None:
        return None
    console.rule(f"[bold]Top 10 unseen movies for user {user} from the best ranker, "
                 f"{best.name} (NDCG@10 {best.ranking['ndcg@10']:.3f})")
    print_user_recommendations(Path(best.run_dir), user, k=10)
    return best.name
