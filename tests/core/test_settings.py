import pytest
from pydantic import ValidationError

from callcenter.settings import SettingsError, load_settings


def test_defaults_are_valid_and_frozen():
    settings = load_settings(environ={})
    assert settings.ami.port == 5038
    with pytest.raises(ValidationError):
        settings.ami.port = 1


def test_layers_file_then_environment_then_overrides(tmp_path):
    path = tmp_path / "cc.toml"
    path.write_text('[ami]\nport = 6000\nhost = "pbx"\n[web]\nhttp_port = 9000\n')
    settings = load_settings(path, environ={"CALLCENTER_AMI__PORT": "7000"},
                             overrides={"web": {"http_port": 9100}})
    assert (settings.ami.host, settings.ami.port, settings.web.http_port) == ("pbx", 7000, 9100)


def test_every_problem_is_reported_at_once_with_its_key(tmp_path):
    path = tmp_path / "cc.toml"
    path.write_text('[ami]\nport = "x"\nsecrett = "s"\n[routing]\nring_timeout = 0\n')
    with pytest.raises(SettingsError) as info:
        load_settings(path, environ={})
    text = str(info.value)
    assert "ami.port" in text and "ami.secrett" in text and "routing.ring_timeout" in text


def test_secret_never_shows_in_repr():
    settings = load_settings(environ={"CALLCENTER_AMI__SECRET": "hunter2"})
    assert "hunter2" not in repr(settings)
    assert settings.ami.secret.get_secret_value() == "hunter2"


def test_menu_pointing_to_unknown_queue_is_refused():
    with pytest.raises(SettingsError, match="unknown queue 'billing'"):
        load_settings(environ={}, overrides={
            "ivr": {"options": [{"digit": "1", "label": "billing", "queue": "billing"}]}})


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="no such settings file"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_shipped_settings_file_matches_the_defaults():
    from pathlib import Path

    import config

    shipped = load_settings(Path(config.__file__).parent / "callcenter.toml", environ={})
    assert shipped == load_settings(environ={})


def test_environment_variables_of_other_tools_are_ignored_but_wrong_keys_are_not():
    settings = load_settings(environ={"CALLCENTER_CI_VENV": "/tmp/v",
                                      "CALLCENTER_SHARED": "/x"})
    assert settings.ami.port == 5038
    with pytest.raises(SettingsError, match="ami.prot"):
        load_settings(environ={"CALLCENTER_AMI__PROT": "1"})
