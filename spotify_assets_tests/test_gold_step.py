"""The gold tables are the outputs of one step, written in an order where no table comes before a dimension
it references, each still its own asset that a run can select alone."""

from spotify_assets.assets.gold import GOLD_STEP, build_gold_assets, output_name
from spotify_assets.assets.partitions import build_daily_partitions
from spotify_assets.contracts.settings import get_settings
from spotify_assets.contracts.tables import TABLES, gold_tables


def test_the_gold_tables_are_one_step_whose_registry_order_puts_each_dimension_before_its_references():
    (gold,) = build_gold_assets(build_daily_partitions(get_settings()))
    assert gold.node_def.name == GOLD_STEP
    assert gold.keys == {spec.asset_key for spec in gold_tables()}
    assert gold.can_subset

    assert list(gold.node_def.output_dict) == [output_name(spec) for spec in gold_tables()]
    position = {TABLES[name].asset_key: n for n, name in enumerate(TABLES)}
    for spec in gold_tables():
        for _, dimension, _ in spec.references:
            referenced = TABLES[dimension].asset_key
            assert position[referenced] < position[spec.asset_key], (spec.qualified_name, dimension)
    descriptions = {key: gold.specs_by_key[key].description for key in gold.keys}
    assert descriptions == {spec.asset_key: spec.description for spec in gold_tables()}
    assert all(gold.get_io_manager_key_for_asset_key(key) == "lakehouse_io_manager" for key in gold.keys)
