"""Running the installation: the CLI, the served topology, the Dagster instance, listeners, rebuilds."""
