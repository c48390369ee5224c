import os
import stat

import pytest

from broker.cli.config import Config, config_path, read_config_file, resolve_config, write_config_file
from broker.cli.errors import AuthError, ConfigError
from tests.cli.conftest import Reply


def test_config_path_follows_xdg_then_home(tmp_path):
    assert config_path({"XDG_CONFIG_HOME": "/x"}) == config_path({"XDG_CONFIG_HOME": "/x", "HOME": "/h"})
    assert str(config_path({"XDG_CONFIG_HOME": "/x"})) == "/x/brokerctl/config.json"
    assert str(config_path({"HOME": "/h"})) == "/h/.config/brokerctl/config.json"


def test_written_config_is_owner_only_even_if_it_existed_world_readable(tmp_path):
    path = tmp_path / "brokerctl" / "config.json"
    path.parent.mkdir()
    path.write_text("{}")
    os.chmod(path, 0o644)
    write_config_file(path, url="http://b", api_key="gpub_x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_config_file(path) == {"url": "http://b", "api_key": "gpub_x"}


def test_new_config_directory_is_owner_only(tmp_path):
    path = tmp_path / "fresh" / "config.json"
    write_config_file(path, url="http://b", api_key="k")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_group_or_world_readable_config_is_refused_with_the_fix(tmp_path, mode):
    path = tmp_path / "config.json"
    path.write_text('{"url": "http://b", "api_key": "k"}')
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_config_file(path)


def test_insecure_config_file_makes_commands_exit_2(cli, isolated_config):
    write_config_file(isolated_config, url="http://127.0.0.1:9", api_key="k")
    os.chmod(isolated_config, 0o644)
    result = cli("rentals")
    assert result.code == 2
    assert "refusing to read" in result.err and "group/others" in result.err


def test_flags_beat_environment_beat_file(isolated_config):
    write_config_file(isolated_config, url="http://file", api_key="file-key")
    env = {"XDG_CONFIG_HOME": str(isolated_config.parent.parent), "BROKER_URL": "http://env"}
    assert resolve_config(url_flag=None, key_flag=None, environ=env) == Config("http://env", "file-key")
    assert resolve_config(url_flag="http://flag/", key_flag="flag-key", environ=env).url == "http://flag"


def test_environment_alone_never_touches_an_insecure_file(isolated_config):
    write_config_file(isolated_config, url="http://file", api_key="file-key")
    os.chmod(isolated_config, 0o666)
    env = {"XDG_CONFIG_HOME": str(isolated_config.parent.parent), "BROKER_URL": "http://env",
           "BROKER_API_KEY": "env-key"}
    assert resolve_config(url_flag=None, key_flag=None, environ=env).api_key == "env-key"


def test_missing_key_is_an_auth_error_and_missing_url_a_config_error():
    with pytest.raises(AuthError):
        resolve_config(url_flag="http://b", key_flag=None, environ={"XDG_CONFIG_HOME": "/nonexistent"})
    with pytest.raises(ConfigError):
        resolve_config(url_flag=None, key_flag="k", environ={"XDG_CONFIG_HOME": "/nonexistent"})


def test_login_verifies_the_key_and_stores_it_owner_only(cli, stub, isolated_config):
    stub.on("GET", "/api/v1/offers", Reply(200, {"count": 0, "next": None, "previous": None, "results": []}))
    result = cli("login", "--url", stub.url, "--api-key", "gpub_good", "--json")
    assert result.code == 0
    assert result.json() == {"url": stub.url, "config_path": str(isolated_config), "verified": True}
    assert "gpub_good" not in result.out + result.err
    assert stub.seen[0].headers["Authorization"] == "Bearer gpub_good"
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600
    assert read_config_file(isolated_config)["api_key"] == "gpub_good"


def test_login_with_a_rejected_key_exits_6_and_writes_nothing(cli, stub, isolated_config):
    stub.on("GET", "/api/v1/offers", Reply(401, {"detail": "Invalid or revoked API key."}))
    result = cli("login", "--url", stub.url, "--api-key", "gpub_bad")
    assert result.code == 6
    assert "Invalid or revoked" in result.err
    assert not isolated_config.exists()
