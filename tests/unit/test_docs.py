"""The documentation stands on its own: every link in the README and docs/ resolves inside the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_every_relative_link_resolves_inside_the_repository():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(documents) >= 3
    for document in documents:
        text = document.read_text(encoding="utf-8")
        assert "../shared" not in text, f"{document.name} points outside the repository"
        for target in LINK.findall(text):
            if re.match(r"[a-z]+://|mailto:|#", target):
                continue
            path = (document.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(ROOT) and path.exists(), f"{document.name}: {target} does not resolve"


def test_the_readme_is_a_readme_and_the_manual_lives_in_docs():
    """About 200 lines: what it is, the two commands, configuration, layout, where to change what, tests; the rest is
    in docs/, each page linked from the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for page in ("architecture", "ingestion", "archive-build", "settlement-and-reports", "operations", "benchmarks"):
        assert f"(docs/{page}.md)" in readme, page
    for command in ("make run", "make test"):
        assert command in readme
