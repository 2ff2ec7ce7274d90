"""Entry point of the `revledger` console script."""

from __future__ import annotations

from cli.app import cli
from ledger.gc_pause import one_shot_process

__all__ = ["cli", "main"]
# Each command's module, imported when the command runs (see `RevledgerGroup.add_lazy`).
COMMAND_MODULES = {
    **dict.fromkeys(["init", "import", "export", "log", "verify"], "cli.ledger_commands"),
    "record": "cli.record",
    **dict.fromkeys(["arr", "movements", "nrr", "cohorts", "rebuild"], "cli.revenue_commands"),
    **dict.fromkeys(
        [
            "stages",
            "aging",
            "regressions",
            "conversion",
            "win-rate",
            "velocity",
            "coverage",
            "health",
        ],
        "cli.pipeline_commands",
    ),
    **dict.fromkeys(["forecast", "forecast-diff"], "cli.forecast_commands"),
    **dict.fromkeys(["restatements", "history"], "cli.audit_commands"),
    "demo": "cli.demo_commands",
    "report": "cli.report_command",
}
cli.add_lazy(COMMAND_MODULES)


def main() -> None:
    """Run the command line (exits with the documented exit code)."""
    one_shot_process()
    cli.main(prog_name="revledger")


if __name__ == "__main__":  # `python -m cli.main`, as the console script runs it once loaded
    from cli.entry import handle_sigterm

    handle_sigterm()
    main()
