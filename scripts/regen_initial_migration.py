"""Regenerate migration 0001 (the initial schema) from the models.

Only while p2plend has no released schema: the first session's domains land in parallel
and share one initial migration. Once a release exists, every change is a new migration.
Later migrations (0002 …) are hand-written and kept.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent.parent / "src" / "p2plend" / "migrations" / "versions"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kept = Path(tmp) / "kept"
        kept.mkdir()
        for path in VERSIONS.glob("*.py"):
            if path.name.startswith("0001_"):
                path.unlink()
            else:
                shutil.move(str(path), kept / path.name)
        url = f"sqlite:///{tmp}/empty.db"
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "alembic",
                    "-x",
                    "regen=1",
                    "revision",
                    "--autogenerate",
                    "--rev-id",
                    "0001",
                    "-m",
                    "initial schema",
                ],
                check=True,
                env={**__import__("os").environ, "P2PLEND_DATABASE_URL": url},
            )
        finally:
            for path in kept.iterdir():
                shutil.move(str(path), VERSIONS / path.name)
    subprocess.run([sys.executable, "-m", "ruff", "format", str(VERSIONS)], check=True)
    subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--quiet", str(VERSIONS)], check=False)


if __name__ == "__main__":
    main()
