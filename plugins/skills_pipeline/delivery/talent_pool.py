"""The high-skilled talent pool (metrics.high_skilled_talent_pool) as the read API and the CSV export filter it."""

# A region code matches the pool's rows of that county, of the counties of that city (its first four digits), or of
# the whole province (its first two); none given, every row. Parameter: %(region)s.
IN_REGION = (
    "(%(region)s::text is null or region_code = %(region)s "
    "or left(region_code, 4) || '00' = %(region)s or left(region_code, 2) || '0000' = %(region)s)"
)
