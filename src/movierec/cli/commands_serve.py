"""``movierec serve``: the HTTP service and web page over one trained run."""

from __future__ import annotations

import errno
import signal
import socket
from pathlib import Path

import typer
from rich.console import Console

from movierec.cli.commands_recommend import NO_VALIDATION
from movierec.errors import MovierecError

console = Console(stderr=True)

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    run: Path = typer.Option(..., "--run", "-r", help="Run directory from `movierec train`."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (default: this machine "
                             "only; 0.0.0.0 exposes the service to the network)."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on (0: any free)."),
    max_body_kib: int = typer.Option(64, min=1, help="Largest request body accepted, in KiB."),
    log_level: str = typer.Option("info", help="uvicorn log level: critical, error, warning, "
                                  "info or debug."),
    threads: int = typer.Option(40, min=1, help="Requests scored at once (worker threads)."),
    blas_threads: int = typer.Option(1, min=1, help="Threads of numpy's BLAS per scoring "
                                     "call; requests already score in parallel, so 1 avoids "
                                     "oversubscribing the cores."),
    inline_ms: float = typer.Option(1.0, min=0.0, help="Score on the event loop the kinds "
                                    "of request that score faster than this many ms at start "
                                    "(cheaper than a worker thread); 0: always in worker "
                                    "threads."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File whose first line "
                                           "is the bearer token that writes need (default: "
                                           "the MOVIEREC_API_TOKEN environment variable)."),
    store: str | None = typer.Option(None, "--store", "-s", help="A ratings store (SQLite "
                                     "file or postgresql:// URL, made with `movierec store "
                                     "init`): users' ratings are kept and change their lists "
                                     "at once. Writes need the token."),
) -> None:
    """Serve recommendations over HTTP (JSON API at /docs) with a web page at /.

    The run loads once at start; one that does not load stops with a message. With
    --store, a service on an address other than loopback needs a token.
    """
    import uvicorn

    if log_level.lower() not in _LOG_LEVELS:
        raise MovierecError(f"unknown log level {log_level!r}; choose one of: "
                            f"{', '.join(_LOG_LEVELS)}")

    from movierec.service.app import create_app, limit_blas_threads
    from movierec.service.auth import check_exposure, read_token
    from movierec.store import open_store

    token = read_token(token_file)
    check_exposure(host, token, writable=store is not None)
    limit_blas_threads(blas_threads)
    ratings_store = open_store(store) if store is not None else None
    if ratings_store is not None and hasattr(signal, "SIGXFSZ"):
        # Past a file-size limit (ulimit -f) a write must fail (EFBIG: the store answers
        # 503), not kill the service with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sock = _bind(host, port)  # fail early and clearly if the address is taken
    try:
        console.print(f"Loading {run} ...", highlight=False)
        service = create_app(run, max_body_bytes=max_body_kib * 1024,
                             worker_threads=threads, inline_ms=inline_ms, token=token,
                             store=ratings_store)
        state = service.state.service
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        timings = ", ".join(f"{kind.replace('_', ' ')} {seconds * 1000:.2f}"
                            for kind, seconds in state.scoring_seconds.items())
        console.print(
            f"Serving {state.model_name} on {state.dataset} at "
            f"http://{shown}:{bound_port}/ (API docs at /docs); Ctrl+C stops.\n"
            f"Scoring ms: {timings}; under {inline_ms:g} ms on the event loop, the rest in "
            "worker threads.", highlight=False,
        )
        if ratings_store is not None:
            console.print(f"Ratings store: {ratings_store.location} "
                          f"({ratings_store.count():,} ratings); writes "
                          f"{'need the token' if token.configured else 'are refused: no token'}"
                          ".", highlight=False)
        if state.info is not None and not state.info.validated:
            console.print(f"note: {NO_VALIDATION}", highlight=False)
        config = uvicorn.Config(service, log_level=log_level.lower(), access_log=False,
                                timeout_graceful_shutdown=5)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if ratings_store is not None:
            ratings_store.close()


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a MovierecError that says what to do."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise MovierecError(f"cannot listen on host {host!r}: {error.strerror}") from error
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise MovierecError(
                f"port {port} on {host} is already in use; pass another with --port"
            ) from error
        raise MovierecError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    sock.set_inheritable(True)
    return sock
