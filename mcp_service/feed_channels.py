"""Where committed changes are announced, for the readers that follow them (the dashboard).

Two carriers, one meaning ("clients, sessions or tool executions changed: read
them again"):

- Redis pub/sub, `REDIS_CHANNEL`, when the service has `MCP_REDIS_URL`
  (change_feed.py publishes after each committed write, whatever the engine);
- PostgreSQL `LISTEN`, `POSTGRES_CHANNEL`: the database itself notifies at commit
  (migration 0005), the payload naming the table.

Plain constants, no imports: the dashboard reads them without loading the service.
"""

REDIS_CHANNEL = "mcp-service:changes"
POSTGRES_CHANNEL = "mcp_service_changes"
