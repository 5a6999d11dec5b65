"""The report page: one self-contained HTML document (styles and SVG charts inline, no script, nothing fetched)."""

from __future__ import annotations

from importlib import resources

import jinja2
from markupsafe import Markup

from skills_pipeline.reports import brief, labels


def _template(name: str) -> jinja2.Template:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
        resources.files("skills_pipeline.reports").joinpath(name).read_text(encoding="utf-8")
    )


def render_brief(data: dict) -> str:
    """The one-page brief (reports/brief.py): headline figures, three risks, sentences from the figures."""
    return _template("brief.html.j2").render(
        data=data, count=labels.count, share=labels.share, yuan=labels.yuan, small_cohort=brief.SMALL_COHORT
    )


def render(data: dict, title: str, charts: dict[str, str | None]) -> str:
    template = _template("report.html.j2")
    progress = data["target_progress"]
    return template.render(
        title=title,
        data=data,
        charts={name: Markup(svg) if svg else None for name, svg in charts.items()},
        targeted=[row for row in progress if row["target_value"] is not None],
        untargeted=[
            indicator
            for indicator in labels.INDICATORS
            if not any(row["indicator"] == indicator and row["target_value"] is not None for row in progress)
        ],
        counties=sorted({row["region_code"] for row in progress if row["region_level"] == "county"}),
        progress={(row["region_code"], row["indicator"]): row for row in progress},
        indicators=labels.INDICATORS,
        levels=labels.LEVELS,
        progress_statuses=labels.PROGRESS_STATUSES,
        money_labels=labels.MONEY_LABELS,
        small_cohort=brief.SMALL_COHORT,
        on_pace=labels.on_pace,
        region=lambda code: labels.region_name(data, code),
        count=labels.count,
        share=labels.share,
        yuan=labels.yuan,
        value=labels.value,
    )
