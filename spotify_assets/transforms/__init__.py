"""Pure transforms: raw captures and exports to silver plays, gold tables and the report's figures."""
