"""Run a pytest suite and watch it live: event stream, run state, headless and Textual front ends.

Modules, one idea each: `events` (the schema), `pytest_plugin` (writes it),
`runner` (starts pytest, yields events), `state` (the pure reducer), `history`
(past runs), `headless` (the `--ci` printer), `cli` (the `mcp-dashboard` command).
"""
