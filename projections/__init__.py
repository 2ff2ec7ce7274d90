"""Pure replays of the event log (ARR/CARR, movements, NRR/GRR, cohorts, stages, forecast)."""
