"""What each gold table's builder (`gold.GOLD_BUILDERS`) takes for each day, when it is not the day's silver
plays: the gold assets take their shape from it when the Dagster definitions load, without the builders
(pandas), which a step imports."""

from typing import Literal

from spotify_assets.contracts.tables import DIM_DATE, FACT_RECENTLY_PLAYED, TableSpec

BuildFrom = Literal["plays", "plays_in_timezone", "days"]
"""What a gold builder takes for each day: the day's silver plays; the plays and the partitions' time zone;
or the day (as a one-element list of dates)."""

GOLD_INPUTS: dict[str, BuildFrom] = {
    DIM_DATE.qualified_name: "days",
    FACT_RECENTLY_PLAYED.qualified_name: "plays_in_timezone",
}
"""The gold tables whose builder takes more than, or other than, the day's plays, by `schema.table`."""


def build_from(spec: TableSpec) -> BuildFrom:
    """What `spec`'s builder takes for each day (`plays` unless `GOLD_INPUTS` says otherwise)."""
    return GOLD_INPUTS.get(spec.qualified_name, "plays")
