"""``movierec retrain``: a run trained again on every rating in a ratings store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.commands_store import StoreOption
from movierec.cli.options import DataDirOption


def register(app: typer.Typer) -> None:
    app.command("retrain")(retrain_command)


def retrain_command(
    run: Annotated[Path, typer.Option("--run", "-r", help="The run to retrain (its model "
                                      "and settings).")],
    store: StoreOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to save the new run; may be "
                                      "--run itself (replaced atomically).")],
    preset: Annotated[str | None, typer.Option(help="Train with this preset's settings for "
                                               "the run's model instead of the run's.")] = None,
    if_changed: Annotated[bool, typer.Option("--if-changed", help="Exit without training "
                                             "when nothing was written to the store since "
                                             "the run.")] = False,
    keep_if_worse: Annotated[bool, typer.Option("--keep-if-worse", help="Save the new run "
                                                "only if it is not worse than the old on the "
                                                "same held-out ratings.")] = False,
    data_dir: DataDirOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Retrain a run on every rating in a store: the imported ones and those users posted.

    The new run records the store's sequence number; `--if-changed` then skips a retrain
    when nothing was written since. Reload a running service with `POST /admin/reload` or
    `kill -HUP`.
    """
    from movierec.retrain import retrain
    from movierec.store import open_store

    with open_store(store) as opened:
        result = retrain(run, opened, out, preset=preset, if_changed=if_changed,
                         keep_if_worse=keep_if_worse, data_dir=data_dir,
                         verbose=0 if quiet else None)
    typer.echo(result.message)
