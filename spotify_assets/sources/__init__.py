"""Where plays come from: the Spotify API (with authorisation and tokens), the sample, history exports."""
