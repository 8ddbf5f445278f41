"""Settings: validated once at start; bad values are one clear line and exit code 2."""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import sys

import pytest
from pydantic import ValidationError

from halo.config import Settings, format_validation_error

STRONG = secrets.token_urlsafe(48)  # never in the repository, so never published


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def test_production_requires_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET is required"):
        settings(env="production")


def test_short_secret_is_refused_even_in_development() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        settings(env="development", jwt_secret="short")


def test_short_previous_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="JWT_PREVIOUS_SECRETS"):
        settings(jwt_secret=STRONG, jwt_previous_secrets="tooshort")


def test_development_runs_without_secret() -> None:
    assert settings(env="development").effective_jwt_secret


def test_lists_come_from_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    loaded = settings(jwt_secret=STRONG)
    assert loaded.trusted_proxies == ["10.0.0.0/8", "192.168.1.1"]
    assert loaded.cors_origins == ["https://a.example", "https://b.example"]


def test_bad_proxy_network_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an IP address"):
        settings(jwt_secret=STRONG, trusted_proxies="not-an-ip")


def test_embedded_default_is_one_worker_and_several_workers_need_redis() -> None:
    assert settings(jwt_secret=STRONG).effective_workers == 1
    with pytest.raises(ValidationError, match="needs REDIS_URL"):
        settings(jwt_secret=STRONG, workers=4, database_url="postgres://h/db")


def test_workers_default_to_available_cpus_with_redis() -> None:
    from halo.config import available_cpus

    loaded = settings(jwt_secret=STRONG, database_url="postgres://h/db", redis_url="redis://h:6379/0")
    assert loaded.effective_workers == available_cpus()


def test_postgresql_scheme_is_normalised() -> None:
    assert settings(jwt_secret=STRONG, database_url="postgresql://u@h/db").database_url == "postgres://u@h/db"


def test_error_names_each_bad_variable_on_one_line() -> None:
    with pytest.raises(ValidationError) as info:
        settings(jwt_secret=STRONG, port=0, bcrypt_rounds=99)
    line = format_validation_error(info.value)
    assert "\n" not in line
    assert "PORT" in line
    assert "BCRYPT_ROUNDS" in line


def test_cli_exits_2_with_one_line_on_bad_configuration() -> None:
    env = {"PATH": "/usr/bin:/bin", "ENV": "production", "JWT_SECRET": STRONG, "PORT": "not-a-number"}
    result = subprocess.run(
        [sys.executable, "-m", "halo", "check-config"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_refuses_to_serve_without_secret_in_production() -> None:
    env = {"PATH": "/usr/bin:/bin", "ENV": "production"}
    result = subprocess.run(
        [sys.executable, "-m", "halo", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr


def test_tracing_is_on_only_with_an_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert not settings(jwt_secret=STRONG).tracing_enabled
    assert not settings(jwt_secret=STRONG, otel_exporter_otlp_endpoint=" ").tracing_enabled
    assert settings(jwt_secret=STRONG, otel_exporter_otlp_endpoint="http://collector:4318").tracing_enabled
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
    assert settings(jwt_secret=STRONG).tracing_enabled
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not settings(jwt_secret=STRONG).tracing_enabled
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not settings(jwt_secret=STRONG).tracing_enabled


def test_otel_sampler_and_protocol_are_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "ParentBased_TraceIdRatio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    loaded = settings(jwt_secret=STRONG)
    assert loaded.otel_traces_sampler == "parentbased_traceidratio"
    assert loaded.otel_traces_sampler_arg == 0.25
    with pytest.raises(ValidationError) as info:
        settings(jwt_secret=STRONG, otel_traces_sampler="sometimes")
    assert "OTEL_TRACES_SAMPLER:" in format_validation_error(info.value)
    # only OTLP over HTTP/protobuf is shipped; a gRPC request is refused rather than ignored
    with pytest.raises(ValidationError):
        settings(jwt_secret=STRONG, otel_exporter_otlp_protocol="grpc")


def test_metrics_port_zero_turns_metrics_off() -> None:
    assert settings(jwt_secret=STRONG).metrics_enabled
    assert settings(jwt_secret=STRONG).metrics_port == 9464
    assert not settings(jwt_secret=STRONG, metrics_port=0).metrics_enabled


def test_redis_cluster_needs_a_node_address_on_database_zero() -> None:
    assert settings(env="development", redis_url="redis://10.0.0.5:6379/0", redis_cluster=True).redis_cluster
    assert settings(env="development", redis_url="redis://10.0.0.5:6379", redis_cluster=True).redis_cluster
    with pytest.raises(ValidationError, match="only database 0"):
        settings(env="development", redis_url="redis://10.0.0.5:6379/3", redis_cluster=True)
    with pytest.raises(ValidationError, match="redis:// or rediss:// address"):
        settings(env="development", redis_url="unix:///run/redis.sock", redis_cluster=True)


def test_production_refuses_a_guessable_secret() -> None:
    for weak in ("x" * 40, "abcdefghijklmnopqrstuvwxyz0123456789", "changeme-changeme-changeme-changeme"):
        with pytest.raises(ValidationError, match="too guessable"):
            settings(env="production", jwt_secret=weak)
    with pytest.raises(ValidationError, match="JWT_PREVIOUS_SECRETS is too guessable"):
        settings(env="production", jwt_secret=STRONG, jwt_previous_secrets="y" * 40)
    assert settings(env="development", jwt_secret="x" * 40).jwt_secret  # development is not checked


def test_production_refuses_the_development_secret() -> None:
    from halo.config import DEV_JWT_SECRET

    with pytest.raises(ValidationError, match="published"):
        settings(env="production", jwt_secret=DEV_JWT_SECRET)


def test_production_refuses_fewer_than_ten_bcrypt_rounds() -> None:
    with pytest.raises(ValidationError, match="BCRYPT_ROUNDS must be at least 10"):
        settings(env="production", jwt_secret=STRONG, bcrypt_rounds=9)
    assert settings(env="production", jwt_secret=STRONG, bcrypt_rounds=10).bcrypt_rounds == 10
    assert settings(env="development", bcrypt_rounds=4).bcrypt_rounds == 4


def halo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "halo", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_and_seed_need_no_jwt_secret(tmp_path: object) -> None:
    database = f"sqlite://{tmp_path}/halo.db"
    migrated = halo("migrate", ENV="production", DATABASE_URL=database)
    assert migrated.returncode == 0, migrated.stderr
    refused = halo("seed", "--users", "1", "--videos", "1", ENV="production", DATABASE_URL=database)
    assert refused.returncode == 2
    assert "--force" in refused.stderr and "JWT_SECRET" not in refused.stderr


def test_seed_refuses_a_production_database_without_force(tmp_path: object) -> None:
    database = f"sqlite://{tmp_path}/halo.db"
    assert halo("migrate", ENV="production", DATABASE_URL=database).returncode == 0
    refused = halo("seed", "--users", "2", "--videos", "2", ENV="production", DATABASE_URL=database)
    assert refused.returncode == 2 and "ENV=production" in refused.stderr
    forced = halo("seed", "--users", "2", "--videos", "2", "--force", ENV="production", DATABASE_URL=database)
    assert forced.returncode == 0, forced.stderr


def test_config_prints_effective_settings_with_secrets_redacted() -> None:
    for command in ("config", "check-config"):
        result = halo(
            command,
            ENV="production",
            JWT_SECRET=STRONG,
            DATABASE_URL="postgres://halo:hunter2-db-password@db/halo",
        )
        assert result.returncode == 0, result.stderr
        assert "JWT_SECRET=***" in result.stdout
        assert "REGISTER_MAX_PER_IP=20" in result.stdout
        assert STRONG not in result.stdout and "hunter2" not in result.stdout


def test_config_hides_every_credential_a_url_may_carry(capsys: pytest.CaptureFixture[str]) -> None:
    from halo.cli import _check_config

    configured = settings(
        env="development",
        database_url="postgres://db:5432/halo?user=halo&password=pw-in-query&sslmode=require",
        redis_url="rediss://default:redis-pw@cache:6380/0",
        otel_exporter_otlp_endpoint="https://collector:otlp-token@otel.internal:4318",
        trusted_proxies="10.0.0.0/8,192.168.0.0/16",
    )
    _check_config(configured, argparse.Namespace())
    out = capsys.readouterr().out
    for secret in ("pw-in-query", "redis-pw", "otlp-token"):
        assert secret not in out, secret
    assert "DATABASE_URL=postgres://db:5432/halo?user=halo&password=***&sslmode=require" in out
    assert "REDIS_URL=rediss://***@cache:6380/0" in out
    assert "OTEL_EXPORTER_OTLP_ENDPOINT=https://***@otel.internal:4318" in out
    # lists as the variable is written
    assert "TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16" in out


def test_config_exits_non_zero_naming_an_invalid_setting() -> None:
    result = halo("config", ENV="production", JWT_SECRET=STRONG, BCRYPT_ROUNDS="4")
    assert result.returncode == 2
    assert "BCRYPT_ROUNDS" in result.stderr


def test_serve_help_lists_every_setting_with_its_default() -> None:
    result = halo("serve", "--help")
    assert result.returncode == 0
    for name in Settings.model_fields:
        assert name.upper() in result.stdout, name
    assert re.search(r"REGISTER_MAX_PER_IP\s+20", result.stdout)
    assert re.search(r"METRICS_HOST\s+0\.0\.0\.0", result.stdout)
