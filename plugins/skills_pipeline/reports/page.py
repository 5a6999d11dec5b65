"""The report page: one self-contained HTML document (styles and SVG charts inline, no script, nothing fetched)."""

from __future__ import annotations

from importlib import resources

import jinja2
from markupsafe import Markup

from skills_pipeline.reports import labels


def render(data: dict, title: str, charts: dict[str, str | None]) -> str:
    template = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
        resources.files("skills_pipeline.reports").joinpath("report.html.j2").read_text(encoding="utf-8")
    )
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
        statuses=labels.STATUSES,
        progress_statuses=labels.PROGRESS_STATUSES,
        on_pace=labels.on_pace,
        region=lambda code: labels.region_name(data, code),
        count=labels.count,
        share=labels.share,
        yuan=labels.yuan,
        value=labels.value,
    )
