#!/usr/bin/env bash
# The PostgreSQL run of `make test` needs a server: use the one running, or start this
# machine's cluster (Debian's pg_ctlcluster), or say exactly what is missing.
set -euo pipefail
url="${MCP_TEST_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
host=127.0.0.1 port=5432
if [[ "$url" =~ @([^:/]+)(:([0-9]+))? ]]; then
    host="${BASH_REMATCH[1]}"
    port="${BASH_REMATCH[3]:-5432}"
fi
ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }
ready && exit 0
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL $(ls /etc/postgresql) on $host:$port" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    for _ in $(seq 50); do ready && exit 0; sleep 0.2; done
fi
echo "PostgreSQL is not accepting connections on $host:$port." >&2
echo "Start it, or point MCP_TEST_POSTGRES_URL at a server where we may create databases." >&2
exit 1
