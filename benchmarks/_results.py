"""One results file for every benchmark: ``benchmarks/results.json``.

Each benchmark records its figures under its own name with :func:`record`; the machine
and the date are written once per run next to them, so a reader can tell which figures
were measured together.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def record(name: str, figures: dict[str, Any], *, quick: bool = False) -> None:
    """Store ``figures`` of benchmark ``name`` (``quick``: a scaled-down run)."""
    data: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    key = f"{name}.quick" if quick else name
    data.setdefault("benchmarks", {})[key] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    RESULTS.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"recorded {key} in {RESULTS.relative_to(RESULTS.parent.parent)}")
