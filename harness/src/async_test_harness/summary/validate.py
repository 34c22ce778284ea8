"""summary.json, read as untrusted input and checked against its published schema.

The tests run with write access to the results folder, so the report cannot assume the runner
wrote summary.json: a test can rewrite it after the run. Everything the report prints, writes or
posts comes from this document, so it is read here once, in three steps, before any of it is used:

1. bytes to text whatever they are (invalid UTF-8 becomes U+FFFD), and JSON without the
   non-standard ``NaN`` / ``Infinity``;
2. every string (keys too) made printable: lone surrogates and NUL become U+FFFD, since a
   surrogate cannot be encoded as UTF-8 (writing it would crash the step and lose the
   annotations, summary and outputs) and NUL ends strings in the runner's consumers;
3. validation against ``summary.schema.json`` (the package's copy of docs/summary.schema.json), so
   every enum is one of its values and every number a number before the renderers format them
   (``model.Summary.from_json`` validates, then builds the typed summary the renderers read).

Standard library only (the report runs on the runner with nothing installed), so the validator is
a small interpreter of the JSON Schema keywords the schema uses; ``check_schema`` refuses any other
keyword, so a schema change the interpreter would silently ignore fails the tests instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

SCHEMA_FILE = Path(__file__).resolve().parent / "summary.schema.json"
MAX_BYTES = 64 * 1024 * 1024  # the runner caps every text it records; anything near this is not its output
VALIDATING = {"type", "enum", "const", "required", "properties", "additionalProperties", "items", "$ref", "oneOf",
              "minimum", "maximum"}
ANNOTATING = {"$schema", "$id", "$defs", "title", "description", "format"}
UNPRINTABLE = re.compile("[\x00\ud800-\udfff]")
SAFE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
JsonPath = List[Union[str, int]]


class Invalid(Exception):
    """summary.json is not a summary. ``where`` and ``expected`` never contain the document's text."""

    def __init__(self, where: str, expected: str) -> None:
        super().__init__(f"{where or 'the document'}: {expected}")
        self.where = where
        self.expected = expected


def printable(text: str) -> str:
    """``text`` with lone surrogates and NUL replaced by U+FFFD: always encodable, never truncating."""
    return UNPRINTABLE.sub("\ufffd", text) if UNPRINTABLE.search(text) else text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {printable(k): _clean(v) for k, v in value.items()}
    return value


class NotAJSONNumber(ValueError):
    """NaN or Infinity: Python's json reads them, JSON has no such numbers."""


def _no_constant(name: str) -> Any:
    raise NotAJSONNumber(name)


def parse(data: bytes) -> Any:
    """JSON from any bytes, its strings printable; raises ValueError (not JSON, too deep, NaN)."""
    try:
        return _clean(json.loads(data.decode("utf-8", "replace"), parse_constant=_no_constant))
    except RecursionError:
        raise ValueError("nested too deeply") from None


def load_schema() -> Dict[str, Any]:
    return dict(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def check_schema(schema: Any) -> None:
    """Raise ValueError for a keyword ``validate`` does not implement (it would be ignored otherwise)."""
    if isinstance(schema, list):
        for item in schema:
            check_schema(item)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in VALIDATING and key not in ANNOTATING:
            raise ValueError(f"summary schema keyword {key!r} is not implemented by {__name__}")
        if key in ("properties", "$defs"):
            for sub in value.values():
                check_schema(sub)
        elif key in ("items", "additionalProperties", "oneOf"):
            check_schema(value)


def _where(path: JsonPath) -> str:
    """A JSON path for messages; a key that is not a plain name (it came from the file) is not shown."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (part if SAFE_KEY.fullmatch(part) else "<a key>")
    return out


def _is_type(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if isinstance(value, bool):  # JSON true is no number, although Python's True == 1
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float))
    raise ValueError(f"unknown type {name!r} in the summary schema")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _describe(values: List[Any]) -> str:
    return ", ".join(json.dumps(v) for v in values)


def validate(doc: Any, schema: Dict[str, Any], node: Optional[Dict[str, Any]] = None,
             path: Optional[JsonPath] = None) -> None:
    """Raise Invalid at the first place ``doc`` breaks ``schema`` (JSON Schema 2020-12, the keywords above)."""
    node = schema if node is None else node
    path = [] if path is None else path
    here = _where(path)
    if "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref!r} in the summary schema")
        validate(doc, schema, schema["$defs"][ref.split("/", 2)[2]], path)
    if "type" in node:
        names = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_is_type(doc, n) for n in names):
            raise Invalid(here, f"is not of type {' or '.join(names)}")
    if "const" in node and not _equal(doc, node["const"]):
        raise Invalid(here, f"is not {json.dumps(node['const'])}")
    if "enum" in node and not any(_equal(doc, v) for v in node["enum"]):
        raise Invalid(here, f"is not one of {_describe(node['enum'])}")
    if "oneOf" in node:
        matching = 0
        for option in node["oneOf"]:
            try:
                validate(doc, schema, option, path)
                matching += 1
            except Invalid:
                pass
        if matching != 1:
            raise Invalid(here, f"matches {matching} of its {len(node['oneOf'])} allowed shapes, not exactly one")
    if isinstance(doc, (int, float)) and not isinstance(doc, bool):
        if "minimum" in node and doc < node["minimum"]:
            raise Invalid(here, f"is below the minimum {node['minimum']}")
        if "maximum" in node and doc > node["maximum"]:
            raise Invalid(here, f"is above the maximum {node['maximum']}")
    if isinstance(doc, dict):
        for key in node.get("required", []):
            if key not in doc:
                raise Invalid(here, f"lacks the required {key!r}")
        properties: Dict[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, value in doc.items():
            if key in properties:
                validate(value, schema, properties[key], [*path, key])
            elif extra is False:
                raise Invalid(_where([*path, key]), "is not allowed here")
            elif isinstance(extra, dict):
                validate(value, schema, extra, [*path, key])
    if isinstance(doc, list) and "items" in node:
        for index, item in enumerate(doc):
            validate(item, schema, node["items"], [*path, index])


def read_document(path: Path) -> Any:
    """The JSON at ``path``, its strings printable, not yet validated (``model.Summary.read`` validates it).

    Raises OSError, ValueError (not JSON) or Invalid (too large, NaN or Infinity).
    """
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Invalid("", f"is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return parse(data)
    except NotAJSONNumber:
        raise Invalid("", "holds NaN or Infinity, which JSON does not allow") from None
