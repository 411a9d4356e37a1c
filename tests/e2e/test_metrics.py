"""The Prometheus endpoint: what the monitor saw, in Prometheus' text format, scraped by a
real Prometheus server (Debian's `prometheus`) and read back through its query API."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ibdesk.sandbox import Sandbox
from ibdesk.services import Runtime
from ibdesk.services.watch.metrics import Metrics
from ibdesk.services.watch.monitor import Monitor
from tests.helpers import free_port
from tests.helpers.e2e import provisioner, request


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


@pytest.fixture
async def watched(sandbox: Sandbox, rt: Runtime) -> tuple[Metrics, str, int]:
    account = await provisioner(rt).connect(request("paper"))
    monitor = Monitor(rt)
    metrics = Metrics(rt)
    metrics.watch(monitor)
    try:
        for _ in range(2):
            await monitor.cycle(force=True)
    finally:
        await monitor.close()
    port = metrics.serve(0)
    return metrics, account.id, port


async def test_the_endpoint_says_what_the_monitor_saw(watched: tuple[Metrics, str, int]) -> None:
    metrics, account_id, port = watched
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert answer.status_code == 200
        samples = _samples(answer.text)
        status = {labels["status"]: value for labels, value in samples["ibdesk_account_status"]
                  if labels["account_id"] == account_id}
        assert status["running"] == 1 and sum(status.values()) == 1  # one series per status
        assert all(labels["environment"] == "paper"
                   for labels, _ in samples["ibdesk_account_status"])
        assert samples["ibdesk_account_authenticated"][0][1] == 1
        assert samples["ibdesk_gateway_latency_seconds_count"][0][1] == 2  # two probes
        assert samples["ibdesk_account_monthly_cost_dollars"][0][1] > 0
        assert samples["ibdesk_monitor_cycle_duration_seconds_count"][0][1] == 2
        by_code = {labels["code"]: value
                   for labels, value in samples["ibdesk_digitalocean_requests_total"]}
        assert by_code.get("200", 0) >= 2  # the droplet lists, by DigitalOcean's answer
        assert "paperjane" not in answer.text  # labelled by id, never the IBKR username
    finally:
        metrics.close()


async def test_a_real_prometheus_scrapes_it(watched: tuple[Metrics, str, int],
                                            tmp_path: Path) -> None:
    metrics, account_id, port = watched
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        metrics.close()
        if os.environ.get("IBDESK_REQUIRE_PROMETHEUS"):
            pytest.fail("prometheus is not installed (briefcase.toml's test packages)")
        pytest.skip("Prometheus is not installed here (apt install prometheus)")
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n"
                      "  - job_name: ibdesk\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{port}']\n")
    web = free_port()
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        query = f'ibdesk_account_status{{account_id="{account_id}",status="running"}}'
        result: list[dict[str, object]] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web}") as http:
            for _ in range(120):
                try:
                    answer = await http.get("/api/v1/query", params={"query": query})
                    result = answer.json()["data"]["result"]
                except (httpx.HTTPError, KeyError, ValueError):
                    result = []
                if result:
                    break
                await asyncio.sleep(0.5)
            assert result, "Prometheus never stored the series"
            assert result[0]["value"][1] == "1"  # type: ignore[index]
            assert result[0]["metric"]["environment"] == "paper"  # type: ignore[index]
            targets = (await http.get("/api/v1/targets")).json()["data"]["activeTargets"]
            assert targets[0]["health"] == "up"
    finally:
        server.terminate()
        server.communicate(timeout=30)
        metrics.close()


async def test_off_by_default_and_a_taken_port_is_said(rt: Runtime) -> None:
    import socket

    from ibdesk.domain.errors import InvalidInput
    from ibdesk.services.watch.metrics import serve_for

    monitor = Monitor(rt)
    assert rt.settings.metrics_port is None and serve_for(rt, monitor) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rt.settings = rt.settings.model_copy(update={"metrics_port": port})
        with pytest.raises(InvalidInput, match=f"127.0.0.1:{port}.*IBDESK_METRICS_PORT"):
            serve_for(rt, monitor)
    await monitor.close()
