"""The concurrency pool of every asset that writes the lake's tables or the warehouse."""

# With `concurrency.pools.granularity: run` (see instance_config.py) a run holds this pool from launch to
# end, so two runs that write (a day and a range over it, or two ranges) never run at once.
WAREHOUSE_POOL = "warehouse"
