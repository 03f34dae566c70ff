#!/bin/sh
# One image, three roles: web (migrates first), worker, beat.
set -eu
case "${1:-web}" in
  web)
    python manage.py migrate --no-input
    exec gunicorn exportportal.wsgi:application --bind 0.0.0.0:8000 \
      --workers "${WEB_CONCURRENCY:-3}" --timeout 120 --access-logfile - ;;
  worker)
    exec celery -A exportportal worker --loglevel=INFO \
      --queues "${WORKER_QUEUES:-celery,extract,package,deliver}" \
      --concurrency "${WORKER_CONCURRENCY:-2}" ;;
  beat)
    exec celery -A exportportal beat --loglevel=INFO --schedule /data/celerybeat-schedule ;;
  *)
    exec "$@" ;;
esac
