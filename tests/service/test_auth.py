"""The write token: where it comes from, how it is checked, and when serving is refused."""

from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from movierec.errors import MovierecError
from movierec.service.auth import (
    TOKEN_ENV,
    WriteToken,
    check_exposure,
    is_loopback,
    read_token,
    require_token,
)


def _app(token: WriteToken) -> TestClient:
    app = FastAPI()
    app.state.token = token
    written: list[int] = []

    @app.post("/write", dependencies=[Depends(require_token)])
    async def write() -> dict:
        written.append(1)
        return {"written": len(written)}

    client = TestClient(app)
    client.written = written  # type: ignore[attr-defined]
    return client


def test_the_right_token_writes_and_others_get_401_with_nothing_done() -> None:
    client = _app(WriteToken("s3cret"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                    {"Authorization": "Basic s3cret"}, {"Authorization": "Bearer "}):
        response = client.post("/write", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "s3cret" not in response.text
    assert client.written == []  # type: ignore[attr-defined]
    response = client.post("/write", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200
    assert client.written == [1]  # type: ignore[attr-defined]


def test_without_a_token_every_write_is_refused_and_says_how_to_enable_writes() -> None:
    client = _app(WriteToken(None))
    response = client.post("/write", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 401
    assert TOKEN_ENV in response.json()["detail"]
    assert client.written == []  # type: ignore[attr-defined]


def test_the_token_never_shows_in_its_repr() -> None:
    token = WriteToken("s3cret")
    assert "s3cret" not in repr(token) and "s3cret" not in str(token)
    assert token.matches("s3cret") and not token.matches("s3cre") and not token.matches(None)


def test_read_token_prefers_the_file_then_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  from-file  \nignored\n")
    assert read_token(path, {TOKEN_ENV: "from-env"}).matches("from-file")
    assert read_token(None, {TOKEN_ENV: " from-env "}).matches("from-env")
    assert not read_token(None, {}).configured
    assert not read_token(None, {TOKEN_ENV: "  "}).configured


def test_a_missing_or_empty_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MovierecError, match="cannot read the token file"):
        read_token(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.write_text("\n  \n")
    with pytest.raises(MovierecError, match="is empty"):
        read_token(empty)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.9", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.0.2.1", False),
    ("example.org", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_writable_service_on_the_network_needs_a_token() -> None:
    with pytest.raises(MovierecError, match="without a write token"):
        check_exposure("0.0.0.0", WriteToken(None), writable=True)
    check_exposure("0.0.0.0", WriteToken("t"), writable=True)
    check_exposure("127.0.0.1", WriteToken(None), writable=True)
    check_exposure("0.0.0.0", WriteToken(None), writable=False)
