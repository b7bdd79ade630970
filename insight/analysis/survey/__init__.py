"""Resident survey statistics: weights, estimates, disclosure control, change, perception vs crime.

Pure functions: DataFrames in, DataFrames out; nothing here reads the store or the web. The
question files themselves are read by :mod:`insight.sources.survey_spec`. The intended
pipeline for one question is::

    spec = load_survey("surveys/resident_perception_illustrative.toml")       # sources.survey_spec
    people = respondents_frame(read_features(engine, "resident_survey_illustrative"))   # .estimates
    table = area_estimates(people, spec.question("safe_after_dark"), areas=wards,        # .estimates
                           covariates=["log_crime_rate", "deprivation"])
    change = wave_change(table, wave_from="2025", wave_to="2026")                        # .change
    latest = table[(table.wave == "2026") & ~table.is_total].merge(recorded_rates(crime_counts), on="area_code")
    gaps = perception_vs_crime(latest, borough_share=<the total row's share>, borough_rate=<borough rate>)  # .gap

``wards`` has ``area_code``, ``area_name`` and the covariates per ward; ``crime_counts`` has
``area_code``, ``count`` and ``population`` for the matching period.

:func:`~insight.analysis.survey.estimates.area_estimates` ends with
:func:`~insight.analysis.survey.disclosure.disclosure_control`, the one place where the
publication rules are applied; every other output (change, perception gaps, maps,
profiles, exports) is derived from its published table, so it cannot publish more.

Shares are fractions from 0 to 1 throughout; intervals are two-sided at ``level``.
"""
