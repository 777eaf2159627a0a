#!/bin/sh
# Write the instance config from the environment (PostgreSQL storage, run queue, monitoring), then run.
set -e
spotify-assets instance
exec "$@"
