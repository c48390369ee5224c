"""`offers` and `match` against a scripted loopback broker."""

from urllib.parse import parse_qs

from tests.cli.conftest import Reply


def offer(offer_id, price, **extra):
    return {"id": offer_id, "partner": "lambda", "region": "us-east-1", "country": "US", "jurisdiction": "US",
            "instance_type": f"gpu_{offer_id}", "gpu": "H100", "gpu_memory_gb": 80, "gpus_per_node": 8,
            "interconnect": "nvlink", "price_per_hour": None, "spot_price_per_hour": None,
            "price_per_gpu_hour": price, "available_nodes": 2, "price_status": "ok", **extra}


def test_offers_sends_each_filter_as_the_design_query_parameter(stub, stub_cli):
    stub.on("GET", "/api/v1/offers", Reply(200, {"count": 0, "next": None, "results": []}))
    stub_cli("offers", "--gpu", "H100", "--min-gpus", "8", "--min-gpu-memory", "80", "--architecture", "hopper",
             "--form-factor", "nvl", "--partner", "lambda", "--region", "us-east-1", "--country", "de", "--jurisdiction", "eu", "--spot",
             "--max-price", "3.5", "--interconnect", "infiniband", "--ordering=-available_nodes", "--limit", "20")
    query = {key: values[0] for key, values in parse_qs(stub.seen[0].query).items()}
    assert query == {"gpu": "H100", "min_gpus": "8", "min_gpu_memory_gb": "80", "architecture": "hopper",
                     "form_factor": "nvl", "partner": "lambda", "region": "us-east-1", "country": "DE", "jurisdiction": "EU",
                     "spot": "true", "max_price_per_gpu_hour": "3.5", "interconnect": "infiniband",
                     "ordering": "-available_nodes", "page_size": "20"}


def test_offers_table_is_sorted_by_price_per_gpu_hour(stub, stub_cli):
    stub.on("GET", "/api/v1/offers", Reply(200, {"next": None, "results": [
        offer(1, "4.1000"), offer(2, "2.4900"), offer(3, None)]}))
    result = stub_cli("offers")
    assert result.code == 0
    assert [line.split()[0] for line in result.out.splitlines()[1:]] == ["2", "1", "3"]
    assert "2.490" in result.out


def test_offers_table_shows_the_form_factor_and_every_digit_of_the_price(stub, stub_cli):
    stub.on("GET", "/api/v1/offers", Reply(200, {"next": None, "results": [
        offer(1, 3.43088125, form_factor="sxm", price_per_hour=27.44705)]}))
    result = stub_cli("offers")
    header, row = result.out.splitlines()[:2]
    assert "FORM" in header and " sxm " in row
    assert "27.44705" in row and "3.43088125" in row


def test_offers_json_is_a_list_honouring_limit(stub, stub_cli):
    stub.on("GET", "/api/v1/offers", Reply(200, {"next": None, "results": [offer(i, "2.0") for i in range(5)]}))
    result = stub_cli("offers", "--json", "--limit", "3")
    assert result.code == 0 and len(result.json()) == 3


def test_match_shows_ranked_placements_and_what_each_rule_excluded(stub, stub_cli):
    stub.on("POST", "/api/v1/match", Reply(200, {
        "placements": [{"offer": offer(2, "2.49"), "nodes": 1, "price_per_hour": "19.92",
                        "price_per_gpu_hour": "2.49", "spot": False}],
        "explanation": {"considered": 10, "matched": 1, "excluded": {"jurisdiction": 7, "price": 2}}}))
    result = stub_cli("match", "--gpu", "H100", "--gpus-per-node", "8", "--jurisdiction", "US")
    assert result.code == 0
    assert stub.seen[0].body["policy"]["jurisdictions"] == ["US"]
    assert "19.92" in result.out and "considered 10 offers, matched 1" in result.out
    assert "excluded by jurisdiction: 7" in result.out


def test_match_with_no_placement_exits_3_and_json_keeps_the_explanation(stub, stub_cli):
    answer = {"placements": [], "explanation": {"considered": 10, "matched": 0, "excluded": {"gpu": 10}}}
    stub.on("POST", "/api/v1/match", Reply(200, answer))
    result = stub_cli("match", "--gpu", "B300", "--json")
    assert result.code == 3
    assert result.json()["explanation"] == answer["explanation"]
    assert result.json()["error"]["kind"] == "no_capacity"
