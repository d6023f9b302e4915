"""Numeric bounds of the database: ids are PostgreSQL bigints, so a larger number is a 400/404, never a DB error."""

MAX_BIGINT = 2**63 - 1
