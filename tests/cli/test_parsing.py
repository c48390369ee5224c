import json
import subprocess
import sys

from broker.cli.main import build_parser
from broker.cli.placement import placement_request


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_rent_options_build_the_design_placement_request():
    args = parse("rent", "--gpu", "H100", "--gpus-per-node", "8", "--nodes", "2", "--jurisdiction", "eu",
                 "--max-price", "3.5", "--max-hours", "2", "--country", "de,fr", "--country", "NL",
                 "--partner", "lambda", "--deny-partner", "acme,shady", "--partner-hq", "EU",
                 "--certification", "ISO27001", "--region", "eu-central-1", "--interconnect", "infiniband",
                 "--spot", "--near", "50.1,8.7", "--min-gpu-memory", "80", "--architecture", "hopper")
    assert placement_request(args) == {
        "gpu": "H100", "min_gpu_memory_gb": 80, "gpus_per_node": 8, "nodes": 2, "spot": True,
        "max_price_per_gpu_hour": 3.5, "architecture": "hopper", "interconnect": "infiniband",
        "near": {"lat": 50.1, "lon": 8.7},
        "policy": {
            "regions": ["eu-central-1"], "countries": ["DE", "FR", "NL"], "jurisdictions": ["EU"],
            "partners": {"allow": ["lambda"], "deny": ["acme", "shady"]},
            "partner_hq_jurisdictions": ["EU"], "certifications": ["ISO27001"],
        },
    }


def test_request_defaults_leave_policy_unrestricted():
    request = placement_request(parse("match", "--gpu", "L4"))
    assert request["gpus_per_node"] == 1 and request["nodes"] == 1 and request["spot"] is False
    assert request["policy"]["countries"] == [] and request["policy"]["partners"] == {"allow": [], "deny": []}
    assert "near" not in request and "interconnect" not in request


def test_global_options_work_before_or_after_the_command():
    before = parse("--json", "--url", "http://a", "rentals")
    after = parse("rentals", "--json", "--url", "http://a")
    assert before.json and after.json and before.url == after.url == "http://a"
    assert parse("rentals").json is False


def test_match_without_any_gpu_criterion_exits_2(cli):
    result = cli("--url", "http://127.0.0.1:9", "--api-key", "k", "match", "--nodes", "2")
    assert result.code == 2
    assert "--gpu" in result.err


def test_bad_near_is_a_usage_error(cli):
    result = cli("match", "--gpu", "H100", "--near", "frankfurt")
    assert result.code == 2 and "LAT,LON" in result.err


def test_rent_requires_max_hours(cli):
    result = cli("rent", "--gpu", "H100")
    assert result.code == 2 and "--max-hours" in result.err


def test_usage_error_with_json_prints_one_json_error_document(cli):
    result = cli("rent", "--gpu", "H100", "--json")
    assert result.code == 2
    assert result.json()["error"]["kind"] == "usage"
    assert result.json()["error"]["exit_code"] == 2


def test_unknown_command_exits_2(cli):
    assert cli("explode").code == 2


def test_every_command_has_help_that_describes_its_options(cli):
    commands = ["offers", "match", "rent", "rentals", "status", "terminate", "deploy", "deployments",
                "undeploy", "usage", "login"]
    top = cli("--help")
    assert top.code == 0
    for command in commands:
        assert command in top.out
        result = cli(command, "--help")
        assert result.code == 0 and "--json" in result.out and "--url" in result.out
    assert "--idempotency-key" in cli("rent", "--help").out
    assert "exit codes" in top.out


def test_python_m_broker_cli_help_runs_in_a_subprocess():
    completed = subprocess.run([sys.executable, "-m", "broker.cli", "--help"], capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0
    assert completed.stdout.startswith("usage: brokerctl")


def test_python_m_broker_cli_json_error_is_the_only_stdout(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "broker.cli", "rentals", "--json"], capture_output=True,
                               text=True, timeout=60, env={"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin"})
    assert completed.returncode == 2
    assert json.loads(completed.stdout)["error"]["kind"] == "config"
