"""Skills Shanxi data platform: validated ingestion of the four agency feeds and the warehouse around them."""

import os

# Our machines have no outside network: a telemetry call that blocks must never slow or break a run, so every
# library's usage reporting is off before any of them is imported. setdefault lets an operator override.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
}
for _name, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
