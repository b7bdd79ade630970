"""Analysis: the store's snapshot, area profiles, survey statistics, perception, map views, exports.

Frames in, frames out. Never imports :mod:`insight.partner`, :mod:`insight.web` or :mod:`insight.cli`.
"""
