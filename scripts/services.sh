#!/usr/bin/env bash
# Make sure the services the tests use answer on 127.0.0.1: PostgreSQL (5432) and Redis (6379).
# Installs them from Debian's packages when they are missing, starts them when they are down.
set -euo pipefail

export MONITOR_TEST_POSTGRES_URL="${MONITOR_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "services: cannot install $* (need root and apt-get)" >&2
  fi
}

if ! up 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  if command -v pg_ctlcluster >/dev/null; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do up 5432 && break; sleep 1; done
fi
if up 5432 && command -v psql >/dev/null; then
  # Trust auth on these machines; make sure the test database exists.
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" postgres 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" postgres >/dev/null 2>&1 || true
fi

if ! up 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 15); do up 6379 && break; sleep 1; done
fi

up 5432 && echo "services: PostgreSQL answers on 127.0.0.1:5432" || echo "services: PostgreSQL is NOT running" >&2
up 6379 && echo "services: Redis answers on 127.0.0.1:6379" || echo "services: Redis is NOT running" >&2

# The browser tests drive Debian's Chromium with Playwright (never a downloaded browser).
CHROMIUM="${MONITOR_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  apt_install chromium
fi
[ -x "$CHROMIUM" ] || echo "services: no Chromium at $CHROMIUM: the browser tests will fail" >&2
