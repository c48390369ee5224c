"""The CLI against the real broker (pytest-django live_server): catalogue reads, matching, auth."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_offers_json_returns_the_offers_of_active_partners_cheapest_first(live_cli, cli_catalogue):
    result = live_cli("offers", "--gpu", "H100", "--json")
    assert result.code == 0, result.err
    offers = result.json()
    assert [(o["partner"], o["instance_type"]) for o in offers] == [("lambda", "gpu_8x_h100"), ("nimbus", "h100x8")]
    assert offers[0]["id"] == cli_catalogue["h100_tex"].id and offers[0]["price_per_gpu_hour"] == 2.99


def test_offers_filters_reach_the_database_query(live_cli, cli_catalogue):
    eu = live_cli("offers", "--jurisdiction", "eu", "--json").json()
    assert {o["instance_type"] for o in eu} == {"h100x8", "l4x1"} and {o["partner"] for o in eu} == {"nimbus"}
    spot = live_cli("offers", "--spot", "--json").json()
    assert [o["id"] for o in spot] == [cli_catalogue["l4_fra"].id]


def test_offers_table_lists_each_offer_once(live_cli, cli_catalogue):
    result = live_cli("offers")
    assert result.code == 0
    assert len(result.out.splitlines()) == 1 + 3 and "gpu_8x_h100" in result.out


def test_invalid_offer_filter_is_reported_by_field_with_exit_2(live_cli, cli_catalogue):
    result = live_cli("offers", "--country", "Germany")
    assert result.code == 2
    assert "country:" in result.err


def test_match_json_ranks_placements_and_explains_exclusions(live_cli, cli_catalogue):
    result = live_cli("match", "--gpu", "H100", "--gpus-per-node", "8", "--jurisdiction", "EU", "--json")
    assert result.code == 0, result.err
    answer = result.json()
    assert [p["offer"]["id"] for p in answer["placements"]] == [cli_catalogue["h100_fra"].id]
    assert answer["explanation"]["matched"] == 1
    assert sum(answer["explanation"]["excluded"].values()) >= 2


def test_match_with_no_placement_exits_3_and_names_the_rules(live_cli, cli_catalogue):
    result = live_cli("match", "--gpu", "H100", "--gpus-per-node", "8", "--jurisdiction", "EU",
                      "--max-price", "1")
    assert result.code == 3
    assert "excluded by" in result.err


def test_match_request_error_names_the_field(live_cli, cli_catalogue):
    result = live_cli("match", "--gpu", "H100", "--country", "XX")
    assert result.code == 2
    assert "policy.countries" in result.err


def test_revoked_or_wrong_api_key_exits_6(cli, live_server, owner, cli_catalogue):
    result = cli("--url", live_server.url, "--api-key", "gpub_000000000000_wrong", "match", "--gpu", "H100")
    assert result.code == 6


def test_login_against_the_live_broker_stores_a_working_key(cli, live_server, owner, isolated_config):
    assert cli("login", "--url", live_server.url, "--api-key", owner.token).code == 0
    assert isolated_config.exists()
    result = cli("offers", "--json")  # no flags, no env: the saved config is used
    assert result.code == 0 and result.json() == []


def test_usage_json_and_csv_from_the_live_broker(live_cli, owner):
    document = live_cli("usage", "--json").json()
    assert document["total"] == 0 and document["rows"] == []
    csv_result = live_cli("usage", "--csv")
    assert csv_result.code == 0 and csv_result.out.splitlines()[0].startswith("day,")


def test_deployments_list_is_empty_for_a_new_workspace(live_cli, owner):
    result = live_cli("deployments", "--json")
    assert result.code == 0 and result.json() == []
