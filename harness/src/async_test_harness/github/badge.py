"""The coverage badge: a flat SVG like shields.io's, made with the standard library.

Projects show coverage in their README as a badge; py-cov-action users expect the action to make
it. The report step writes ``badge.svg`` into the results folder (uploaded with it) and sets the
outputs ``badge-color`` and ``badge-message``, for a workflow that publishes the badge elsewhere
(a gist, a branch, shields.io's endpoint badge). No network and no font files: text widths are
estimated from Verdana's average advance at 11 px, as close as a badge needs.

Colours by combined coverage (shields.io's names and hex values):
red below 50 %, orange from 50, yellow from 70, yellowgreen from 80, green from 90;
lightgrey when there is no coverage figure.
"""

from __future__ import annotations

from typing import List, Optional, Tuple
from xml.sax.saxutils import escape

COLOURS = {"red": "#e05d44", "orange": "#fe7d37", "yellow": "#dfb317", "yellowgreen": "#a4a61d",
           "green": "#97ca00", "lightgrey": "#9f9f9f"}
THRESHOLDS: List[Tuple[float, str]] = [(90.0, "green"), (80.0, "yellowgreen"), (70.0, "yellow"),
                                       (50.0, "orange"), (0.0, "red")]
LABEL = "coverage"
_NARROW, _WIDE = set("fijlrt1I.,:;!| "), set("mwMW%@")


def colour(percent: Optional[float]) -> str:
    """The badge colour's name for a coverage percentage (lightgrey: none measured)."""
    if percent is None:
        return "lightgrey"
    return next(name for floor, name in THRESHOLDS if percent >= floor)


def message(percent: Optional[float]) -> str:
    """The badge's right half: whole percent, as a README shows it (87.49 -> 87%)."""
    return "unknown" if percent is None else f"{int(percent)}%"


def _width(text: str) -> int:
    return sum(4 if c in _NARROW else 10 if c in _WIDE else 7 for c in text) + 10


def svg(label: str, value: str, colour_name: str) -> str:
    """A flat two-part badge; the texts are escaped, so any label stays text."""
    left, right = _width(label), _width(value)
    total = left + right
    fill = COLOURS.get(colour_name, COLOURS["lightgrey"])
    label, value = escape(label, {'"': "&quot;"}), escape(value, {'"': "&quot;"})
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{label}: {value}"><title>{label}: {value}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{fill}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2:g}" y="15" fill="#010101" fill-opacity=".3">{label}</text>'
        f'<text x="{left / 2:g}" y="14">{label}</text>'
        f'<text x="{left + right / 2:g}" y="15" fill="#010101" fill-opacity=".3">{value}</text>'
        f'<text x="{left + right / 2:g}" y="14">{value}</text></g></svg>\n'
    )


def coverage_badge(percent: Optional[float]) -> Tuple[str, str, str]:
    """(svg, colour name, message) for a combined coverage percentage."""
    name, text = colour(percent), message(percent)
    return svg(LABEL, text, name), name, text
