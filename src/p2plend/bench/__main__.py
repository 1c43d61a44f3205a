"""``python -m p2plend.bench …`` is ``p2plend bench …``."""

from p2plend.bench.commands import app

if __name__ == "__main__":
    app(prog_name="python -m p2plend.bench")
