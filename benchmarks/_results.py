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


def cpu_jiffies() -> tuple[int, int]:
    """``(busy, total)`` clock ticks of every core since boot (``/proc/stat``; zeros
    elsewhere): two readings tell how busy the whole machine was between them, every
    process counted (the simulator's, PostgreSQL's), not only the benchmark's."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of the machine's CPU time that was busy between two :func:`cpu_jiffies`."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else None


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
