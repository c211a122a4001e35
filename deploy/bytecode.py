"""Add bytecode to a Lambda zip: `python deploy/bytecode.py ZIP` (run by `make lambda-package`).

Why: Lambda unpacks the zip into a read-only /var/task, so Python can neither use ordinary
timestamp-checked caches (the zip's file times are not the build's) nor write its own: without
bytecode in the zip, every cold start compiles every module it imports. Unchecked-hash .pyc
files (PEP 552) are used as they are, with no look at the source, which is right for a zip
that is rebuilt whole on every change and never edited in place. They are compiled in a
scratch copy, never beside the working tree's sources, where such files would go stale.

The bytecode is for the interpreter that runs this script, so it must be the one of Lambda's
runtime, which zappa_settings.json names.
"""

from __future__ import annotations

import compileall
import json
import py_compile
import re
import sys
import tempfile
import zipfile
from pathlib import Path

SETTINGS = Path(__file__).resolve().parent.parent / "zappa_settings.json"


def lambda_python(settings: Path = SETTINGS) -> tuple[int, int]:
    """The (major, minor) of the runtime every stage deploys, e.g. (3, 13) for python3.13."""
    stages = json.loads(settings.read_text(encoding="utf-8"))
    runtimes = {stage["runtime"] for stage in stages.values() if "runtime" in stage}
    if len(runtimes) != 1:
        raise SystemExit(f"zappa_settings.json: expected one runtime, found {sorted(runtimes)}")
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtimes.pop())
    if match is None:
        raise SystemExit("zappa_settings.json: the runtime is not a pythonX.Y")
    return int(match[1]), int(match[2])


def add_bytecode(zip_path: Path) -> int:
    """Compile every module in the zip and add its .pyc; returns how many were added."""
    wanted = lambda_python()
    if sys.version_info[:2] != wanted:
        raise SystemExit(
            f"bytecode for python{wanted[0]}.{wanted[1]} needs that interpreter,"
            f" not {sys.version.split()[0]}"
        )
    with tempfile.TemporaryDirectory(prefix="lambda-bytecode-") as scratch:
        root = Path(scratch)
        with zipfile.ZipFile(zip_path) as archive:
            present = set(archive.namelist())
            archive.extractall(root)
        # A module that does not compile (some packages ship Python 2 examples) is left as
        # source: Python would fail on it just the same with or without bytecode.
        compileall.compile_dir(
            root,
            quiet=2,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        added = 0
        with zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED) as archive:
            for pyc in sorted(root.rglob("*.pyc")):
                name = pyc.relative_to(root).as_posix()
                if name in present:
                    continue
                info = zipfile.ZipInfo(name)
                info.create_system = 3  # Unix, so the mode below is honoured
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, pyc.read_bytes())
                added += 1
    return added


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python deploy/bytecode.py ZIP")
    zip_path = Path(args[0])
    added = add_bytecode(zip_path)
    size = zip_path.stat().st_size / 1024 / 1024
    print(f"Bytecode added: {added} modules, {zip_path} now {size:.1f}MiB")


if __name__ == "__main__":
    main()
