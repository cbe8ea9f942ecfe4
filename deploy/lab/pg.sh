#!/usr/bin/env bash
# Make sure PostgreSQL answers at $DATABASE_URL (default 127.0.0.1:5432); start
# the local cluster if it is installed but stopped. Fails loudly otherwise.
set -euo pipefail
URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}
ready() { pg_isready -q -d "$URL" -t 2; }
command -v pg_isready >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
}
ready && exit 0
if ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "pg: PostgreSQL not answering, starting the local cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
    for _ in $(seq 1 30); do ready && exit 0; sleep 0.5; done
fi
echo "pg: error: PostgreSQL does not answer at $URL" >&2
exit 1
