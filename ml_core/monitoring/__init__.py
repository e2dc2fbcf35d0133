"""Monitoring: drift (fast screen + Evidently reports), performance (realised, CBPE), SLOs, plausibility, one-call
check.

- ``drift_screen``: ``build_profile`` once, ``screen`` per tick; verdicts equal Evidently's defaults.
- ``evidently_report``: ``write_drift_report`` -> HTML, JSON, PNGs for people.
- ``performance``: ``realised_performance``, ``cbpe_estimate``, ``prior_shift``.
- ``slo``: ``slo_report``, ``data_quality``.
- ``plausibility``: ``build_plausibility_profile`` once, ``check_plausibility`` per window: stuck columns, zero
  jumps, values far out of range, broken near-deterministic pairs (broken data, not drift).
- ``check``: ``run_check`` -> ``MonitoringResult`` with findings and a summary.

Submodules are not imported here so that importing the package stays cheap (Evidently is slow to import).
"""
