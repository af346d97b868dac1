"""Settings come from defaults, a TOML file, SMSGATE_* variables and flags, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from smsgate.config import Settings, SettingsFileError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith("smsgate-data/smsgate.db")
    assert [c.kind for c in settings.channels] == ["simulator"]


def test_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(
        'host = "0.0.0.0"\nport = 9000\ndata_dir = "/srv/sms"\n'
        '[[channels]]\nname = "sim"\nkind = "simulator"\ndelivery_delay = 3\n'
        "[dispatcher]\nbatch_size = 50\n"
    )
    settings = load_settings(config)
    assert (settings.host, settings.port, str(settings.data_dir)) == ("0.0.0.0", 9000, "/srv/sms")
    assert settings.channels[0].options == {"delivery_delay": 3}
    assert settings.dispatcher.batch_size == 50

    monkeypatch.setenv("SMSGATE_PORT", "9100")
    monkeypatch.setenv("SMSGATE_DATABASE_URL", "postgresql://db/sms")
    monkeypatch.setenv("SMSGATE_DISPATCHER__BATCH_SIZE", "70")
    settings = load_settings(config)
    assert settings.port == 9100
    assert settings.resolved_database_url == "postgresql://db/sms"
    assert settings.dispatcher.batch_size == 70

    settings = load_settings(config, port=9200, host=None)
    assert (settings.host, settings.port) == ("0.0.0.0", 9200)


def test_settings_file_from_environment_and_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smsgate.toml").write_text("port = 7000\n")
    assert load_settings().port == 7000
    other = tmp_path / "other.toml"
    other.write_text("port = 7100\n")
    monkeypatch.setenv("SMSGATE_CONFIG", str(other))
    assert load_settings().port == 7100


def test_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SettingsFileError, match="not found"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(bad)
    dup = tmp_path / "dup.toml"
    dup.write_text(
        '[[channels]]\nname="a"\nkind="simulator"\n[[channels]]\nname="a"\nkind="simulator"\n'
    )
    with pytest.raises(ValidationError, match="unique"):
        load_settings(dup)


def test_channel_options_are_checked_at_start() -> None:
    from smsgate.channels.registry import ChannelConfigError, build_channel
    from smsgate.config import ChannelSettings
    from smsgate.core.clock import SystemClock

    def build(**options: object) -> object:
        settings = ChannelSettings(name="s", kind="simulator", **options)
        return build_channel(settings, sink=None, clock=SystemClock())  # type: ignore[arg-type]

    assert build(rate="0.0035").options.rate == "0.00350"  # type: ignore[attr-defined]
    for bad in (
        {"rate": "free"},
        {"rate": "-1"},
        {"rate": "0.000001"},
        {"failure_codes": ["123456789"]},
        {"reject_codes": ["x1"]},
        {"account": "not-an-id"},
        {"max_in_flight": 0},
        {"send_timeout": 0},
        {"colour": "blue"},
    ):
        with pytest.raises(ChannelConfigError):
            build(**bad)


def test_default_channel_must_exist(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('default_channel = "modem"\n[[channels]]\nname = "sim"\nkind = "simulator"\n')
    with pytest.raises(ValidationError, match="default_channel 'modem'"):
        load_settings(config)


def test_the_balance_channel_must_exist() -> None:
    with pytest.raises(ValueError, match="balance_channel 'stick'"):
        Settings(smssender={"balance_channel": "stick"})
