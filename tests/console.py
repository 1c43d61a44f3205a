"""The ``p2plend`` command as tests call it: on the test's database, with real exit codes."""

from typer.testing import CliRunner

from p2plend.cli import app

runner = CliRunner()


class Run:
    def __call__(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output
