"""The shared corpus of bad inputs (tests/bad_inputs.py) through every command that reads
user input: a clear message naming the file (and line and column) with exit code 2, never a
traceback, never a half-written output; degenerate but readable data works where it can."""

from __future__ import annotations

import contextlib
import resource
import shutil
from pathlib import Path

import pytest
from bad_inputs import CORPUS, GOOD, BadInput, compressed_good_files, damaged_runs
from helpers import train_tiny_run

from movierec.cli import main

# command name -> argv, given the bad file, a good run and an output folder
FILE_COMMANDS = {
    "explore": lambda f, run, out: ["explore", "--ratings", f],
    "data info": lambda f, run, out: ["data", "info", "--ratings", f],
    "train": lambda f, run, out: ["train", "--ratings", f, "--epochs", "1", "--factors", "4",
                                  "--quiet", "--out", out],
    "compare": lambda f, run, out: ["compare", "--ratings", f, "--models", "bias-baseline",
                                    "--quiet", "--out", out],
    "evaluate": lambda f, run, out: ["evaluate", "--run", run, "--ratings", f],
    "recommend": lambda f, run, out: ["recommend", "--run", run, "--ratings-of-new-user", f],
}
RUN_COMMANDS = {
    "recommend": lambda run: ["recommend", "--run", run, "--user", "1"],
    "recommend --rate": lambda run: ["recommend", "--run", run, "--rate", "1=5"],
    "similar": lambda run: ["similar", "--run", run, "--movie-id", "1"],
    "evaluate": lambda run: ["evaluate", "--run", run],
    "serve": lambda run: ["serve", "--run", run, "--port", "0"],
}
READERS_ONLY = {"explore", "data info"}  # commands that only describe the data


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("bad-inputs") / "run")


def _run(capsys, argv: list) -> tuple[int, str]:
    """Exit code and everything printed; any exception other than SystemExit (a traceback
    for the user) fails the test by propagating."""
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output and "RuntimeWarning" not in output, output
    return code, output


def _assert_no_output_written(out: Path) -> None:
    assert not out.exists(), f"{out} was written after an error"
    strays = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert not strays, f"temporary folders left: {strays}"


def _expected_success(case: BadInput, command: str) -> bool | None:
    """True: must succeed; False: must fail clearly; None: either, if a failure is clear."""
    if command == "recommend" and case.column in ("user", "timestamp"):
        return True  # a new user's file has no user column and needs no timestamps
    if not case.readable:
        return False
    if command in READERS_ONLY:
        return True
    if command == "train":
        return case.trainable
    return None


@pytest.mark.parametrize("command", list(FILE_COMMANDS))
@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_every_command_handles_every_bad_file(case: BadInput, command: str, good_run: Path,
                                              tmp_path: Path, capsys) -> None:
    path = case.write(tmp_path)
    out = tmp_path / "out"
    code, output = _run(capsys, FILE_COMMANDS[command](path, good_run, out))
    expected = _expected_success(case, command)
    if expected is True:
        assert code == 0, output
        return
    if expected is None and code == 0:
        return
    assert code == 2, output
    message = " ".join(output.lower().split())
    assert path.name.lower() in message, output
    if command == "recommend" and case.column == "(header)":
        assert "needs columns movie and rating" in message, output
    elif command != "evaluate" or not case.readable:  # evaluate: the run's data mismatch
        for word in case.expect:
            assert word in message, output
    if case.line:
        assert case.line in message, output
    if case.column and case.column != "(header)":
        assert f"'{case.column}'" in message, output
    if command in ("train", "compare"):
        _assert_no_output_written(out)


@pytest.mark.parametrize("name", list(compressed_good_files()))
def test_compressed_and_parquet_files_are_read_by_content(name: str, tmp_path: Path,
                                                          capsys) -> None:
    path = tmp_path / name
    path.write_bytes(compressed_good_files()[name])
    code, output = _run(capsys, ["data", "info", "--ratings", path])
    assert code == 0, output
    assert "ratings:      30" in output, output


def test_train_reads_a_gzipped_csv(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ratings.csv.gz"
    path.write_bytes(compressed_good_files()["ratings.csv.gz"])
    code, output = _run(capsys, ["train", "--ratings", path, "--epochs", "1", "--factors",
                                 "4", "--quiet", "--out", tmp_path / "run"])
    assert code == 0, output
    assert (tmp_path / "run" / "model.keras").is_file()
    assert GOOD.count("\n") - 1 == 30


@pytest.mark.parametrize("command", list(RUN_COMMANDS))
@pytest.mark.parametrize("case", damaged_runs(), ids=[case[0] for case in damaged_runs()])
def test_every_run_command_handles_every_damaged_run(case, command: str, good_run: Path,
                                                     tmp_path: Path, capsys) -> None:
    name, file, damage = case
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    damage(run)
    code, output = _run(capsys, RUN_COMMANDS[command](run))
    message = " ".join(output.split())
    assert code == 2, output
    assert "File not found" not in message, output
    if file == "newer":
        assert "run format 99" in message and "Upgrade movierec" in message, output
        return
    assert file in message, output
    if file == "config.json" and "missing" in name:
        assert "not a training run" in message, output
    else:
        assert "retrain" in message, output
    if file == "model.keras" and "missing" not in name:
        assert "damaged" in message, output


def test_a_run_without_damage_passes_the_same_commands(good_run: Path, capsys) -> None:
    """The control: the corpus fails because of the damage, not the commands."""
    for command in ("recommend", "recommend --rate", "similar"):
        code, output = _run(capsys, RUN_COMMANDS[command](good_run))
        assert code == 0, output


@pytest.mark.parametrize(("rate", "expected"), [
    ("Toy Story", "TITLE=RATING"),
    ("=5", "TITLE=RATING"),
    ("1=great", "must be a number"),
    ("1=nan", "must be a number such as 4"),
    ("1=inf", "must be a number such as 4"),
    ("1=1e308", "must be a number such as 4"),
    ("Zzyzx Qwerty=4", "closest"),
])
def test_bad_rate_values_are_clear_errors(rate: str, expected: str, good_run: Path,
                                          capsys) -> None:
    code, output = _run(capsys, ["recommend", "--run", good_run, "--rate", rate])
    assert code == 2, output
    assert expected in " ".join(output.split()), output


@pytest.mark.parametrize("case", [c for c in CORPUS if not c.readable],
                         ids=[c.name for c in CORPUS if not c.readable])
def test_a_bad_movies_file_is_named_too(case: BadInput, tmp_path: Path, capsys) -> None:
    ratings = tmp_path / "good.csv"
    ratings.write_text(GOOD)
    movies = _write_as(case, tmp_path, "titles")
    code, output = _run(capsys, ["explore", "--ratings", ratings, "--movies", movies])
    assert code == 2, output
    assert movies.name in " ".join(output.split()), output


def _write_as(case: BadInput, folder: Path, stem: str) -> Path:
    """``case``'s bytes under another name (same suffixes), e.g. titles.csv.gz."""
    suffixes = "".join(Path(case.filename).suffixes)
    path = folder / f"{stem}{suffixes}"
    path.write_bytes(case.content)
    return path


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """As ``ulimit -f``, in this process: a file written past ``limit`` bytes fails with
    EFBIG, as on a full disk (Python ignores SIGXFSZ). The hard limit stays, so the soft
    one is restored."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("command", ["explore --plot", "recommend --all-users"])
def test_a_full_disk_is_a_clear_error_and_keeps_the_previous_output(
        command: str, good_run: Path, tmp_path: Path, capsys) -> None:
    ratings = tmp_path / "good.csv"
    ratings.write_text(GOOD)
    out = tmp_path / ("summary.png" if command == "explore --plot" else "recs.csv")
    out.write_bytes(b"the previous output")
    argv = (["explore", "--ratings", ratings, "--plot", out] if command == "explore --plot"
            else ["recommend", "--run", good_run, "--all-users", "--out", out])
    with _file_size_limit(4_000):
        code, output = _run(capsys, argv)
    message = " ".join(output.split())
    assert code == 2, output
    assert f"cannot write {out}: File too large" in message, output
    assert "previous" in message and "unchanged" in message, output
    assert out.read_bytes() == b"the previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["good.csv", out.name])
