"""The service installed as its users install it, then used over HTTP.

Each test makes a fresh virtual environment holding nothing but what the install path puts
there, from the files git tracks (a clean checkout), and runs the README's sports session
against `kvstore serve` started from that environment:

- the wheel, built from the checkout and `pip install`ed with its declared dependencies;
- the container image's steps: the Dockerfile's own COPY and RUN lines (read from it, so they
  cannot drift) done in a folder and a virtual environment, then its CMD and HEALTHCHECK.
  There is no Docker engine here; the image's Python is the interpreter running the tests.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import free_port, kvstore_server
from tests.readme import sports_session

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]

REPO = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT_S = 600


def checkout(into: Path) -> Path:
    """The files git tracks, as a fresh clone has them (with this tree's uncommitted edits)."""
    names = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, names):
        source = REPO / name.decode()
        if source.is_file():
            target = into / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def fresh_venv(path: Path) -> Path:
    """An empty virtual environment of the base interpreter; returns its bin/."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin"


def pip_env(bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KVSTORE_", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
    )
    assert done.returncode == 0, f"{shlex.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def assert_sports_session(base_url: str) -> None:
    printed, expected = sports_session(base_url.removeprefix("http://"))
    assert printed == expected


def test_the_wheel_with_its_declared_dependencies_serves_the_readme_session(
    tmp_path: Path,
) -> None:
    source = checkout(tmp_path / "src")
    bin_dir = fresh_venv(tmp_path / "venv")
    env = pip_env(bin_dir)
    run(["pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), "."], source, env)
    (wheel,) = (tmp_path / "dist").glob("kvstore-*.whl")
    run(["pip", "install", str(wheel)], tmp_path, env)
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    serve = [str(bin_dir / "kvstore"), "serve", "--port", str(port)]
    with kvstore_server({"PATH": env["PATH"]}, cwd=data, command=(serve, port)) as (base, _):
        assert_sports_session(base)
        for path in ("/ui", "/ui/app.js", "/ui/ui.css"):  # the page's files are package data
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert response.status == 200, path
    assert (data / "data" / "kvstore.sqlite3").is_file(), "SQLite is the default datastore"


@dataclass
class Image:
    """What the Dockerfile's instructions amount to, read from the file."""

    base: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = text.replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def read_dockerfile(path: Path) -> Image:
    image: Image | None = None
    for word, rest in instructions(path.read_text(encoding="utf-8")):
        if word == "FROM":
            image = Image(base=rest)
            continue
        assert image is not None, "an instruction before FROM"
        if word == "ENV":
            image.env.update(dict(part.split("=", 1) for part in shlex.split(rest)))
        elif word == "WORKDIR":
            image.workdir = rest
        elif word == "COPY":
            *sources, target = shlex.split(rest)
            image.copies.append((sources, target))
        elif word == "RUN":
            image.runs.append(rest)
        elif word == "HEALTHCHECK":
            image.healthcheck = json.loads(rest[rest.index("CMD") + 3 :])
        elif word == "CMD":
            image.cmd = json.loads(rest)
        else:
            assert word in {"USER", "EXPOSE"}, f"{word}: teach this test what it does"
    assert image is not None
    return image


def in_image(app: Path, workdir: str, target: str) -> Path:
    """Where an image path lands in the folder that stands for the image's WORKDIR."""
    return app / Path(workdir, target).relative_to(workdir)


def test_the_dockerfiles_steps_serve_the_readme_session(tmp_path: Path) -> None:
    image = read_dockerfile(REPO / "Dockerfile")
    version = image.base.removeprefix("python:").split("-")[0]
    assert version in {"3.11", "3.12", "3.13"}, image.base
    source = checkout(tmp_path / "src")
    app = tmp_path / "app"
    app.mkdir()
    for sources, target in image.copies:
        destination = in_image(app, image.workdir, target)
        for name in sources:
            copied = source / name
            if copied.is_dir():  # `COPY kvstore ./kvstore`: the folder's contents into target
                shutil.copytree(copied, destination, dirs_exist_ok=True)
            else:
                into = destination / copied.name if target.endswith("/") else destination
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(copied, into)

    bin_dir = fresh_venv(tmp_path / "venv")
    # The image's user is made by `useradd`; here the server runs as whoever runs the tests.
    shims = tmp_path / "shims"
    shims.mkdir()
    useradd = shims / "useradd"
    useradd.write_text("#!/bin/sh\nexit 0\n")
    useradd.chmod(useradd.stat().st_mode | stat.S_IEXEC)
    env = {**pip_env(bin_dir), **image.env}
    env["PATH"] = f"{bin_dir}{os.pathsep}{shims}{os.pathsep}{os.environ.get('PATH', '')}"
    for step in image.runs:
        run(["sh", "-c", step], app, env)

    # The CMD, on loopback and a free port rather than all interfaces and $PORT.
    port = free_port()
    cmd = [str(bin_dir / image.cmd[0]), *image.cmd[1:]]
    assert cmd[-2:] == ["--host", "0.0.0.0"]
    cmd[-1] = "127.0.0.1"
    server_env = {"PATH": env["PATH"], **image.env, "PORT": str(port)}
    with kvstore_server(server_env, cwd=app, command=(cmd, port)) as (base, _):
        health = subprocess.run(
            [str(bin_dir / image.healthcheck[0]), *image.healthcheck[1:]],
            env={**env, "PORT": str(port)},
            timeout=30,
            check=False,
        )
        assert health.returncode == 0, "the HEALTHCHECK fails on a ready server"
        assert_sports_session(base)
