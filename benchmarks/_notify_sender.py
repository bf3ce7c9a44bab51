"""The sender process of notify_load.py: posts pickled (headers, body) pairs to one URL
over keep-alive connections; prints count, seconds, latencies and statuses as JSON."""

from __future__ import annotations

import http.client
import json
import pickle
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def main() -> None:
    url, batch_file, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(batch_file, "rb") as batch:
        deliveries = pickle.load(batch)
    parts = urlsplit(url)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    cursor = iter(range(len(deliveries)))

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            headers, body = deliveries[index]
            started = time.perf_counter()
            try:
                connection.request("POST", parts.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1
        connection.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "count": len(deliveries),
                "seconds": seconds,
                "latencies": latencies,
                "statuses": dict(statuses),
            }
        )
    )


if __name__ == "__main__":
    main()
