"""Settings: defaults, sources and their precedence, validation as one-line UsageErrors, masking.

No event loop and no network: the TLS tests only build contexts from the throwaway
certificate below (self-signed, generated for these tests; the key protects nothing).
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from stream_sentinel.config import MASK, Settings
from stream_sentinel.core.errors import UsageError
from stream_sentinel.worker.credentials import faust_credentials

SECRET = "hunter2-do-not-print"
KEY_PASSWORD = "test-key-pass"

CERT_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIUc859QefsA57qNCuKaacwfQMo12owCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNc2VudGluZWwtdGVzdDAgFw0yNjExMjExOTI2MDRaGA8yMTI2
MTAyODE5MjYwNFowGDEWMBQGA1UEAwwNc2VudGluZWwtdGVzdDBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABJ1bR9cYgcax1dhoX7TAxfwAszC0bQad95jKr4rduSNl
FDxsebFQKVevztFwf4cgQp2RamWs/NOfNSdupRiNLBujUzBRMB0GA1UdDgQWBBQY
U5ExowZzpLGPTdG/54DC6tlUCDAfBgNVHSMEGDAWgBQYU5ExowZzpLGPTdG/54DC
6tlUCDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDdBkRvQqpG
2gkYkXDw6GWBwxvP7/6peyAh3ne0ze80JwIhAOJ6lExpc3UaXST3b24auSadE6Pu
Nv5ISZ5i3DAQ9UIT
-----END CERTIFICATE-----
"""
KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgleZuws2erC1MOtaG
A2HFZGxoxRHVpF6QJVxmoqY+oJuhRANCAASdW0fXGIHGsdXYaF+0wMX8ALMwtG0G
nfeYyq+K3bkjZRQ8bHmxUClXr87RcH+HIEKdkWplrPzTnzUnbqUYjSwb
-----END PRIVATE KEY-----
"""
ENCRYPTED_KEY_PEM = """\
-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhLG3xWs2TcfwICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEHIX+fnkq+SAZvQsoLV3sEQEgZCm
mULlDyH30yampxYoEmdGiItjwSazR04p8dQx5yrZbUBhZlgKt2NnZm80m0DNRynf
tV0a1kn+B7r/GOKAgoSdCnlzDvhv512ifuRuA+kuN5SS36vUy2tTN27y24xN5aIW
gAYGObF0/fKU5NCUmNUH9QwMQRYnHlyo25snGJ+oDPQcDJhY6VV49+Zz3QylDPY=
-----END ENCRYPTED PRIVATE KEY-----
"""

DEFAULTS: dict[str, Any] = {
    "bootstrap_servers": "localhost:9092",
    "security_protocol": "PLAINTEXT",
    "sasl_mechanism": "PLAIN",
    "sasl_username": None,
    "sasl_password": None,
    "ssl_cafile": None,
    "ssl_certfile": None,
    "ssl_keyfile": None,
    "ssl_key_password": None,
    "ssl_check_hostname": True,
    "spec_dir": Path("spec/events"),
    "spec_watch": 0.0,
    "app_id": "stream-sentinel",
    "drift_topic": "sentinel.drift",
    "drift_topic_partitions": 6,
    "replication_factor": 1,
    "internal_partitions": 8,
    "subscribe_pattern": None,
    "missing_topics": "warn",
    "registry_url": None,
    "registry_username": None,
    "registry_password": None,
    "registry_token": None,
    "registry_ca_file": None,
    "alert_mode": "first",
    "min_severity": "info",
    "tumbling_window": 60.0,
    "hopping_window": 3600.0,
    "hopping_step": 300.0,
    "alert_routes": (),
    "alert_interval": 3600.0,
    "alert_queue_size": 1000,
    "alert_retries": 4,
    "alert_backoff": 1.0,
    "alert_timeout": 10.0,
    "alert_probes": False,
    "dashboard_url": None,
    "dashboard_enabled": True,
    "dashboard_lookback": 21600.0,
    "dashboard_max_records": 50_000,
    "dashboard_max_bytes": 64 * 1024 * 1024,
    "dashboard_refresh": 30,
    "dashboard_consumers_interval": 60.0,
    "probe_interval": 0.0,
    "probe_topic": None,
    "probe_examples": Path("replay/captures"),
    "probe_timeout": 60.0,
    "batch_size": 1000,
    "batch_within": 0.2,
    "raw_prefix": 0,
    "max_violations_per_message": 100,
    "max_payload_bytes": 16 * 1024 * 1024,
    "web_enabled": True,
    "web_host": "127.0.0.1",
    "web_port": 6066,
    "web_idle_timeout": 15.0,
    "web_response_timeout": 30.0,
    "web_error_log_interval": 60.0,
    "data_dir": Path(".sentinel-data"),
    "log_level": "info",
    "log_format": "text",
    "session_timeout": 10.0,
    "heartbeat_interval": 3.0,
    "rebalance_timeout": 60.0,
    "producer_max_batch_size": None,
    "publish_retry_backoff_max": 5.0,
    "producer_max_request_size": 1_000_000,
    "max_event_types_per_topic": 100,
    "max_fingerprints": 500,
    "max_drift_view_keys": 1000,
    "rules_enabled": False,
    "rules_entity_ttl": 7 * 86400.0,
    "rules_max_entities": 200_000,
    "connect_timeout": 15.0,
    "shutdown_grace": 15.0,
    "fetch_max_bytes": 4 * 1024 * 1024,
    "event_loop": "asyncio",
    "stream_buffer": 16384,
}

SASL = {"security_protocol": "SASL_SSL", "sasl_username": "svc-sentinel", "sasl_password": SECRET}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SENTINEL_* variable of the developer's shell leaks in; relative paths land in tmp."""
    for name in list(os.environ):
        if name.upper().startswith("SENTINEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(*args: Any, **overrides: Any) -> str:
    """The UsageError message of a load that must fail; checks it is one clean line."""
    with pytest.raises(UsageError) as info:
        Settings.load(*args, **overrides)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in message
    assert "pydantic" not in message
    assert "Traceback" not in message
    assert SECRET not in message
    return message


# -- defaults ---------------------------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    settings = Settings.load()
    assert {name: getattr(settings, name) for name in Settings.model_fields} == DEFAULTS


def test_every_setting_is_documented() -> None:
    assert set(Settings.model_fields) == set(DEFAULTS)
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert len(field.description) > 30, name  # says what it is and why the default


def test_settings_are_frozen() -> None:
    settings = Settings.load()
    with pytest.raises(ValidationError):
        settings.web_port = 1


def test_settings_without_load_read_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_WEB_PORT", "7000")
    assert Settings().web_port == 7000
    assert Settings(web_port=7001).web_port == 7001


# -- environment ------------------------------------------------------------------------------


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SENTINEL_BOOTSTRAP_SERVERS": " b1:9092 , b2:9093 ",
        "SENTINEL_SECURITY_PROTOCOL": "sasl_ssl",
        "SENTINEL_SASL_MECHANISM": "scram-sha-512",
        "SENTINEL_SASL_USERNAME": "svc",
        "SENTINEL_SASL_PASSWORD": SECRET,
        "SENTINEL_SSL_CHECK_HOSTNAME": "false",
        "SENTINEL_SPEC_DIR": "/app/spec/events",
        "SENTINEL_APP_ID": "sentinel-prod",
        "SENTINEL_DRIFT_TOPIC": "drift.v1",
        "SENTINEL_DRIFT_TOPIC_PARTITIONS": "12",
        "SENTINEL_REPLICATION_FACTOR": "3",
        "SENTINEL_INTERNAL_PARTITIONS": "16",
        "SENTINEL_SUBSCRIBE_PATTERN": r"^legacy\..*",
        "SENTINEL_ALERT_MODE": "EVERY",
        "SENTINEL_MIN_SEVERITY": "Warning",
        "SENTINEL_TUMBLING_WINDOW": "30",
        "SENTINEL_HOPPING_WINDOW": "600",
        "SENTINEL_HOPPING_STEP": "60",
        "SENTINEL_BATCH_SIZE": "500",
        "SENTINEL_BATCH_WITHIN": "0.05",
        "SENTINEL_RAW_PREFIX": "16",
        "SENTINEL_WEB_ENABLED": "0",
        "SENTINEL_WEB_HOST": "0.0.0.0",
        "SENTINEL_WEB_PORT": "8080",
        "SENTINEL_DATA_DIR": "/data",
        "SENTINEL_LOG_LEVEL": "DEBUG",
        "SENTINEL_LOG_FORMAT": "json",
        "SENTINEL_SESSION_TIMEOUT": "2",
        "SENTINEL_HEARTBEAT_INTERVAL": "0.5",
        "SENTINEL_REBALANCE_TIMEOUT": "4",
        "SENTINEL_PRODUCER_MAX_BATCH_SIZE": "1",
        "SENTINEL_PUBLISH_RETRY_BACKOFF_MAX": "1.5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings.load()
    assert s.bootstrap_servers == "b1:9092,b2:9093"
    assert (s.security_protocol, s.sasl_mechanism, s.sasl_username) == ("SASL_SSL", "SCRAM-SHA-512", "svc")
    assert isinstance(s.sasl_password, SecretStr)
    assert s.sasl_password.get_secret_value() == SECRET
    assert s.ssl_check_hostname is False
    assert s.spec_dir == Path("/app/spec/events")
    assert (s.app_id, s.drift_topic) == ("sentinel-prod", "drift.v1")
    assert (s.drift_topic_partitions, s.replication_factor, s.internal_partitions) == (12, 3, 16)
    assert s.subscribe_pattern == r"^legacy\..*"
    assert (s.alert_mode, s.min_severity) == ("every", "warning")
    assert (s.tumbling_window, s.hopping_window, s.hopping_step) == (30.0, 600.0, 60.0)
    assert (s.batch_size, s.batch_within, s.raw_prefix) == (500, 0.05, 16)
    assert (s.web_enabled, s.web_host, s.web_port) == (False, "0.0.0.0", 8080)
    assert s.data_dir == Path("/data")
    assert (s.log_level, s.log_format) == ("debug", "json")
    assert (s.session_timeout, s.heartbeat_interval, s.rebalance_timeout) == (2.0, 0.5, 4.0)
    assert (s.producer_max_batch_size, s.publish_retry_backoff_max) == (1, 1.5)


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("sentinel_web_port", "7007")
    assert Settings.load().web_port == 7007


def test_empty_environment_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_WEB_PORT", "")
    monkeypatch.setenv("SENTINEL_SUBSCRIBE_PATTERN", "")
    monkeypatch.setenv("SENTINEL_CONFIG", "")
    settings = Settings.load()
    assert settings.web_port == 6066
    assert settings.subscribe_pattern is None


def test_other_sentinel_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # The integration tests use SENTINEL_TEST_BOOTSTRAP; extra="forbid" is for files and keywords.
    monkeypatch.setenv("SENTINEL_TEST_BOOTSTRAP", "elsewhere:9092")
    monkeypatch.setenv("SENTINEL_NOT_A_SETTING", "1")
    assert Settings.load().bootstrap_servers == "localhost:9092"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("SENTINEL_WEB_PORT", "abc", "valid integer"),
        ("SENTINEL_WEB_PORT", "70000", "less than or equal to 65535"),
        ("SENTINEL_WEB_ENABLED", "maybe", "valid boolean"),
        ("SENTINEL_ALERT_MODE", "loud", "'every', 'first' or 'summary'"),
        ("SENTINEL_TUMBLING_WINDOW", "1.5", "whole number of seconds"),
        ("SENTINEL_TUMBLING_WINDOW", "nan", "finite number"),
        ("SENTINEL_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("SENTINEL_SUBSCRIBE_PATTERN", "orders(", "not a valid regular expression"),
        ("SENTINEL_BOOTSTRAP_SERVERS", "kafka://b1:9092", "without a scheme"),
        ("SENTINEL_SECURITY_PROTOCOL", "TLS", "'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL'"),
    ],
)
def test_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    message = load_error()
    assert message.startswith(f"{name}: ")
    assert fragment in message
    assert repr(value) in message  # the offending value is echoed (it is not a secret)


def test_all_errors_are_reported_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_WEB_PORT", "abc")
    monkeypatch.setenv("SENTINEL_BATCH_SIZE", "0")
    message = load_error()
    assert "SENTINEL_WEB_PORT: " in message
    assert "SENTINEL_BATCH_SIZE: " in message
    assert message.count("; ") == 1


def test_cross_field_error_names_the_variable_that_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_HOPPING_STEP", "7")
    assert (
        load_error() == "SENTINEL_HOPPING_STEP: hopping_window (3600 s) must be a whole multiple of hopping_step (7 s)"
    )


def test_cross_field_error_names_every_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write(tmp_path, "s.yaml", "session_timeout: 2\n")
    monkeypatch.setenv("SENTINEL_HEARTBEAT_INTERVAL", "2")
    message = load_error(config)
    assert message.startswith(f"SENTINEL_HEARTBEAT_INTERVAL, {config}: session_timeout: ")
    assert "heartbeat_interval (2 s) must be below session_timeout (2 s)" in message


# -- YAML file --------------------------------------------------------------------------------


def test_yaml_file_values(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "sentinel.yaml",
        "# production-like\n"
        "bootstrap_servers: [k1:9092, k2:9092]\n"
        "alert_mode: summary\n"
        "web_enabled: off\n"
        "tumbling_window: 120\n"
        "data_dir: /var/lib/sentinel\n"
        "subscribe_pattern: ~\n",
    )
    s = Settings.load(config)
    assert s.bootstrap_servers == "k1:9092,k2:9092"
    assert s.alert_mode == "summary"
    assert s.web_enabled is False
    assert s.tumbling_window == 120.0
    assert s.data_dir == Path("/var/lib/sentinel")
    assert s.subscribe_pattern is None
    assert Settings.load(str(config)) == s  # str paths too


def test_config_file_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write(tmp_path, "env.yaml", "web_port: 7100\n")
    monkeypatch.setenv("SENTINEL_CONFIG", str(config))
    assert Settings.load().web_port == 7100
    explicit = write(tmp_path, "explicit.yaml", "web_port: 7200\n")
    assert Settings.load(explicit).web_port == 7200  # the argument wins over SENTINEL_CONFIG


def test_empty_config_file_is_no_settings(tmp_path: Path) -> None:
    assert Settings.load(write(tmp_path, "empty.yaml", "# nothing yet\n")) == Settings.load()


def test_file_values_do_not_outlive_load(tmp_path: Path) -> None:
    Settings.load(write(tmp_path, "a.yaml", "web_port: 7300\n"))
    assert Settings().web_port == 6066
    assert Settings.load().web_port == 6066


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert load_error(missing) == f"{missing}: config file not found"


def test_missing_config_file_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SENTINEL_CONFIG", str(tmp_path / "nope.yaml"))
    assert "nope.yaml: config file not found" in load_error()


def test_config_file_that_is_a_directory(tmp_path: Path) -> None:
    assert load_error(tmp_path).startswith(f"{tmp_path}: cannot read config file")


@pytest.mark.parametrize(("text", "kind"), [("- web_port: 1\n", "list"), ("just text\n", "str"), ("42\n", "int")])
def test_config_file_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    config = write(tmp_path, "bad.yaml", text)
    assert load_error(config) == f"{config}: expected a mapping of setting names to values, got {kind}"


def test_config_file_with_invalid_yaml(tmp_path: Path) -> None:
    config = write(tmp_path, "bad.yaml", "web_port: 1\nalert_mode: [first\n")
    message = load_error(config)
    assert message.startswith(f"{config}: line ")
    assert "not valid YAML" in message


def test_unknown_key_in_config_file(tmp_path: Path) -> None:
    config = write(tmp_path, "typo.yaml", "web_prot: 7000\nSENTINEL_WEB_PORT: 1\n")
    message = load_error(config)
    assert f"{config}: web_prot: unknown setting (did you mean web_port?)" in message
    assert f"{config}: SENTINEL_WEB_PORT: unknown setting" in message


def test_non_string_key_in_config_file(tmp_path: Path) -> None:
    config = write(tmp_path, "keys.yaml", "6066: web_port\n")
    assert load_error(config) == f"{config}: 6066: setting names are strings"


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("web_port: 70000\n", "web_port", "less than or equal to 65535 (got 70000)"),
        ("replication_factor: 0\n", "replication_factor", "greater than or equal to 1"),
        ("alert_mode: always\n", "alert_mode", "'every', 'first' or 'summary'"),
        ("bootstrap_servers: {a: 1}\n", "bootstrap_servers", "valid string"),
        ("hopping_step: 0.5\n", "hopping_step", "whole number of seconds"),
    ],
)
def test_invalid_value_in_config_file_names_file_and_key(tmp_path: Path, text: str, field: str, fragment: str) -> None:
    config = write(tmp_path, "bad.yaml", text)
    message = load_error(config)
    assert message.startswith(f"{config}: {field}: ")
    assert fragment in message


# -- precedence -------------------------------------------------------------------------------


def test_precedence_override_env_file_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write(tmp_path, "p.yaml", "web_port: 1001\n")
    assert Settings.load().web_port == 6066
    assert Settings.load(config).web_port == 1001
    monkeypatch.setenv("SENTINEL_WEB_PORT", "1002")
    assert Settings.load(config).web_port == 1002
    assert Settings.load(config, web_port=1003).web_port == 1003


def test_precedence_is_per_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write(tmp_path, "p.yaml", "app_id: from-file\ndrift_topic: file.drift\nweb_port: 1001\nbatch_size: 7\n")
    monkeypatch.setenv("SENTINEL_DRIFT_TOPIC", "env.drift")
    monkeypatch.setenv("SENTINEL_WEB_PORT", "1002")
    s = Settings.load(config, web_port=1003)
    assert (s.app_id, s.drift_topic, s.web_port, s.batch_size, s.alert_mode) == (
        "from-file",
        "env.drift",
        1003,
        7,
        "first",
    )


def test_override_none_clears_an_optional_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_SUBSCRIBE_PATTERN", "legacy.*")
    assert Settings.load().subscribe_pattern == "legacy.*"
    assert Settings.load(subscribe_pattern=None).subscribe_pattern is None


def test_shadowed_bad_values_are_not_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Only the value that wins is validated: a bad file value under a good env value is fine.
    config = write(tmp_path, "p.yaml", "web_port: not-a-port\n")
    monkeypatch.setenv("SENTINEL_WEB_PORT", "1002")
    assert Settings.load(config).web_port == 1002
    monkeypatch.setenv("SENTINEL_WEB_PORT", "abc")
    assert Settings.load(config, web_port=1003).web_port == 1003


def test_bad_override_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_WEB_PORT", "1002")
    assert load_error(web_port=0) == "web_port: Input should be greater than or equal to 1 (got 0)"


def test_unknown_override() -> None:
    assert load_error(bootstrap="x:1") == "bootstrap: unknown setting (did you mean bootstrap_servers?)"
    assert load_error(_env_file=".env").startswith("_env_file: unknown setting")


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("bootstrap_servers", "", "empty entry"),
        ("bootstrap_servers", "a:9092,,b:9092", "empty entry"),
        ("bootstrap_servers", "broker", "is not host:port"),
        ("bootstrap_servers", "broker:0", "is not host:port"),
        ("bootstrap_servers", "broker:65536", "is not host:port"),
        ("bootstrap_servers", "broker:http", "is not host:port"),
        ("bootstrap_servers", ":9092", "is not host:port"),
        ("bootstrap_servers", "::1:9092", "[address]:port"),
        ("bootstrap_servers", "kafka://b:9092", "without a scheme"),
        ("security_protocol", "TLS", "Input should be"),
        ("sasl_mechanism", "GSSAPI", "'PLAIN', 'SCRAM-SHA-256' or 'SCRAM-SHA-512'"),
        ("app_id", "", "legal Kafka topic name"),
        ("app_id", "my app", "legal Kafka topic name"),
        ("app_id", "a" * 201, "1-200 characters"),
        ("drift_topic", "drift/topic", "legal Kafka topic name"),
        ("drift_topic", "..", "legal Kafka topic name"),
        ("drift_topic", "d" * 250, "1-249 characters"),
        ("drift_topic_partitions", 0, "greater than or equal to 1"),
        ("replication_factor", 0, "greater than or equal to 1"),
        ("internal_partitions", 0, "greater than or equal to 1"),
        ("subscribe_pattern", "(", "not a valid regular expression"),
        ("subscribe_pattern", "", "empty pattern"),
        ("alert_mode", "all", "Input should be"),
        ("min_severity", "fatal", "'info', 'warning' or 'breaking'"),
        ("tumbling_window", 0, "greater than 0"),
        ("tumbling_window", -60, "greater than 0"),
        ("tumbling_window", 59.5, "whole number of seconds"),
        ("tumbling_window", float("inf"), "finite number"),
        ("hopping_window", 0, "greater than 0"),
        ("hopping_step", 0, "greater than 0"),
        ("hopping_step", 0.5, "whole number of seconds"),
        ("batch_size", 0, "greater than or equal to 1"),
        ("batch_size", 2.5, "valid integer"),
        ("batch_within", 0, "greater than 0"),
        ("raw_prefix", -1, "greater than or equal to 0"),
        ("max_violations_per_message", 0, "greater than or equal to 1"),
        ("max_payload_bytes", 0, "greater than or equal to 1"),
        ("web_host", "", "at least 1 character"),
        ("web_port", 0, "greater than or equal to 1"),
        ("web_port", 65536, "less than or equal to 65535"),
        ("web_idle_timeout", 0, "greater than 0"),
        ("web_response_timeout", 0, "greater than 0"),
        ("web_error_log_interval", 0, "greater than 0"),
        ("log_level", "trace", "'debug', 'info', 'warning' or 'error'"),
        ("log_format", "xml", "'text' or 'json'"),
        ("event_loop", "gevent", "'asyncio' or 'uvloop'"),
        ("session_timeout", 0, "greater than 0"),
        ("session_timeout", 91, "less than or equal to 90"),
        ("heartbeat_interval", 0, "greater than 0"),
        ("rebalance_timeout", 0, "greater than 0"),
        ("producer_max_batch_size", 0, "greater than or equal to 1"),
        ("publish_retry_backoff_max", 0, "greater than 0"),
        ("ssl_check_hostname", "perhaps", "valid boolean"),
    ],
)
def test_invalid_setting_names_the_setting(field: str, value: Any, fragment: str) -> None:
    message = load_error(**{field: value})
    assert message.startswith(f"{field}: ")
    assert fragment in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"hopping_window": 600, "hopping_step": 900},
            "hopping_step, hopping_window: hopping_step (900 s) must be at most hopping_window (600 s)",
        ),
        (
            {"hopping_window": 1000, "hopping_step": 300},
            "hopping_window, hopping_step: hopping_window (1000 s) must be a whole multiple of hopping_step (300 s)",
        ),
        (
            {"session_timeout": 3},
            "session_timeout: heartbeat_interval (3 s) must be below session_timeout (3 s)",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_password": SECRET},
            "security_protocol: sasl_username is required with security_protocol SASL_PLAINTEXT",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_username": "svc"},
            "security_protocol: sasl_password is required with security_protocol SASL_SSL",
        ),
        (
            {"sasl_username": "svc"},
            "sasl_username: sasl_username is set but security_protocol PLAINTEXT does not use SASL "
            "(use SASL_SSL or SASL_PLAINTEXT)",
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_username": "svc",
                "sasl_password": SECRET,
                "ssl_cafile": "ca",
            },
            "ssl_cafile, security_protocol: ssl_cafile is set but security_protocol SASL_PLAINTEXT does not use TLS "
            "(use SSL or SASL_SSL)",
        ),
        (
            {"security_protocol": "SSL", "ssl_keyfile": "client.key"},
            "ssl_keyfile: ssl_keyfile needs ssl_certfile",
        ),
        (
            {"security_protocol": "SSL", "ssl_key_password": SECRET},
            "ssl_key_password: ssl_key_password needs ssl_certfile",
        ),
    ],
)
def test_inconsistent_settings(overrides: dict[str, Any], expected: str) -> None:
    assert load_error(**overrides) == expected


def test_hopping_window_may_equal_its_step() -> None:
    settings = Settings.load(hopping_window=300, hopping_step=300, tumbling_window=1)
    assert (settings.hopping_window, settings.hopping_step, settings.tumbling_window) == (300.0, 300.0, 1.0)


@pytest.mark.parametrize("servers", ["[::1]:9092", "b-1.kafka.internal:9094", "10.0.0.1:9092,10.0.0.2:9092"])
def test_valid_bootstrap_servers(servers: str) -> None:
    assert Settings.load(bootstrap_servers=servers).bootstrap_servers == servers


# -- secrets ----------------------------------------------------------------------------------


def secret_settings(tmp_path: Path) -> Settings:
    cert = write(tmp_path, "client.pem", CERT_PEM + KEY_PEM)
    return Settings.load(**SASL, ssl_certfile=cert, ssl_key_password=KEY_PASSWORD)


def test_describe_masks_secrets(tmp_path: Path) -> None:
    settings = secret_settings(tmp_path)
    described = settings.describe()
    assert described["sasl_password"] == MASK
    assert described["ssl_key_password"] == MASK
    assert described["sasl_username"] == "svc-sentinel"
    assert described["ssl_certfile"] == str(tmp_path / "client.pem")
    text = json.dumps(described)  # plain JSON-able values only
    assert SECRET not in text
    assert KEY_PASSWORD not in text


def test_describe_keeps_unset_secrets_none() -> None:
    described = Settings.load().describe()
    assert described["sasl_password"] is None
    assert described["ssl_key_password"] is None
    assert list(described) == list(DEFAULTS)
    assert described["spec_dir"] == "spec/events"
    assert json.loads(json.dumps(described)) == described


def test_repr_and_str_do_not_leak_secrets(tmp_path: Path) -> None:
    settings = secret_settings(tmp_path)
    for text in (repr(settings), str(settings), f"{settings}", repr(settings.faust_settings())):
        assert SECRET not in text
        assert KEY_PASSWORD not in text
    assert "**********" in repr(settings)


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path) -> None:
    config = write(tmp_path, "s.yaml", f"sasl_password: [{SECRET}]\n")
    message = load_error(config)
    assert message.startswith(f"{config}: sasl_password: ")
    with pytest.raises(ValidationError) as info:
        Settings(sasl_password=[SECRET])  # type: ignore[arg-type]
    assert SECRET not in str(info.value)  # even the raw pydantic error hides inputs


# -- aiokafka ---------------------------------------------------------------------------------


def test_aiokafka_kwargs_plaintext() -> None:
    assert Settings.load(bootstrap_servers="b1:9092, b2:9092").aiokafka_kwargs() == {
        "bootstrap_servers": ["b1:9092", "b2:9092"],
        "security_protocol": "PLAINTEXT",
    }


def test_aiokafka_kwargs_sasl_plaintext_scram() -> None:
    kwargs = Settings.load(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256", sasl_username="svc", sasl_password=SECRET
    ).aiokafka_kwargs()
    assert kwargs == {
        "bootstrap_servers": ["localhost:9092"],
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,  # aiokafka needs the plain string
    }


def test_aiokafka_kwargs_sasl_ssl_scram(tmp_path: Path) -> None:
    ca = write(tmp_path, "ca.pem", CERT_PEM)
    kwargs = Settings.load(**SASL, sasl_mechanism="SCRAM-SHA-512", ssl_cafile=ca).aiokafka_kwargs()
    context = kwargs.pop("ssl_context")
    assert kwargs == {
        "bootstrap_servers": ["localhost:9092"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc-sentinel",
        "sasl_plain_password": SECRET,
    }
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert any(cert.get("subject") == ((("commonName", "sentinel-test"),),) for cert in context.get_ca_certs())


def test_aiokafka_kwargs_ssl_without_hostname_check(tmp_path: Path) -> None:
    ca = write(tmp_path, "ca.pem", CERT_PEM)
    kwargs = Settings.load(security_protocol="SSL", ssl_cafile=ca, ssl_check_hostname=False).aiokafka_kwargs()
    assert set(kwargs) == {"bootstrap_servers", "security_protocol", "ssl_context"}
    assert kwargs["security_protocol"] == "SSL"
    assert kwargs["ssl_context"].check_hostname is False
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED  # the CA is still checked


def test_ssl_without_cafile_uses_system_trust() -> None:
    context = Settings.load(security_protocol="SSL").ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("files", "password"),
    [
        ({"client.pem": CERT_PEM + KEY_PEM}, None),  # key inside the certificate file
        ({"client.pem": CERT_PEM, "client.key": KEY_PEM}, None),
        ({"client.pem": CERT_PEM, "client.key": ENCRYPTED_KEY_PEM}, KEY_PASSWORD),
    ],
)
def test_client_certificate(tmp_path: Path, files: dict[str, str], password: str | None) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    settings = Settings.load(
        security_protocol="SSL",
        ssl_certfile=tmp_path / "client.pem",
        ssl_keyfile=tmp_path / "client.key" if "client.key" in files else None,
        ssl_key_password=password,
    )
    assert isinstance(settings.aiokafka_kwargs()["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_encrypted_key_needs_its_password(tmp_path: Path, password: str | None) -> None:
    cert = write(tmp_path, "client.pem", CERT_PEM)
    key = write(tmp_path, "client.key", ENCRYPTED_KEY_PEM)
    settings = Settings.load(security_protocol="SSL", ssl_certfile=cert, ssl_keyfile=key, ssl_key_password=password)
    with pytest.raises(UsageError, match=r"^ssl_certfile: cannot load the client certificate and key") as info:
        settings.ssl_context()  # fails, and never prompts for a pass phrase
    assert "wrong-password" not in str(info.value)


@pytest.mark.parametrize("field", ["ssl_cafile", "ssl_certfile", "ssl_keyfile"])
def test_missing_tls_file_names_the_setting(tmp_path: Path, field: str) -> None:
    cert = write(tmp_path, "client.pem", CERT_PEM)
    files: dict[str, Path] = {"ssl_certfile": cert, field: tmp_path / "missing.pem"}
    settings = Settings.load(security_protocol="SSL", **files)
    with pytest.raises(UsageError, match=rf"^{field}: no such file: .*missing\.pem$"):
        settings.aiokafka_kwargs()


def test_unusable_cafile_names_the_setting(tmp_path: Path) -> None:
    ca = write(tmp_path, "ca.pem", "not a certificate\n")
    with pytest.raises(UsageError, match=r"^ssl_cafile: cannot load CA certificates"):
        Settings.load(security_protocol="SSL", ssl_cafile=ca).ssl_context()


# -- faust ------------------------------------------------------------------------------------


def test_faust_settings_defaults() -> None:
    assert Settings.load().faust_settings() == {
        "broker": "kafka://localhost:9092",
        "credentials": None,
        "datadir": ".sentinel-data",
        "web_enabled": True,
        "web_bind": "127.0.0.1",  # Faust binds to web_bind, not web_host
        "web_host": "127.0.0.1",
        "web_port": 6066,
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 3.0,
        "broker_rebalance_timeout": 60.0,
        "topic_partitions": 8,
        "topic_replication_factor": 1,
        "store": "rocksdb://",
        "consumer_max_fetch_size": 4 * 1024 * 1024,
        "stream_buffer_maxsize": 16384,
        "producer_max_request_size": 1_000_000,
    }


def test_faust_settings_from_settings() -> None:
    options = Settings.load(
        bootstrap_servers="k1:9092,[::1]:9093",
        data_dir="/data",
        web_enabled=False,
        web_host="0.0.0.0",
        web_port=8080,
        session_timeout=2,
        heartbeat_interval=0.5,
        rebalance_timeout=4,
        internal_partitions=3,
        replication_factor=3,
        producer_max_batch_size=1,
    ).faust_settings()
    assert options["broker"] == "kafka://k1:9092;kafka://[::1]:9093"
    assert options["datadir"] == "/data"
    assert (options["web_enabled"], options["web_bind"], options["web_host"], options["web_port"]) == (
        False,
        "0.0.0.0",
        "0.0.0.0",
        8080,
    )
    assert (options["broker_session_timeout"], options["broker_heartbeat_interval"]) == (2.0, 0.5)
    assert options["broker_rebalance_timeout"] == 4.0
    assert (options["topic_partitions"], options["topic_replication_factor"]) == (3, 3)
    assert options["producer_max_batch_size"] == 1


def test_faust_settings_describe_credentials_without_reading_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    options = Settings.load(**SASL, sasl_mechanism="SCRAM-SHA-256", ssl_cafile=missing).faust_settings()
    credentials = options["credentials"]
    assert credentials["password"].get_secret_value() == SECRET
    credentials["password"] = None
    assert credentials == {
        "protocol": "SASL_SSL",
        "ssl": True,
        "mechanism": "SCRAM-SHA-256",
        "username": "svc-sentinel",
        "password": None,
    }
    ssl_only = Settings.load(security_protocol="SSL").faust_settings()["credentials"]
    assert ssl_only == {"protocol": "SSL", "ssl": True}


def test_faust_credentials_plaintext() -> None:
    assert faust_credentials(Settings.load()) is None


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("SASL_PLAINTEXT", "PLAIN"), ("SASL_PLAINTEXT", "SCRAM-SHA-256"), ("SASL_SSL", "SCRAM-SHA-512")],
)
def test_faust_sasl_credentials(protocol: str, mechanism: str) -> None:
    settings = Settings.load(
        security_protocol=protocol, sasl_mechanism=mechanism, sasl_username="svc", sasl_password=SECRET
    )
    credentials: Any = faust_credentials(settings)
    assert type(credentials).__name__ == "SASLCredentials"
    assert credentials.protocol.value == protocol  # SASL_SSL exactly when an ssl_context is given
    assert credentials.mechanism.value == mechanism
    assert (credentials.username, credentials.password) == ("svc", SECRET)
    assert (credentials.ssl_context is not None) == (protocol == "SASL_SSL")
    assert SECRET not in repr(credentials)


def test_faust_ssl_credentials(tmp_path: Path) -> None:
    ca = write(tmp_path, "ca.pem", CERT_PEM)
    credentials: Any = faust_credentials(Settings.load(security_protocol="SSL", ssl_cafile=ca))
    assert type(credentials).__name__ == "SSLCredentials"
    assert credentials.protocol.value == "SSL"
    assert isinstance(credentials.context, ssl.SSLContext)


def test_config_file_alias_bomb_is_refused_not_expanded(tmp_path: Path) -> None:
    # Nine levels of nine aliases: a few hundred bytes that safe_load expands to 9**9 strings.
    lines = ['a0: &a0 "x"']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    config = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    message = load_error(config)
    assert message.startswith(f"{config}: line 2: not valid YAML: aliases (*name) are not allowed")


def test_json_log_lines_carry_rfc3339_utc_timestamps_with_milliseconds() -> None:
    import json
    import logging
    import re

    from stream_sentinel.worker.run import JsonFormatter

    record = logging.LogRecord("sentinel", logging.INFO, __file__, 1, "started", None, None)
    record.created = 1_764_918_641.1234  # 2025-12-05T07:10:41.123Z
    entry = json.loads(JsonFormatter().format(record))
    assert entry["ts"] == "2025-12-05T07:10:41.123Z"
    record.created = 1_764_918_641.0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", json.loads(JsonFormatter().format(record))["ts"])
