"""`deploy`, `deployments`, `undeploy` and `usage` against a scripted loopback broker."""

from tests.cli.conftest import Reply


def deployment(state, **extra):
    return {"id": 5, "name": "chat", "model": "meta/llama-3.1-8b-instruct", "state": state,
            "replicas": {"min": 1, "max": 3}, "endpoint_url": "", **extra}


def test_deploy_sends_name_model_replicas_policy_and_an_idempotency_key(stub, stub_cli):
    stub.on("POST", "/api/v1/deployments", Reply(202, deployment("pending")))
    result = stub_cli("deploy", "meta/llama-3.1-8b-instruct", "--name", "chat", "--min", "1", "--max", "3",
                      "--gpu", "L40S", "--max-price", "2", "--jurisdiction", "EU", "--deny-partner", "acme")
    assert result.code == 0
    seen = stub.calls("POST", "/api/v1/deployments")[0]
    assert seen.body == {
        "name": "chat", "model": "meta/llama-3.1-8b-instruct", "replicas": {"min": 1, "max": 3},
        "gpu": "L40S", "max_price_per_gpu_hour": 2.0,
        "policy": {"regions": [], "countries": [], "jurisdictions": ["EU"], "partners": {"allow": [], "deny": ["acme"]},
                   "partner_hq_jurisdictions": [], "certifications": []},
    }
    assert seen.headers["Idempotency-Key"].startswith("brokerctl-")


def test_deploy_rejects_max_below_min(stub_cli):
    result = stub_cli("deploy", "m", "--name", "chat", "--min", "3", "--max", "1")
    assert result.code == 2 and "--max" in result.err


def test_deploy_wait_until_ready_prints_the_endpoint(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/deployments", Reply(202, deployment("pending")))
    stub.on("GET", "/api/v1/deployments/5", Reply(200, deployment("starting")),
            Reply(200, deployment("ready", endpoint_url="http://broker/v1")))
    result = stub_cli("deploy", "meta/llama-3.1-8b-instruct", "--name", "chat", "--wait")
    assert result.code == 0 and "endpoint: http://broker/v1" in result.out


def test_deploy_wait_timeout_exits_4_with_the_undeploy_command(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/deployments", Reply(202, deployment("provisioning")))
    stub.on("GET", "/api/v1/deployments/5", Reply(200, deployment("provisioning")))
    result = stub_cli("deploy", "m", "--name", "chat", "--wait", "--timeout", "2m", "--json")
    assert result.code == 4 and result.json()["error"]["undeploy"] == "brokerctl undeploy chat"


def test_failed_deployment_without_capacity_exits_3_and_other_failures_5(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/deployments", Reply(202, deployment("failed", failure_reason="no capacity for L40S")))
    assert stub_cli("deploy", "m", "--name", "chat", "--wait").code == 3
    stub.on("POST", "/api/v1/deployments", Reply(202, deployment("failed", failure_reason="image pull failed")))
    assert stub_cli("deploy", "m", "--name", "chat", "--wait").code == 5


def test_undeploy_finds_the_live_deployment_by_name_and_deletes_it(stub, stub_cli):
    stub.on("GET", "/api/v1/deployments", Reply(200, {"next": None, "results": [
        {**deployment("terminated"), "id": 4}, deployment("ready"), {**deployment("ready"), "id": 6, "name": "x"}]}))
    stub.on("DELETE", "/api/v1/deployments/5", Reply(202, deployment("terminating")))
    result = stub_cli("undeploy", "chat", "--json")
    assert result.code == 0 and result.json()["state"] == "terminating"
    assert [seen.path for seen in stub.seen if seen.method == "DELETE"] == ["/api/v1/deployments/5"]


def test_undeploy_wait_treats_a_vanished_deployment_as_terminated(stub, stub_cli, fake_clock):
    stub.on("GET", "/api/v1/deployments", Reply(200, [deployment("ready")]))
    stub.on("DELETE", "/api/v1/deployments/5", Reply(204, None, raw=""))
    result = stub_cli("undeploy", "chat", "--wait", "--json")
    assert result.code == 0 and result.json()["state"] == "terminated"


def test_undeploy_of_an_unknown_name_exits_1(stub, stub_cli):
    stub.on("GET", "/api/v1/deployments", Reply(200, {"next": None, "results": []}))
    result = stub_cli("undeploy", "nope")
    assert result.code == 1 and "no live deployment named 'nope'" in result.err


def test_deployments_hides_ended_ones_unless_all(stub, stub_cli):
    stub.on("GET", "/api/v1/deployments", Reply(200, {"next": None, "results": [
        deployment("ready"), {**deployment("terminated"), "id": 4}]}))
    assert [d["id"] for d in stub_cli("deployments", "--json").json()] == [5]
    assert [d["id"] for d in stub_cli("deployments", "--all", "--json").json()] == [5, 4]


def test_usage_csv_is_passed_through_unchanged(stub, stub_cli):
    csv_text = "day,kind,id,cost\n2026-11-22,rental,42,12.50\n"
    stub.on("GET", "/api/v1/usage", Reply(200, raw=csv_text, headers={"Content-Type": "text/csv"}))
    result = stub_cli("usage", "--csv")
    assert result.code == 0 and result.out == csv_text
    assert stub.seen[0].query == "format=csv"


def test_usage_renders_rows_as_a_table_and_totals_as_lines(stub, stub_cli):
    stub.on("GET", "/api/v1/usage", Reply(200, {"total": "12.50", "results": [
        {"day": "2026-11-22", "kind": "rental", "id": 42, "cost": "12.50"}]}))
    result = stub_cli("usage")
    assert result.out.splitlines()[0].split() == ["DAY", "KIND", "ID", "COST"]
    assert "total: 12.50" in result.out


def test_usage_csv_and_json_together_is_a_usage_error(stub_cli):
    assert stub_cli("usage", "--csv", "--json").code == 2


def test_deploy_name_conflict_prints_the_field_and_exits_1(stub, stub_cli):
    stub.on("POST", "/api/v1/deployments", Reply(409, {"errors": {"name": ["a live deployment is called chat"]}}))
    result = stub_cli("deploy", "m", "--name", "chat")
    assert result.code == 1 and "  name: a live deployment is called chat" in result.err


def test_deploy_spot_and_max_hours_are_sent_only_when_given(stub, stub_cli):
    stub.on("POST", "/api/v1/deployments", Reply(202, deployment("pending")))
    stub_cli("deploy", "m", "--name", "chat")
    stub_cli("deploy", "m", "--name", "chat", "--spot", "--max-hours", "4")
    plain, tuned = (seen.body for seen in stub.calls("POST", "/api/v1/deployments"))
    assert "spot" not in plain and "max_hours" not in plain
    assert tuned["spot"] is True and tuned["max_hours"] == 4


def test_deploy_spot_with_on_demand_fallback(stub, stub_cli):
    stub.on("POST", "/api/v1/deployments", Reply(202, deployment("pending")))
    assert stub_cli("deploy", "m", "--name", "chat", "--spot", "--spot-fallback").code == 0
    body = stub.calls("POST", "/api/v1/deployments")[0].body
    assert body["spot"] is True and body["spot_fallback"] is True
