"""Knowing when it stops: alert channels, the alert sensor, the heartbeat and `spotify-assets status`.

`config` is imported by `spotify_assets.settings`, so this package's `__init__` imports nothing."""
