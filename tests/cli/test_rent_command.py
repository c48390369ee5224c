"""`rent`, `status`, `terminate` against a scripted loopback broker: exit codes, JSON, idempotency, waiting."""

import re

import pytest

from tests.cli.conftest import Reply

RENT = ("rent", "--gpu", "H100", "--gpus-per-node", "8", "--jurisdiction", "EU", "--max-price", "3.5",
        "--max-hours", "2")


def rental(state, **extra):
    return {"id": 42, "state": state, "request": {"gpu": "H100"}, "nodes": [], "events": [],
            "locked_price_per_hour": "23.9200", "cost_so_far": "0.00", **extra}


def test_rent_posts_the_request_with_max_hours_and_a_fresh_idempotency_key_each_time(stub, stub_cli):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    assert stub_cli(*RENT).code == 0
    assert stub_cli(*RENT).code == 0
    first, second = stub.calls("POST", "/api/v1/rentals")
    assert first.body["max_hours"] == 2 and first.body["gpus_per_node"] == 8
    assert first.body["policy"]["jurisdictions"] == ["EU"] and first.body["max_price_per_gpu_hour"] == 3.5
    assert first.headers["Idempotency-Key"] != second.headers["Idempotency-Key"]


def test_pinned_idempotency_key_is_sent_unchanged(stub, stub_cli):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    stub_cli(*RENT, "--idempotency-key", "ci-pipeline-981-rent")
    stub_cli(*RENT, "--idempotency-key", "ci-pipeline-981-rent")
    keys = {seen.headers["Idempotency-Key"] for seen in stub.calls("POST", "/api/v1/rentals")}
    assert keys == {"ci-pipeline-981-rent"}


def test_rent_wait_json_polls_until_running_and_prints_one_document(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    stub.on("GET", "/api/v1/rentals/42", Reply(200, rental("provisioning")),
            Reply(200, rental("running", nodes=[{"id": 7, "state": "running", "ssh": "ssh ubuntu@10.0.0.7"}])))
    result = stub_cli(*RENT, "--wait", "--json", "--poll-interval", "5s")
    assert result.code == 0
    assert result.json()["state"] == "running" and result.json()["nodes"][0]["ssh"] == "ssh ubuntu@10.0.0.7"
    assert fake_clock.sleeps == [5, 5]
    states = re.findall(r"Z rental 42: (\w+)$", result.err, flags=re.M)
    assert states == ["pending", "provisioning", "running"]


def test_rent_wait_timeout_exits_4_with_state_and_terminate_command(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    stub.on("GET", "/api/v1/rentals/42", Reply(200, rental("provisioning")))
    result = stub_cli(*RENT, "--wait", "--timeout", "15m", "--poll-interval", "1m")
    assert result.code == 4
    assert "still provisioning" in result.err and "keeps running" in result.err
    assert "brokerctl terminate 42" in result.err
    assert sum(fake_clock.sleeps) == 900
    assert result.out == ""


def test_rent_wait_timeout_json_keeps_the_rental_id_for_cleanup(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    stub.on("GET", "/api/v1/rentals/42", Reply(200, rental("provisioning")))
    document = stub_cli(*RENT, "--wait", "--timeout", "90s", "--json").json()
    assert document["id"] == 42 and document["state"] == "provisioning"
    assert document["error"] == {"kind": "timeout", "exit_code": 4, "message": document["error"]["message"],
                                 "state": "provisioning", "terminate": "brokerctl terminate 42"}


def test_failed_rental_exits_5_with_the_reason(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    stub.on("GET", "/api/v1/rentals/42", Reply(200, rental("failed", failure_reason="partner error: quota")))
    result = stub_cli(*RENT, "--wait")
    assert result.code == 5 and "partner error: quota" in result.err


def test_rental_that_ran_out_of_capacity_everywhere_exits_3(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    stub.on("GET", "/api/v1/rentals/42",
            Reply(200, rental("failed", failure_reason="no capacity: all 3 candidates are out of capacity")))
    result = stub_cli(*RENT, "--wait", "--json")
    assert result.code == 3
    assert result.json()["error"]["kind"] == "no_capacity" and result.json()["id"] == 42


def test_409_no_placement_exits_3_and_prints_the_explanation(stub, stub_cli):
    stub.on("POST", "/api/v1/rentals", Reply(409, {
        "detail": "No placement matches the request.",
        "explanation": {"considered": 50, "matched": 0, "excluded": {"price": 12, "jurisdiction": 38}}}))
    result = stub_cli(*RENT, "--wait")
    assert result.code == 3
    assert "No placement matches" in result.err
    assert result.err.index("excluded by jurisdiction: 38") < result.err.index("excluded by price: 12")


def test_400_names_each_invalid_field_and_exits_2(stub, stub_cli):
    stub.on("POST", "/api/v1/rentals", Reply(400, {"errors": {"gpu": ["Unknown GPU model 'H1000'."],
                                                              "policy": {"countries": ["'XX' is not a country."]}}}))
    result = stub_cli(*RENT)
    assert result.code == 2
    assert "  gpu: Unknown GPU model 'H1000'." in result.err
    assert "  policy: countries: 'XX' is not a country." in result.err


def test_ssh_public_key_file_is_sent_and_private_keys_are_refused(stub, stub_cli, tmp_path):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    public = tmp_path / "id.pub"
    public.write_text("ssh-ed25519 AAAAC3Nz ci@example\n")
    assert stub_cli(*RENT, "--ssh-public-key", str(public)).code == 0
    assert stub.calls("POST", "/api/v1/rentals")[0].body["ssh_public_key"] == "ssh-ed25519 AAAAC3Nz ci@example"
    private = tmp_path / "id"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    result = stub_cli(*RENT, "--ssh-public-key", str(private))
    assert result.code == 2 and "private key" in result.err and len(stub.seen) == 1


def test_json_output_is_only_the_document_even_with_retries(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/rentals", Reply(503, {}), Reply(202, rental("pending")))
    result = stub_cli(*RENT, "--json")
    assert result.code == 0 and result.json()["id"] == 42
    assert "HTTP 503" in result.err and fake_clock.sleeps == [1.0]


def test_auth_failure_exits_6(stub, stub_cli):
    stub.on("POST", "/api/v1/rentals", Reply(403, {"detail": "You do not have permission."}))
    assert stub_cli(*RENT).code == 6


def test_status_prints_nodes_and_events(stub, stub_cli):
    stub.on("GET", "/api/v1/rentals/42", Reply(200, rental(
        "running", nodes=[{"id": 7, "state": "running", "health": "healthy", "ssh": "ssh ubuntu@10.0.0.7"}],
        events=[{"at": "2026-11-22T12:00:00Z", "from": "pending", "to": "provisioning", "reason": "placed"}])))
    result = stub_cli("status", "42", "--events")
    assert result.code == 0
    assert "rental 42: running" in result.out and "ssh ubuntu@10.0.0.7" in result.out
    assert "pending -> provisioning  placed" in result.out


def test_status_rejects_a_non_numeric_id(stub_cli):
    assert stub_cli("status", "../../admin").code == 2


def test_terminate_wait_polls_until_terminated(stub, stub_cli, fake_clock):
    stub.on("POST", "/api/v1/rentals/42/terminate", Reply(202, rental("terminating")))
    stub.on("GET", "/api/v1/rentals/42", Reply(200, rental("terminating")), Reply(200, rental("terminated")))
    result = stub_cli("terminate", "42", "--wait", "--json")
    assert result.code == 0 and result.json()["state"] == "terminated"


def test_rentals_lists_a_table_across_pages(stub, stub_cli):
    stub.on("GET", "/api/v1/rentals",
            Reply(200, {"count": 2, "next": f"{stub.url}/api/v1/rentals?page=2", "results": [rental("running")]}),
            Reply(200, {"count": 2, "next": None, "results": [{**rental("terminated"), "id": 41}]}))
    result = stub_cli("rentals")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "GPU"]
    assert [line.split()[0] for line in lines[1:]] == ["42", "41"]


@pytest.mark.parametrize("state", ["running", "terminated"])
def test_rentals_state_filter_is_applied(stub, stub_cli, state):
    stub.on("GET", "/api/v1/rentals", Reply(200, {"next": None, "results": [
        rental("running"), {**rental("terminated"), "id": 41}]}))
    document = stub_cli("rentals", "--state", state, "--json").json()
    assert [item["state"] for item in document] == [state]


def test_spot_fallback_is_sent_only_when_asked(stub, stub_cli):
    stub.on("POST", "/api/v1/rentals", Reply(202, rental("pending")))
    stub_cli(*RENT, "--spot", "--spot-fallback")
    stub_cli(*RENT, "--spot")
    with_fallback, spot_only = (seen.body for seen in stub.calls("POST", "/api/v1/rentals"))
    assert with_fallback["spot"] is True and with_fallback["spot_fallback"] is True
    assert spot_only["spot"] is True and "spot_fallback" not in spot_only
