"""Shared fixtures. Tests that need the public data read it from BIONER_DATA_MIRROR."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The offline data mirror (a folder laid out like the project's data README)."""
    mirror = os.environ.get("BIONER_DATA_MIRROR")
    if not mirror:
        pytest.skip("BIONER_DATA_MIRROR is not set: no local copy of the public data")
    path = Path(mirror)
    if not (path / "cdr").is_dir():
        pytest.fail(f"BIONER_DATA_MIRROR={mirror} does not look like the data mirror (no cdr/)")
    return path


@pytest.fixture
def only_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a connection to anything but 127.0.0.1; ignore proxy settings."""
    import socket

    real_connect = socket.socket.connect

    def connect(self, address):  # noqa: ANN001
        host = address[0] if isinstance(address, tuple) else address
        if host != "127.0.0.1":
            raise AssertionError(f"a test tried to connect to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module's training tests (modules opt in with ``pytestmark``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
