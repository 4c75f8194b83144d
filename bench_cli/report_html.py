"""The report as one self-contained HTML file: the data as embedded JSON, drawn by inline JS as SVG.

Nothing is fetched: no CDN, no font, no image; a Content-Security-Policy in
the page forbids any connection, so it works opened from disk, offline.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; } h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.row { display: flex; flex-wrap: wrap; gap: 12px; } .figure { margin: 0; width: 640px; }
svg.plot text { font-size: 11px; fill: #333; } svg.plot .title { font-size: 13px; font-weight: 600; }
svg.plot .grid { stroke: #eee; } svg.plot .frame { fill: none; stroke: #999; }
.legend span { margin-right: 1em; font-size: 12px; display: inline-block; white-space: nowrap; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
#errors { color: #b00; white-space: pre-wrap; border: 1px solid #b00; padding: .5em; }
.note { color: #666; font-size: 12px; }
"""

_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"


def render(data: dict[str, Any]) -> str:
    """The whole page for the report data (``bench_cli.report`` builds it)."""
    script = resources.files("bench_cli").joinpath("report.js").read_text()
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # no "</script>" inside the JSON
    title = html.escape(data["title"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{title}</title><style>{_CSS}</style></head>
<body data-errors="0">
<h1>{title}</h1>
<p class="note">{html.escape(data["subtitle"])}</p>
<pre id="errors" hidden></pre>
<div id="report"></div>
<script type="application/json" id="report-data">{payload}</script>
<script>{script}</script>
</body></html>
"""
