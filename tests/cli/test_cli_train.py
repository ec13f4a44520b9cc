"""``movierec train``, ``compare`` and ``demo`` end to end, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import png_size
from typer.testing import CliRunner

import movierec.comparison as comparison_module
from movierec.cli import app, main
from movierec.cli.commands_train import DEMO_RANKERS
from movierec.comparison import PAPER_EASE_ROW
from movierec.errors import MovierecError
from movierec.models import model_names


def test_train_writes_a_run_and_reports_metrics(ratings_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--ratings", str(ratings_file), "--model", "dot",
                                      "--epochs", "2", "--batch-size", "32", "--factors", "4",
                                      "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "validation RMSE" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2
    # The first epoch's compilation and the steady speed after it, apart, as printed.
    history = json.loads((out / "history.json").read_text())
    steady = history[1]["fit_seconds"]
    assert metrics["steady_ratings_per_second"] == pytest.approx(metrics["n_train"] / steady)
    assert metrics["compile_seconds"] == pytest.approx(history[0]["fit_seconds"] - steady)
    assert metrics["steady_ratings_per_second"] > metrics["ratings_per_second"]
    printed = " ".join(result.output.split())
    assert f"compile {metrics['compile_seconds']:.2f} s" in printed
    assert f"then {metrics['steady_ratings_per_second']:,.0f} ratings/s" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["split_seed"] == 42 and config["data"]["test_size"] == 0.1


def test_compare_writes_json_and_figures(ratings_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", "--ratings", str(ratings_file), "--models",
                                      "dot-bias,baselines", "--epochs", "1", "--out", str(out),
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    comparison = json.loads((out / "comparison.json").read_text())
    names = [row["name"] for row in comparison["models"]]
    assert names == ["dot-bias", "global-mean", "bias-baseline", "popularity", "random"]
    # plots.DPI 120: 8 x 5 inches, and 8 inches x (0.5 per bar + 1.5)
    assert png_size(out / "validation_curves.png") == (960, 600)
    bars = sum(row.get("rmse") is not None for row in comparison["models"])
    assert bars >= 3 and png_size(out / "rmse.png") == (960, int(120 * (0.5 * bars + 1.5)))
    assert (out / "dot-bias" / "model.keras").exists()
    assert comparison["models"][0]["run_dir"] == str(out / "dot-bias")  # not a temporary path


def test_a_model_failing_part_way_leaves_the_previous_comparison(
        ratings_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """compare writes its folder as one: dot trains and is saved, then dot-bias fails, and
    the previous comparison is still there, whole, with no partial folder beside it."""
    out = tmp_path / "cmp"
    args = ["compare", "--ratings", str(ratings_file), "--epochs", "1", "--out", str(out),
            "--quiet", "--models"]
    assert CliRunner().invoke(app, [*args, "dot"]).exit_code == 0
    before = (out / "comparison.json").read_text()
    dot_run = (out / "dot").stat().st_ino
    fit = comparison_module._fit_keras

    def fit_then_fail(name, *rest):
        if name == "dot-bias":
            raise MovierecError("dot-bias failed on purpose")
        return fit(name, *rest)

    monkeypatch.setattr(comparison_module, "_fit_keras", fit_then_fail)
    with pytest.raises(SystemExit) as exit_:
        main([*args, "dot,dot-bias"])
    assert exit_.value.code == 2 and "failed on purpose" in capsys.readouterr().err
    assert (out / "comparison.json").read_text() == before
    assert (out / "dot").stat().st_ino == dot_run  # the earlier run, not the new dot run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp", "ratings.csv"]


def test_unknown_model_is_a_clear_error(ratings_file: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--ratings", str(ratings_file), "--models", "dot,svd"])
    assert exit_.value.code == 2
    assert "unknown model 'svd'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.realdata
def test_tutorial_v2_reaches_the_tutorials_accuracy(real_data_dir: Path, tmp_path: Path) -> None:
    """V2 with the tutorial's settings: the tutorial reports RMSE ~0.87; require <= 0.90."""
    out = tmp_path / "v2"
    result = CliRunner().invoke(app, ["train", "--data-dir", str(real_data_dir), "--model",
                                      "dot-bias", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 90752 and metrics["n_validation"] == 10084
    assert metrics["rmse"] <= 0.90


@pytest.mark.slow
@pytest.mark.realdata
def test_demo_runs_the_whole_tutorial(real_data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(real_data_dir), "--epochs", "1",
                                      "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    for expected in ("Sum of ratings: top 15 users x top 15 movies", "Rating prediction",
                     "Top-10 ranking", "Top 10 unseen movies for user",
                     "4. Beyond the tutorial: models that rank", "from the best ranker",
                     "relative score"):
        assert expected in result.output
    step4 = result.output.split("4. Beyond the tutorial")[1]
    for name in ("popularity", "dot-bias", PAPER_EASE_ROW, *DEMO_RANKERS):
        assert name in step4
    # each ranker printed as it finishes; the slow autoencoders only with --all-rankers
    assert all(f"  {name}: NDCG@10" in step4 for name in (*DEMO_RANKERS, PAPER_EASE_ROW))
    assert "mult-dae, mult-vae: with --all-rankers" in " ".join(step4.split())
    assert "mult-dae" not in step4.split("Top-10 ranking")[1]
    kept = sorted(p.name for p in (tmp_path / "demo" / "ranking").iterdir())
    assert kept == sorted(DEMO_RANKERS)  # the paper's EASE is scored, not saved
    assert f"{tmp_path / 'demo'}/ranking/<model>" in " ".join(result.output.split())
    # best NDCG@10 first: the rank preset's ease above the paper's EASE, above popularity
    rows = [line.split("│")[1].strip() for line in step4.splitlines()
            if line.startswith("│") and "│" in line[1:]]
    assert rows.index("ease") < rows.index(PAPER_EASE_ROW) < rows.index("popularity")


def test_a_ranking_model_trains_evaluates_and_recommends(ratings_file: Path,
                                                        tmp_path: Path) -> None:
    """ease predicts no rating: every command says so instead of printing an RMSE."""
    out = tmp_path / "ease"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--ratings", str(ratings_file), "--model", "ease",
                                 "--lam", "20", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "ranking model: no rating predictions" in result.output
    assert "validation NDCG@10" in result.output and "RMSE" not in result.output
    assert "rmse" not in json.loads((out / "metrics.json").read_text())
    assert json.loads((out / "config.json").read_text())["train"]["lam"] == 20.0
    evaluated = runner.invoke(app, ["evaluate", "--run", str(out), "--ratings",
                                    str(ratings_file), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    assert report["metrics"]["rmse"] is None
    assert report["metrics"]["ndcg@10"] > report["baselines"]["popularity"]["ndcg@10"]
    recommended = runner.invoke(app, ["recommend", "--run", str(out), "--user", "1"])
    assert recommended.exit_code == 0, recommended.output
    assert "relative score" in recommended.output and "not ratings" in recommended.output
    assert "predicted rating" not in recommended.output
    new_user = runner.invoke(app, ["recommend", "--run", str(out), "--rate", "2=5", "--rate",
                                   "4=4.5", "--json"])
    assert new_user.exit_code == 0, (new_user.output, new_user.exception)
    body = json.loads(new_user.output)
    assert body["score_kind"] == "relative" and "weighted history" in body["method"]
    recs = body["recommendations"]
    assert recs and all("score" in row and "predicted_rating" not in row for row in recs)
    assert not {2, 4} & {row["movie_id"] for row in recs}
    known = json.loads(runner.invoke(app, ["recommend", "--run", str(out), "--user", "1",
                                           "--json"]).output)
    assert known["score_kind"] == "relative"
    shown = runner.invoke(app, ["recommend", "--run", str(out), "--rate", "2=5"])
    assert shown.exit_code == 0 and "relative score" in shown.output
    similar = runner.invoke(app, ["similar", "--run", str(out), "--movie-id", "2", "--json"])
    assert similar.exit_code == 0, (similar.output, similar.exception)
    compared = runner.invoke(app, ["compare", "--ratings", str(ratings_file), "--models",
                                   "ease,dot-bias", "--epochs", "1", "--out",
                                   str(tmp_path / "cmp"), "--quiet"])
    assert compared.exit_code == 0, compared.output
    rows = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["models"]
    assert rows[0]["name"] == "ease" and rows[0]["rmse"] is None and rows[0]["ranking"]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "options", "setting"), [
    ("ials", ["--factors", "8", "--reg", "10", "--alpha", "4", "--epochs", "5"], ("reg", 10.0)),
    ("mult-dae", ["--factors", "16", "--epochs", "10", "--batch-size", "16",
                  "--learning-rate", "0.01", "--dropout", "0.3"], ("dropout", 0.3)),
    ("mult-vae", ["--factors", "16", "--epochs", "10", "--batch-size", "16",
                  "--learning-rate", "0.01"], ("learning_rate", 0.01)),
])
def test_the_other_ranking_models_train_evaluate_and_recommend(
        ratings_file: Path, tmp_path: Path, model: str, options: list[str],
        setting: tuple[str, float]) -> None:
    out = tmp_path / model
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--ratings", str(ratings_file), "--model", model,
                                 *options, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "ranking model: no rating predictions" in result.output
    assert json.loads((out / "config.json").read_text())["train"][setting[0]] == setting[1]
    evaluated = runner.invoke(app, ["evaluate", "--run", str(out), "--ratings",
                                    str(ratings_file), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    assert report["metrics"]["rmse"] is None
    assert report["metrics"]["ndcg@10"] > report["baselines"]["popularity"]["ndcg@10"]
    recommended = runner.invoke(app, ["recommend", "--run", str(out), "--user", "1"])
    assert recommended.exit_code == 0, recommended.output
    # A new user who loved three even movies: the model's own fold-in, relative scores.
    new_user = runner.invoke(app, ["recommend", "--run", str(out), "--rate", "2=5",
                                   "--rate", "4=5", "--rate", "6=4.5", "--json"])
    assert new_user.exit_code == 0, new_user.output
    answer = json.loads(new_user.output)
    # The model's own rule, in words: an iALS solve, or the autoencoder's encoder.
    assert ("iALS solve" if model == "ials" else "encoder") in answer["method"]
    top = answer["recommendations"][:3]
    assert all("score" in row and "predicted_rating" not in row for row in top)
    assert all(int(row["movie_id"]) % 2 == 0 for row in top), top
    # Side by side with a rating model (whose validation curve is the only one drawn).
    compared = runner.invoke(app, ["compare", "--ratings", str(ratings_file), "--models",
                                   f"{model},dot-bias", "--epochs", "2", "--out",
                                   str(tmp_path / "cmp"), "--quiet"])
    assert compared.exit_code == 0, compared.output
    rows = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["models"]
    assert rows[0]["name"] == model and rows[0]["rmse"] is None and rows[0]["ranking"]


def test_ease_lowpass_options_reach_the_saved_model(ratings_file: Path, tmp_path: Path,
                                                    capsys) -> None:
    from movierec.runs import load_run

    out = tmp_path / "lowpass"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--ratings", str(ratings_file), "--model", "ease",
                                 "--lam", "20", "--lowpass-weight", "0.3",
                                 "--lowpass-factors", "4", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["lowpass_weight"], train["lowpass_factors"]) == (0.3, 4)
    model = load_run(out).model
    assert (model.lowpass_weight, model.lowpass_factors) == (0.3, 4)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--ratings", str(ratings_file), "--model", "ease", "--lowpass-weight",
              "-1", "--out", str(tmp_path / "bad")])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and "lowpass-weight must not be negative" in error
    assert "Traceback" not in error and not (tmp_path / "bad").exists()


def test_ease_user_weight_on_data_without_users_is_a_clear_error(ratings_file: Path,
                                                                 tmp_path: Path, capsys) -> None:
    """A ratings file describes no users: --user-weight says so, and writes no run."""
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--ratings", str(ratings_file), "--model", "ease", "--user-weight",
              "0.5", "--out", str(tmp_path / "users")])
    error = capsys.readouterr().err
    assert exit_.value.code != 0 and "needs the users' age, gender and occupation" in error
    assert "set user_weight to 0" in error
    assert "Traceback" not in error and not (tmp_path / "users").exists()


def test_preset_rank_on_train_and_compare(ratings_file: Path, tmp_path: Path) -> None:
    """--preset rank trains a ranking model with its validated settings ("small": a user's
    file); compare gives each model its own settings from the preset."""
    runner = CliRunner()
    out = tmp_path / "rank"
    result = runner.invoke(app, ["train", "--ratings", str(ratings_file), "--preset", "rank",
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    train = json.loads((out / "config.json").read_text())["train"]
    assert train["model"] in model_names(group="ranking")
    assert (train["lam"], train["negative_weight"], train["popularity_exponent"],
            train["side_weight"]) == (200.0, 0.3, 0.2, 1.5)
    kept = runner.invoke(app, ["train", "--ratings", str(ratings_file), "--preset", "rank",
                               "--lam", "20", "--out", str(tmp_path / "lam"), "--quiet"])
    assert kept.exit_code == 0, kept.output
    assert json.loads((tmp_path / "lam" / "config.json").read_text())["train"]["lam"] == 20.0
    compared = runner.invoke(app, ["compare", "--ratings", str(ratings_file), "--preset",
                                   "rank", "--models", "ease,dot-bias,popularity", "--out",
                                   str(tmp_path / "cmp"), "--quiet"])
    assert compared.exit_code == 0, (compared.output, compared.exception)
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert saved["preset"] == "rank"
    assert saved["train_by_model"]["ease"]["lam"] == 200.0
    assert saved["train_by_model"]["dot-bias"]["optimizer"] == "sparse-adagrad"


def test_explicit_ials_settings_win_over_preset_rank(ratings_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ials"
    result = CliRunner().invoke(app, ["train", "--ratings", str(ratings_file), "--preset",
                                      "rank", "--model", "ials", "--reg", "7", "--epochs",
                                      "2", "--factors", "4", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, (result.output, result.exception)
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["model"], train["reg"], train["epochs"], train["factors"]) == \
        ("ials", 7.0, 2, 4)
    assert train["alpha"] == 8.0  # the preset's, as it was not given
