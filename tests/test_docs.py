"""The README stays a front page, and its links lead somewhere (the docs site's own links are
checked by `mkdocs build --strict`, which `make docs` runs)."""

from __future__ import annotations

import re

from .helpers.project import REPO


def test_the_readme_is_a_front_page() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move detail to docs/"


def test_every_relative_link_in_the_readme_exists() -> None:
    text = (REPO / "README.md").read_text()
    links = [t for t in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in t]
    assert links, "the README links to its docs"
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_docs_page_is_in_the_site_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    pages = sorted(p.name for p in (REPO / "docs").glob("*.md"))
    assert [p for p in pages if p not in nav] == []
