"""The /api/v1 endpoints (seed 002 + SPEC §9), one module per resource; deals/api/urls.py routes them.

Views configure and call one service each; no rules live here. The shared plumbing is in `base`.
"""
