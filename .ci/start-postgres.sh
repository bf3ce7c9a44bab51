#!/usr/bin/env bash
# Start the Debian PostgreSQL cluster and create the test role and database.
# Prints the DSN for WECHATPAY_TEST_POSTGRES.
set -euo pipefail
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main >/dev/null 2>&1
fi
pg_ctlcluster "$version" main start >/dev/null 2>&1 || true
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='wechatpay'\"" | grep -q 1 \
  || su postgres -c "psql -q -c \"CREATE ROLE wechatpay LOGIN SUPERUSER PASSWORD 'wechatpay'\""
echo "postgresql://wechatpay:wechatpay@127.0.0.1:5432/wechatpay"
