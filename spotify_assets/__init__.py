"""spotify_assets: Spotify listening history as a Dagster medallion lakehouse."""
