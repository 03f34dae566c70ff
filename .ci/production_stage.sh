#!/usr/bin/env bash
# The production set of processes, without Docker: exactly what docker/entrypoint.sh starts,
# with DJANGO_ENV=production, on this machine's PostgreSQL and Redis (a database and a Redis DB
# of their own), plus a local SMTP server (aiosmtpd). One export is driven from filing to
# delivery over HTTP (.ci/production_drive.py), the emails must arrive through SMTP, and
# everything started here is stopped on the way out, pass or fail.
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379 (.ci/run makes
# sure of both). Run from the repository: .ci/production_stage.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-.venv/bin}
STAGE_DB=${STAGE_DB:-exportportal_stage}
STAGE_REDIS_DB=${STAGE_REDIS_DB:-7}
WORK=$(mktemp -d -t exportportal-stage-XXXXXX)
PIDS=()

log() { printf '[stage %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

free_port() { "$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

stop_everything() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if ((status != 0)); then
    log "FAILED; the last lines of each process's log (all of them in test-artifacts/production-stage):"
    for file in "$WORK"/logs/*.log; do
      [ -f "$file" ] && { echo "--- $file"; tail -n 40 "$file"; }
    done
    rm -rf test-artifacts/production-stage
    mkdir -p test-artifacts && cp -r "$WORK/logs" test-artifacts/production-stage
  fi
  rm -rf "$WORK"
  log "stopped everything (exit $status)"
}
trap stop_everything EXIT
trap 'exit 130' INT TERM  # through the EXIT trap: nothing started here outlives the stage

start() {  # start NAME COMMAND...: in the background, its output in logs/NAME.log
  local name=$1; shift
  "$@" >"$WORK/logs/$name.log" 2>&1 &
  PIDS+=($!)
  log "started $name (pid $!)"
}

mkdir -p "$WORK/logs" "$WORK/data"  # the SMTP server makes its own maildir
WEB_PORT=$(free_port)
SMTP_PORT=$(free_port)

export DJANGO_ENV=production
export DJANGO_SETTINGS_MODULE=exportportal.settings
export SECRET_KEY
SECRET_KEY=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
export FIELD_ENCRYPTION_KEYS
FIELD_ENCRYPTION_KEYS=$("$BIN/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
export AUDIT_CHAIN_KEYS
AUDIT_CHAIN_KEYS=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
export ALLOWED_HOSTS=127.0.0.1
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$STAGE_DB"
export CELERY_BROKER_URL="redis://127.0.0.1:6379/$STAGE_REDIS_DB"
export EMAIL_URL="smtp://127.0.0.1:$SMTP_PORT"
export PORTAL_BASE_URL="https://127.0.0.1:$WEB_PORT"
export EXPORT_DATA_DIR="$WORK/data"
export EXPORT_STAGING_DIR="$WORK/staging"
export EXPORT_LOCAL_DELIVERY_DIR="$WORK/delivery"
export STATIC_ROOT="$WORK/static"
export EXPORT_DEMO_LARGE_DOCUMENT_BYTES=65536  # the demo's "large document": small here
export LOG_LEVEL=INFO

log "a fresh database $STAGE_DB and Redis DB $STAGE_REDIS_DB"
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $STAGE_DB WITH (FORCE)" \
  -c "CREATE DATABASE $STAGE_DB"
redis-cli -h 127.0.0.1 -n "$STAGE_REDIS_DB" flushdb >/dev/null

log "collectstatic and migrate (as the image build and the web entrypoint do)"
"$BIN/python" manage.py collectstatic --no-input -v 0
"$BIN/python" manage.py migrate --no-input -v 0
# Demo users and practices: seed_demo refuses production, so it runs once as development
# against the same database and keys; its printout carries the passwords and TOTP keys.
DJANGO_ENV=development "$BIN/python" manage.py seed_demo >"$WORK/logins.txt"

start smtp "$BIN/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/mail"
start web "$BIN/gunicorn" exportportal.wsgi:application --bind "127.0.0.1:$WEB_PORT" \
  --workers 2 --timeout 120 --access-logfile -
start worker-extract "$BIN/celery" -A exportportal worker --loglevel=INFO \
  --hostname "extract@%h" --queues extract --concurrency 1
start worker-deliver "$BIN/celery" -A exportportal worker --loglevel=INFO \
  --hostname "deliver@%h" --queues celery,package,deliver --concurrency 1
start beat "$BIN/celery" -A exportportal beat --loglevel=INFO --schedule "$WORK/data/celerybeat-schedule"

log "waiting for both workers"
for name in worker-extract worker-deliver; do
  for _ in $(seq 1 120); do grep -q " ready\." "$WORK/logs/$name.log" && break; sleep 0.5; done
  grep -q " ready\." "$WORK/logs/$name.log" || { log "$name did not start"; exit 1; }
done
# The beat asks for a heartbeat every minute; ask once now rather than wait for the first.
"$BIN/celery" -A exportportal call exports.worker_heartbeat >/dev/null

log "waiting for /healthz on port $WEB_PORT"
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$WEB_PORT/healthz" >"$WORK/health.json" 2>/dev/null && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$WEB_PORT/healthz"
echo

"$BIN/python" .ci/production_drive.py --base-url "http://127.0.0.1:$WEB_PORT" \
  --logins "$WORK/logins.txt" --maildir "$WORK/mail" --timeout 150
log "production stage passed"
