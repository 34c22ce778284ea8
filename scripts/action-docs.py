"""Print README's tables of the action's inputs and outputs, from action.yml (a test keeps them in step)."""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def tables() -> str:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    rows = ["| input | default | description |", "|---|---|---|"]
    for name, spec in action["inputs"].items():
        default = str(spec.get("default", "")) or "-"
        rows.append(f"| `{name}` | `{default}` | {spec['description']} |")
    rows += ["", "| output | description |", "|---|---|"]
    for name, spec in action["outputs"].items():
        rows.append(f"| `{name}` | {spec['description']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(tables() + "\n")
