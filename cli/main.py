"""Entry point of the `revledger` console script."""

from __future__ import annotations

from cli.app import cli

__all__ = ["cli", "main"]
from cli.audit_commands import COMMANDS as AUDIT_COMMANDS
from cli.demo_commands import COMMANDS as DEMO_COMMANDS
from cli.forecast_commands import COMMANDS as FORECAST_COMMANDS
from cli.ledger_commands import COMMANDS
from cli.pipeline_commands import COMMANDS as PIPELINE_COMMANDS
from cli.record import record
from cli.revenue_commands import COMMANDS as REVENUE_COMMANDS

for _command in [
    *COMMANDS,
    record,
    *REVENUE_COMMANDS,
    *PIPELINE_COMMANDS,
    *FORECAST_COMMANDS,
    *AUDIT_COMMANDS,
    *DEMO_COMMANDS,
]:
    cli.add_command(_command)


def main() -> None:
    """Run the command line (exits with the documented exit code)."""
    cli.main(prog_name="revledger")


if __name__ == "__main__":
    main()
