"""The Dagster graph: the raw, silver, gold and report assets with their resources, partitions, jobs and
schedules."""

import gc
import warnings

import dagster as dg

# Single-run backfills are the point of the design; Dagster's beta notice about them is noise on every load.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

# Dagster's modules live as long as the process: frozen, the collector's full passes while the definitions
# load (and `definitions.py` freezes those once built) no longer scan them each time.
gc.freeze()
