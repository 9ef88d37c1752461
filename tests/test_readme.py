"""The README is the newcomer's entry point: its in-page links land on a heading, and CI runs its two commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def headings(markdown: str) -> list[str]:
    """Heading texts outside fenced code blocks."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            out.append(line.lstrip("#").strip())
    return out


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-', repeats -1, -2."""
    seen: dict[str, int] = {}
    out = set()
    for h in headings(markdown):
        slug = re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_anchor_rule_on_known_headings():
    md = "# A (`--x y`)\n```\n# not a heading\n```\n## Run: what's here\n## Run: what's here\n"
    assert anchors(md) == {"a---x-y", "run-whats-here", "run-whats-here-1"}


def test_every_in_page_link_lands_on_a_heading():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links, "the README has a contents list of in-page links"
    missing = sorted(set(links) - anchors(text))
    assert not missing, f"README links to headings that do not exist: {missing}"


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up: two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "llmad demo" in setup and "llmad demo" in ci
    assert "python -m pytest -q" in setup and re.search(r"^python -m pytest -q\s*$", ci, re.M)
