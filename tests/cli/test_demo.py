"""`kvstore demo`: the same demo as `python -m kvstore.demo`, reached through the CLI."""

from __future__ import annotations

import re

import pytest

from kvstore.app import create_app
from kvstore.cli import main
from kvstore.datastores.memory import MemoryDatastore
from kvstore.settings import Settings
from tests.live_server import serve, socket_without_listener


@pytest.mark.parametrize(
    ("flags", "header"),
    [([], "kvstore demo against"), (["--asyncio"], "kvstore demo (asyncio) against")],
    ids=["threads", "asyncio"],
)
def test_demo_command_runs_against_a_url(
    flags: list[str], header: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The server runs in this process: keep its access log off the demo's stdout.
    quiet = Settings(datastore="memory", log_level="WARNING")
    app = create_app(quiet, datastore=MemoryDatastore())
    with serve(app) as url:
        assert main(["demo", "--url", url, "--timeout", "5", *flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{header} {url}\n")
    assert "\nsimultaneous: 4 reads at once, compiled\n" in out
    assert re.search(r"^chained +1\+3 ", out, re.MULTILINE)


def test_demo_command_unreachable_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket_without_listener() as port:
        assert main(["demo", "--url", f"http://127.0.0.1:{port}"]) == 1
    assert "Connection refused" in capsys.readouterr().err


def test_demo_command_is_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "demo" in capsys.readouterr().out


def test_demo_command_offers_asyncio(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--asyncio" in capsys.readouterr().out
