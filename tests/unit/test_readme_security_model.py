"""README's security model names every abuse limit with its setting and the service's real default,
and what an operator must configure behind an ingress (contract v1.1, abuse limits)."""

from __future__ import annotations

import re
from pathlib import Path

from halo.config import Settings

ROOT = Path(__file__).resolve().parents[2]

# Each per-client or per-instance limit an operator may tune, with the default the README must state.
LIMITS = (
    "RATE_LIMIT_RPS",
    "RATE_LIMIT_BURST",
    "LOGIN_MAX_FAILURES_PER_ACCOUNT_IP",
    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
    "LOGIN_MAX_FAILURES_PER_IP",
    "LOGIN_FAILURE_WINDOW_SECONDS",
    "REGISTER_MAX_PER_IP",
    "PASSWORD_QUEUE_MAX",
    "WS_MAX_CONNECTIONS_PER_IP",
    "WS_MAX_CONNECTIONS",
    "MAX_BODY_BYTES",
    "BCRYPT_ROUNDS",
)
# What an operator sets behind an ingress (docs/operations.md says why for each).
BEHIND_AN_INGRESS = (
    "TRUSTED_PROXIES",
    "trustedProxies",
    "RATE_LIMIT_BACKEND=redis",
    "METRICS_HOST",
    "noeviction",
)
UNITS = {"MiB": 1024 * 1024, "KiB": 1024}


def security_model() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Security model\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no Security model section"
    return match.group(1)


def stated_defaults(section: str) -> dict[str, float]:
    """`NAME` (default ...) anywhere in the section; `_SUFFIX` (...) continues the last full name's prefix
    (`LOGIN_MAX_FAILURES_PER_ACCOUNT_IP` (5), `_PER_ACCOUNT` (20))."""
    found: dict[str, float] = {}
    last = ""
    for name, default in re.findall(r"`([A-Z_]+)`,? \(([^)]*)\)", section):
        if name.startswith("_"):
            name = re.sub(r"_PER_.*$", "", last) + name
        else:
            last = name
        number = re.match(r"([\d,.]+)\s*(MiB|KiB)?", default)
        if number:
            found[name] = float(number.group(1).replace(",", "")) * UNITS.get(number.group(2) or "", 1)
    return found


def test_every_abuse_limit_is_listed_with_its_real_default() -> None:
    stated = stated_defaults(security_model())
    defaults = {name.upper(): field.default for name, field in Settings.model_fields.items()}
    missing = [name for name in LIMITS if name not in stated]
    assert not missing, f"README's security model lacks these limits with a default: {missing}"
    wrong = {name: (stated[name], defaults[name]) for name in LIMITS if stated[name] != defaults[name]}
    assert not wrong, f"README states other defaults than the service's (README, service): {wrong}"


def test_what_to_configure_behind_an_ingress_is_said() -> None:
    section = security_model()
    missing = [item for item in BEHIND_AN_INGRESS if item not in section]
    assert not missing, f"README's security model does not say to configure: {missing}"


def test_the_defaults_the_contract_and_the_issue_name() -> None:
    defaults = {name.upper(): field.default for name, field in Settings.model_fields.items()}
    assert defaults["REGISTER_MAX_PER_IP"] == 20
    assert defaults["WS_MAX_CONNECTIONS_PER_IP"] == 50
    assert defaults["METRICS_HOST"] == "0.0.0.0"  # every interface: Prometheus scrapes the pod
