"""Data quality: the rules as pure functions, the reconciliation between layers, and the asset checks."""
