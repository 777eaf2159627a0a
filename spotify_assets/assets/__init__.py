"""The Dagster graph: the raw, silver, gold and report assets with their resources, partitions, jobs and
schedules."""

import warnings

import dagster as dg

# Single-run backfills are the point of the design; Dagster's beta notice about them is noise on every load.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
