#!/bin/sh
# Write the instance config from the environment (PostgreSQL storage, run queue, monitoring), then run.
set -e
spotify-assets instance
# The token files are the owner's alone (a volume may come up world-readable).
mkdir -p "$SPOTIFY_TOKEN_DIR"
chmod 700 "$(dirname "$SPOTIFY_TOKEN_FILE")" "$SPOTIFY_TOKEN_DIR"
exec "$@"
