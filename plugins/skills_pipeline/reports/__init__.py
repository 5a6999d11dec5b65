"""Reports for analysts and the leading group: bi-weekly (双周调度, 003 §七(二)), monthly, quarterly and annual
(001 §四(一)), as one HTML page with its charts inline and a PDF of the same page.

Every figure is read from a mart (metrics.target_progress, metrics.trainee_outcome_rates,
metrics.skilled_talent_shares, payments) and each section names its mart and filter, so a reader can trace it.
Charts are Altair (Vega-Lite) specifications rendered to SVG by vl-convert at build time: the page runs no script
and fetches nothing, so it renders on an intranet and prints as it shows. The figures behind a report are written
beside it as data.json, the snapshot it was made from.
"""
