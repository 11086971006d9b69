"""The dashboard and alert rules operations teams get in ops/: Prometheus' own promtool checks
the rules and runs their unit tests (each alert fires on its trouble, stays quiet otherwise);
every dashboard query parses, and every metric either of them reads is one heard exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.peers import REPO

pytestmark = pytest.mark.integration

RULES = REPO / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "ops" / "grafana" / "heard.json"
# Grafana's own variables, as Prometheus would see them after Grafana fills them in.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "6h", "$__interval": "1m"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: install Debian's `prometheus` package")
    return subprocess.run(
        [found, *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent, check=False
    )


def exported_metric_names() -> set[str]:
    """Every series name heard's processes can export, as Prometheus sees them."""
    import heard.streams.connectors.service
    import heard.streams.kafka.lag
    import heard.streams.worker.app
    import heard.streams.worker.web  # noqa: F401  (each registers its metrics on import)

    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "info": ("_info",),
        "gauge": ("",),
        "summary": ("_count", "_sum", "_created"),
    }
    names = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return {name for name in names if name.startswith("heard_")}


def dashboard_queries() -> list[tuple[str, str]]:
    model = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in model["panels"] for target in panel["targets"]]


def test_promtool_accepts_the_alert_rules_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 12 rules found" in checked.stdout
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    rules = []
    for number, (title, expr) in enumerate(dashboard_queries()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{title}: an unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_dashboard_and_the_alerts_read_is_exported() -> None:
    exported = exported_metric_names()
    alerts = [
        rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]
    read = {name for _, expr in dashboard_queries() for name in re.findall(r"\bheard_[a-z_]+\b", expr)}
    read |= {name for expr in alerts for name in re.findall(r"\bheard_[a-z_]+\b", expr)}
    assert read, "the dashboard and the alerts read no heard metric"
    assert sorted(read - exported) == []
    # The panels an on-call opens first are there.
    titles = {title for title, _ in dashboard_queries()}
    assert {
        "Consumer lag by topic",
        "Messages by channel and outcome",
        "Dead letters and record failures by stage",
    } <= titles


def test_the_dashboard_imports_into_any_grafana() -> None:
    model = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in model["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [panel["id"] for panel in model["panels"]]
    assert len(ids) == len(set(ids))
    for panel in model["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["description"], f"{panel['title']}: say what the panel shows and why"
