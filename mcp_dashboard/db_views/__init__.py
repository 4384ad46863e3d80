"""Read-only views of the service database for the live tables and monitor mode.

`base` (the snapshot, the shared SQL and cell formats, one poll at a time),
`sqlite` and `postgres` (each engine's change signal and faults), `factory`
(`open_view`: which one reads a URL) and `run_metrics` (a finished run's tool calls),
both of which ask `engines` which engine a URL names. Layered in that order: see the
import contract in pyproject.toml.
"""
