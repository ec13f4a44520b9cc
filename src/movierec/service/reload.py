"""Swapping a new run into a running service: ``POST /admin/reload`` and ``SIGHUP``.

:class:`Reloader` loads the service's ``--run`` directory again in a worker thread, warms it
there (off the request path), and swaps it in with one assignment of ``app.state.service``.
A request reads that attribute once, when it starts, so requests in flight finish on the
model they started with and no request waits for the swap.

A run that does not load (damaged, incomplete), or one that is not a successor of the
serving run (another dataset, id type or rating scale: the request schemas and the ratings
store are the serving run's), leaves the old run serving; the reload answers why and the
log says so. The ratings store is the app's (``app.state.store``), not the run's, so users'
stored ratings fold in on the new model at once: nothing is replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from time import perf_counter
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from movierec.errors import MovierecError
from movierec.service.state import ServiceState, load

__all__ = ["ReloadError", "Reloader"]

log = logging.getLogger("uvicorn.error")  # where `serve` prints its log


class ReloadError(MovierecError):
    """The run could not be swapped in; the previous one keeps serving."""


class Reloader:
    """Reloads ``run_dir`` into ``app`` (one reload at a time)."""

    def __init__(self, app: FastAPI, run_dir: Path | None, *, warm: bool = True,
                 inline_ms: float = 1.0) -> None:
        self.app = app
        self.run_dir = run_dir
        self.warm = warm
        self.inline_ms = inline_ms
        self._lock = asyncio.Lock()

    async def reload(self) -> dict[str, Any]:
        """Load, warm and swap in the run directory again.

        Returns ``run_id``, ``previous_run_id``, ``run_store_seq`` and ``seconds`` (from the
        request to the new run serving).

        Raises:
            ReloadError: the run did not load or does not fit; the old one still serves.
        """
        if self.run_dir is None:
            raise ReloadError("this service serves a recommender built in memory: it has no "
                              "run directory to reload")
        metrics = self.app.state.metrics
        async with self._lock:
            started = perf_counter()
            old: ServiceState = self.app.state.service
            try:
                new = await anyio.to_thread.run_sync(self._build, old)
            except Exception as error:  # any failure keeps the old run: say why
                metrics.reloads.labels("failed").inc()
                reason = str(error) if isinstance(error, MovierecError) else repr(error)
                message = (f"the run in {self.run_dir} was not swapped in: {reason}. Still "
                           f"serving run {old.run_id}")
                log.error("reload failed: %s", message)
                raise ReloadError(message) from error
            self.app.state.service = new
            seconds = perf_counter() - started
            metrics.reloads.labels("ok").inc()
            metrics.serving(new)
            log.info("reloaded %s: run %s replaces %s (%.2f s)", self.run_dir, new.run_id,
                     old.run_id, seconds)
            return {"run_id": new.run_id, "previous_run_id": old.run_id,
                    "run_store_seq": new.store_seq, "seconds": round(seconds, 3)}

    async def reload_logged(self) -> None:
        """:meth:`reload`, for a signal handler: failures are logged, not raised."""
        with contextlib.suppress(ReloadError):  # already logged
            await self.reload()

    def _build(self, old: ServiceState) -> ServiceState:
        assert self.run_dir is not None
        new = load(self.run_dir)
        problems = []
        if new.dataset != old.dataset:
            problems.append(f"it was trained on {new.dataset}, the serving run on "
                            f"{old.dataset}")
        if new.users.kind != old.users.kind:
            problems.append(f"its ids are {new.users.kind}s, the serving run's "
                            f"{old.users.kind}s")
        if (new.low, new.high) != (old.low, old.high):
            problems.append(f"its rating scale is {new.low:g}-{new.high:g}, the serving "
                            f"run's {old.low:g}-{old.high:g}")
        if problems:
            raise MovierecError("it is not a successor of the serving run: "
                                + "; ".join(problems) + ". Restart serve to change runs")
        if self.warm:
            new.scoring_seconds = new.warm()
            new.decide_inline(self.inline_ms)
        return new
