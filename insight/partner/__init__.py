"""Partner data: accounts and roles, audit, safe file reading, record checks, versions, uploads, Open Referral UK.

Builds on the core (store, sources, analysis); never imports :mod:`insight.web` or :mod:`insight.cli`.
"""
