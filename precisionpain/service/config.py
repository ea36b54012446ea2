"""Server settings, built once at start-up: flags > environment > serving/server.yaml > defaults.

The YAML file is parsed strictly (unknown or duplicate keys are errors). Every setting can also come from an
environment variable named ``PRECISIONPAIN_SERVE_`` + its dotted path in upper case with ``_`` for ``.``
(``limits.max_batch_size`` -> ``PRECISIONPAIN_SERVE_LIMITS_MAX_BATCH_SIZE``); an unknown variable with that
prefix is an error too. ``model`` and ``model_path`` name one model source: the highest layer that sets
either of them decides. Every problem, from every layer, is reported at once as a :class:`ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from precisionpain.base import FrozenModel
from precisionpain.catalog.loader import parse_as, read_yaml, resolve_root
from precisionpain.errors import CatalogError, ConfigError, Violation, kind_of
from precisionpain.settings import DEFAULT_MODEL_NAME

ENV_PREFIX = "PRECISIONPAIN_SERVE_"
DEFAULT_MODEL_URI = f"models:/{DEFAULT_MODEL_NAME}@champion"
DEFAULT_TOKEN_ENV = "PRECISIONPAIN_API_TOKENS"
MIB = 1024 * 1024


class TlsSettings(FrozenModel):
    """Server TLS. Mutual TLS needs both a client CA and ``require_client_auth`` (one without the other is an
    error: gRPC would accept any client certificate)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    require_client_auth: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file (mutual TLS runs over TLS)")
        if self.require_client_auth and self.client_ca_file is None:
            raise ValueError("require_client_auth needs client_ca_file")
        if self.client_ca_file is not None and not self.require_client_auth:
            # gRPC would then accept any client certificate, or none: a silent non-check
            raise ValueError(
                "client_ca_file only takes effect with require_client_auth: true (set both for mutual TLS)"
            )
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class AuthSettings(FrozenModel):
    """Bearer tokens (``authorization: Bearer <token>`` metadata). Health needs no token; reflection needs one
    only with ``reflection_requires_token`` (open by default, for development; production turns it on)."""

    require_token: bool = False
    token_file: Path | None = None  # one token per line; blank lines and lines starting with # are ignored
    token_env: str = Field(default=DEFAULT_TOKEN_ENV, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # comma-separated
    reflection_requires_token: bool = False  # server reflection behind the same token check as the service


class LimitSettings(FrozenModel):
    max_request_bytes: int = Field(default=8 * MIB, ge=1024)
    max_response_bytes: int = Field(default=128 * MIB, ge=1024)
    max_batch_size: int = Field(default=1000, ge=1, le=100_000)
    max_concurrent_rpcs: int = Field(default=64, ge=1)  # running plus queued; more are refused


class ReloadSettings(FrozenModel):
    alias_check_interval_s: float = Field(default=60.0, ge=0.0)  # 0 = only on SIGHUP


class CdsHooksSettings(FrozenModel):
    """The CDS Hooks (HTTP) service of ``precisionpain cds-hooks``: its port, the FHIR servers it may fetch from
    when a request's prefetch is missing (URL prefixes; empty = never fetch), and its report links (kept in memory
    for ``report_ttl_s``; 0 = no links). TLS, tokens, limits and logging are the server's own settings."""

    port: int = Field(default=8090, ge=0, le=65535)  # 0 = any free port
    public_base_url: str | None = Field(
        default=None, max_length=512, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$"
    )
    fhir_server_allowlist: tuple[str, ...] = Field(default=(), max_length=64)
    fhir_fetch_timeout_s: float = Field(default=5.0, gt=0.0, le=120.0)  # all the fetching of one hook call
    request_read_timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0
    )  # a request body must arrive within it
    max_fhir_response_bytes: int = Field(default=8 * MIB, ge=1024)
    report_ttl_s: float = Field(default=900.0, ge=0.0)
    max_reports_kept: int = Field(default=256, ge=1, le=100_000)
    # the JWK Sets of the EHRs allowed to call with CDS Hooks JWTs ({"<iss>": {"keys": [...]}}); unset: none
    client_jwks_file: Path | None = None

    @field_validator("fhir_server_allowlist", mode="before")
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        return tuple(p.strip() for p in v.split(",") if p.strip()) if isinstance(v, str) else v

    @field_validator("fhir_server_allowlist")
    @classmethod
    def _urls(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in v:
            if len(prefix) > 512 or not re.match(r"^https?://[^\s/?#]+", prefix):
                raise ValueError("each entry is an http(s) URL prefix such as https://fhir.example.org/r4/")
            # the request's FHIR bearer token goes to these servers: never in clear text off this machine
            if prefix.startswith("http://") and not re.match(
                r"^http://(127\.0\.0\.1|localhost|\[::1\])([:/]|$)", prefix
            ):
                raise ValueError(
                    "entries are https URLs; plain http only for this machine (127.0.0.1, localhost, [::1])"
                )
        return v


class ServerSettings(FrozenModel):
    """Everything the server needs, validated; built by :func:`build_settings`."""

    version: Literal[1] = 1
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=50051, ge=0, le=65535)  # 0 = any free port (logged at start)
    model: str | None = DEFAULT_MODEL_URI
    model_path: Path | None = None
    catalog_root: Path | None = None
    home: Path | None = None
    tracking_uri: str | None = None
    workers: int = Field(default=2, ge=1, le=256)  # threads per server process
    # server processes sharing the port (SO_REUSEPORT; the kernel spreads connections over them): one Python
    # process cannot use more than about one core for this CPU-bound work, so set it to the cores given
    processes: int = Field(default=1, ge=1, le=64)
    grace_period_s: float = Field(default=10.0, ge=0.0)
    drain_delay_s: float = Field(
        default=0.0, ge=0.0
    )  # NOT_SERVING but still answering, before the drain (0.2 s at least)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    tls: TlsSettings = TlsSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    reload: ReloadSettings = ReloadSettings()
    cds_hooks: CdsHooksSettings = CdsHooksSettings()

    @model_validator(mode="after")
    def _one_model_source(self) -> ServerSettings:
        if self.model_path is None and not self.model:
            raise ValueError("give model (models:/NAME@ALIAS) or model_path")
        return self

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


_SECTIONS: dict[str, type[FrozenModel]] = {
    "tls": TlsSettings,
    "auth": AuthSettings,
    "limits": LimitSettings,
    "reload": ReloadSettings,
    "cds_hooks": CdsHooksSettings,
}


def setting_paths() -> tuple[str, ...]:
    """Every dotted setting path (``port``, ``limits.max_batch_size``, ...)."""
    out: list[str] = []
    for name in ServerSettings.model_fields:
        section = _SECTIONS.get(name)
        if section is None:
            out.append(name)
        else:
            out.extend(f"{name}.{sub}" for sub in section.model_fields)
    return tuple(out)


def env_name(path: str) -> str:
    return ENV_PREFIX + path.replace(".", "_").upper()


def default_config_path(catalog_root: str | os.PathLike[str] | None = None) -> Path | None:
    """serving/server.yaml next to the catalogs (repository or bundled copy), if there is one."""
    try:
        path = resolve_root(catalog_root) / "serving" / "server.yaml"
    except CatalogError:
        return None
    return path if path.is_file() else None


def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        sub = tree.setdefault(head, {})
        if isinstance(sub, dict):
            sub[rest] = value
    else:
        tree[head] = value


def _flatten(tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key in _SECTIONS and isinstance(value, Mapping):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = v
        else:
            out[str(key)] = value
    return out


def build_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerSettings:
    """Merge the layers (flags > environment > YAML file > defaults) and validate everything at once.

    ``flags`` maps dotted setting paths to values (None = not given). Without ``config_path``, the
    serving/server.yaml next to the catalogs is read when it exists.
    """
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    violations: list[Violation] = []
    known = set(setting_paths())
    for key in given:
        if key not in known:
            raise ValueError(f"unknown setting {key!r}")

    file_layer: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if config_path is None:
        root_hint = given.get("catalog_root") or env.get(env_name("catalog_root"))
        try:
            config_path = default_config_path(root_hint)
        except CatalogError as exc:
            violations.extend(exc.violations)
    if config_path is not None:
        try:
            raw = read_yaml(Path(config_path))
        except CatalogError as exc:
            raise ConfigError("server settings", exc.violations) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(
                "server settings", [Violation(str(config_path), "must be a mapping", kind_of(raw))]
            )
        file_layer = _flatten(raw)
        origin.update({k: str(config_path) for k in file_layer})

    env_layer: dict[str, Any] = {}
    names = {env_name(p): p for p in known}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX):
            continue
        path = names.get(var)
        if path is None:
            violations.append(
                Violation(var, f"is not a setting (known: {', '.join(sorted(names))})", "string")
            )
            continue
        env_layer[path] = value
        origin[path] = var

    origin.update({k: "flag" for k in given})
    merged: dict[str, Any] = {}
    for layer in (file_layer, env_layer, given):
        if "model" in layer or "model_path" in layer:
            if layer.get("model") is not None and layer.get("model_path") is not None:
                violations.append(Violation("model", "give model or model_path, not both", "string"))
            merged["model"] = layer.get("model")
            merged["model_path"] = layer.get("model_path")
        merged.update({k: v for k, v in layer.items() if k not in ("model", "model_path")})
    if "model" not in merged and "model_path" not in merged:
        merged["model"] = DEFAULT_MODEL_URI

    violations += _file_checks(merged)
    tree: dict[str, Any] = {}
    for key, value in merged.items():
        _set(tree, key, value)
    try:
        settings = parse_as(ServerSettings, tree, "server settings")
    except CatalogError as exc:
        violations.extend(
            Violation(
                v.path if v.path not in origin else f"{v.path} (from {origin[v.path]})", v.rule, v.received
            )
            for v in exc.violations
        )
        raise ConfigError("server settings", violations) from None
    if settings.auth.token_file is not None and not settings.auth.require_token:
        violations.append(Violation("auth.token_file", "is set but auth.require_token is false", "path"))
    if settings.cds_hooks.client_jwks_file is not None and settings.cds_hooks.public_base_url is None:
        violations.append(
            Violation(
                "cds_hooks.client_jwks_file",
                "needs cds_hooks.public_base_url (a CDS Hooks JWT's aud is the service's public URL)",
                "path",
            )
        )
    if settings.auth.reflection_requires_token and not settings.auth.require_token:
        violations.append(
            Violation(
                "auth.reflection_requires_token",
                "is true but auth.require_token is false (there is no token to require)",
                "boolean",
            )
        )
    ConfigError.raise_if_any("server settings", violations)
    return settings


_FILES = (
    "tls.cert_file",
    "tls.key_file",
    "tls.client_ca_file",
    "auth.token_file",
    "cds_hooks.client_jwks_file",
)


def _file_checks(merged: Mapping[str, Any]) -> list[Violation]:
    """Files and folders the settings name must exist (checked on the raw values, so every problem is listed)."""
    out: list[Violation] = []
    for key in _FILES:
        value = merged.get(key)
        if isinstance(value, str | os.PathLike) and not Path(value).is_file():
            out.append(Violation(key, "must name a readable file", "path"))
    value = merged.get("model_path")
    if isinstance(value, str | os.PathLike) and not Path(value).exists():
        out.append(Violation("model_path", "must name an existing folder", "path"))
    return out


def load_tokens(auth: AuthSettings, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The accepted bearer tokens (file lines and the comma-separated env variable); empty when not required."""
    if not auth.require_token:
        return ()
    env = os.environ if environ is None else environ
    tokens: list[str] = []
    if auth.token_file is not None:
        for line in Path(auth.token_file).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                tokens.append(line)
    tokens += [t.strip() for t in env.get(auth.token_env, "").split(",") if t.strip()]
    if not tokens:
        raise ConfigError(
            "server settings",
            [
                Violation(
                    "auth.require_token",
                    f"is true but no token was found (auth.token_file, {auth.token_env})",
                )
            ],
        )
    short = [i for i, t in enumerate(tokens) if len(t) < 16]
    if short:
        raise ConfigError(
            "server settings",
            [Violation("auth tokens", "every token must have at least 16 characters", "string")],
        )
    return tuple(dict.fromkeys(tokens))
