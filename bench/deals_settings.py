"""Server settings for bench/deals_bench.py: the product's settings plus the bench-only comparison endpoints."""

from crm.settings import *  # noqa: F403

ROOT_URLCONF = "bench.deals_floor"
