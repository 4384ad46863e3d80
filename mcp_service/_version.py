"""The package's version: its one home.

pyproject.toml reads it (`[tool.setuptools.dynamic]`), `mcp_service.__version__`
re-exports it, and the service reports it; a module of its own so that reading it
imports nothing else (the service imported the package for it: a cycle).
"""

__version__ = "0.1.0"
