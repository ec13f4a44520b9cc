"""Who may write: one bearer token for every endpoint that changes something.

Reads stay open; writes (posting or deleting ratings, reloading the model) need
``Authorization: Bearer TOKEN``. The token comes from ``MOVIEREC_API_TOKEN`` or from a file
(``serve --token-file``, first line, surrounding whitespace stripped). It is compared in
constant time (:func:`hmac.compare_digest`) and never logged or echoed in an error.

A service that can write (it has a ratings store) refuses to listen on an address other
than loopback without a token (:func:`check_exposure`): anyone who can reach the port could
otherwise write.

Example:
    >>> from fastapi import Depends, FastAPI
    >>> app = FastAPI()
    >>> app.state.token = WriteToken("s3cret")
    >>> @app.post("/things", dependencies=[Depends(require_token)])
    ... async def add_thing() -> dict: return {}
"""

import hmac
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from fastapi import HTTPException, Request

from movierec.errors import MovierecError

__all__ = [
    "TOKEN_ENV", "UNAUTHORIZED_RESPONSE", "WriteToken", "check_exposure", "is_loopback",
    "read_token", "require_token",
]

TOKEN_ENV = "MOVIEREC_API_TOKEN"
"""The environment variable that holds the write token."""

UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, str]] = {
    401: {"description": "A missing or wrong `Authorization: Bearer TOKEN` header; nothing "
                         "was changed."},
}
"""The OpenAPI ``responses`` entry for an endpoint that needs the token."""


class WriteToken:
    """The service's write token, or its absence (``None``: every write is refused).

    The value is kept out of ``repr`` and ``str``, so that it cannot reach a log line.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value.encode() if value else None

    @property
    def configured(self) -> bool:
        """Whether a token is set (without one, no write is accepted)."""
        return self._value is not None

    def matches(self, offered: str | None) -> bool:
        """Whether ``offered`` is the token, compared in constant time."""
        if self._value is None or offered is None:
            return False
        return hmac.compare_digest(self._value, offered.encode())

    def __repr__(self) -> str:
        return f"WriteToken({'set' if self.configured else 'unset'})"

    __str__ = __repr__


def read_token(token_file: Path | None = None,
               environ: Mapping[str, str] | None = None) -> WriteToken:
    """The write token from ``token_file`` if given, else from ``MOVIEREC_API_TOKEN``.

    Raises:
        MovierecError: the file cannot be read or holds no token (the message names the
            file, never its content).
    """
    if token_file is not None:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise MovierecError(f"cannot read the token file {token_file}: "
                                f"{getattr(error, 'strerror', None) or error}; give a "
                                "readable UTF-8 file whose first line is the token") from error
        lines = text.strip().splitlines()
        value = lines[0].strip() if lines else ""
        if not value:
            raise MovierecError(f"the token file {token_file} is empty; write the token on "
                                "its first line")
        return WriteToken(value)
    env = os.environ if environ is None else environ
    value = env.get(TOKEN_ENV, "").strip()
    return WriteToken(value or None)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: WriteToken, *, writable: bool) -> None:
    """Refuse to serve writes on a non-loopback ``host`` without a token.

    Raises:
        MovierecError: ``writable`` and ``host`` is not loopback and no token is set.
    """
    if writable and not token.configured and not is_loopback(host):
        raise MovierecError(
            f"refusing to serve a writable store on {host} without a write token: anyone who "
            f"can reach the port could write; set {TOKEN_ENV} or pass --token-file, or listen "
            "on 127.0.0.1"
        )


async def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the app's bearer token.

    The app's token is ``request.app.state.token`` (a :class:`WriteToken`); an app without
    one refuses every write.
    """
    token: WriteToken = getattr(request.app.state, "token", None) or WriteToken(None)
    header = request.headers.get("authorization", "")
    scheme, _, offered = header.partition(" ")
    if scheme.lower() != "bearer" or not token.matches(offered.strip() or None):
        detail = ("this endpoint needs the write token: send 'Authorization: Bearer TOKEN'"
                  if token.configured else
                  f"writes are disabled: the service was started without a token (set "
                  f"{TOKEN_ENV} or pass --token-file)")
        raise HTTPException(status_code=401, detail=detail,
                            headers={"WWW-Authenticate": "Bearer"})
