"""Knowing when it stops: the alert sensor and its channels, the heartbeat, `spotify-assets status`."""
