"""Prometheus /metrics read over real HTTP, as tests/test_observability.py and tests/test_metrics_wired.py
check it: every sample keyed by its name and label set."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labels(**kw) -> frozenset:
    return frozenset(kw.items())
