"""The medallion assets: raw, silver and gold, one module per layer."""

import warnings

import dagster as dg

# Single-run backfills are the point of the design; Dagster's beta notice about them is noise on every load.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
