"""Authenticating the EHR: CDS Hooks 2.0 JWTs ("Trusting CDS Clients"), beside the server's static bearer tokens.

An EHR signs a JWT for every call and sends it as ``Authorization: Bearer <JWT>``. It is accepted when its ``iss``
is one of the trusted clients of ``cds_hooks.client_jwks_file`` (``{"<iss>": {"keys": [<JWK>, ...]}}``: the JWK
Sets exchanged out of band; a ``jku`` header is never followed), its header names a ``kid`` of that set and an
asymmetric algorithm the key is for (RS, PS or ES; never ``none`` or HMAC), the signature verifies, ``aud`` is the
URL of the endpoint called (under ``cds_hooks.public_base_url``), ``exp`` is in the future and ``iat`` not (60 s of
clock skew), it lives at most an hour, and its ``jti`` has not been seen (kept until the token expires, so a
captured token cannot be replayed). Every refusal is an :class:`AuthenticationError` naming the rule, never a
claim's value; the token is never logged.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from precisionpain.errors import AuthenticationError, ConfigError, Violation, kind_of

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_JWT_CHARS = 8192
MAX_ISSUERS = 64
MAX_KEYS_PER_ISSUER = 32
LEEWAY_S = 60
MAX_LIFETIME_S = 3600
#: jti values remembered at most (each until its token expires); past it, new tokens are refused
MAX_JTIS_KEPT = 200_000


def _refused(rule: str) -> AuthenticationError:
    return AuthenticationError(f"CDS Hooks JWT refused: {rule}")


def load_client_jwks(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """{iss: {kid: (jwt.PyJWK, the alg the JWK declares or None)}} from a client JWKS file, checked strictly (every problem raised at once)."""
    import jwt

    where = "cds_hooks.client_jwks_file"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise ConfigError(
            "server settings", [Violation(where, "must be a readable JSON file", "path")]
        ) from None
    if not isinstance(data, dict) or not 1 <= len(data) <= MAX_ISSUERS:
        raise ConfigError(
            "server settings",
            [Violation(where, f"must map 1 to {MAX_ISSUERS} issuers to their JWK Sets", kind_of(data))],
        )
    out: dict[str, dict[str, Any]] = {}
    problems: list[Violation] = []
    for i, (iss, jwks) in enumerate(data.items()):
        at = f"{where} issuer {i + 1}"
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if (
            not iss
            or len(iss) > 512
            or not isinstance(keys, list)
            or not 1 <= len(keys) <= MAX_KEYS_PER_ISSUER
        ):
            problems.append(
                Violation(
                    at, f"must be an issuer URI with a JWK Set of 1 to {MAX_KEYS_PER_ISSUER} keys", "object"
                )
            )
            continue
        by_kid: dict[str, Any] = {}
        for j, jwk in enumerate(keys):
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            if not isinstance(kid, str) or not kid or kid in by_kid:
                problems.append(Violation(f"{at} key {j + 1}", "needs a kid of its own", kind_of(kid)))
                continue
            if jwk.get("kty") not in ("RSA", "EC") or "d" in jwk:
                problems.append(
                    Violation(f"{at} key {j + 1}", "must be a public RSA or EC key (kty RSA or EC)", "object")
                )
                continue
            declared = jwk.get("alg")
            if declared is not None and declared not in ALGORITHMS:
                problems.append(
                    Violation(f"{at} key {j + 1}", f"alg must be one of {', '.join(ALGORITHMS)}", "string")
                )
                continue
            try:
                by_kid[kid] = (jwt.PyJWK.from_dict(jwk), declared)
            except (jwt.PyJWTError, ValueError, TypeError):
                problems.append(Violation(f"{at} key {j + 1}", "is not a usable JWK", "object"))
        out[iss] = by_kid
    ConfigError.raise_if_any("server settings", problems)
    return out


class ClientJwtCheck:
    """Verifies CDS Hooks JWTs against the trusted clients' keys; remembers jti values against replay."""

    def __init__(
        self, issuers: Mapping[str, Mapping[str, Any]], clock: Callable[[], float] = time.time
    ) -> None:
        self.issuers = issuers
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, token: str, aud: str) -> None:
        """Accept ``token`` for the endpoint URL ``aud``, or raise :class:`AuthenticationError`."""
        import jwt

        if not token or len(token) > MAX_JWT_CHARS or token.count(".") != 2:
            raise _refused(f"not a signed JWT of at most {MAX_JWT_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _refused("not a readable JWT") from None
        alg, kid, iss = header.get("alg"), header.get("kid"), unverified.get("iss")
        if alg not in ALGORITHMS:
            raise _refused(f"its alg must be one of {', '.join(ALGORITHMS)}")
        keys = self.issuers.get(iss) if isinstance(iss, str) else None
        if keys is None or not isinstance(iss, str):
            raise _refused("its iss is not a trusted client (cds_hooks.client_jwks_file)")
        found = keys.get(kid) if isinstance(kid, str) else None
        if found is None:
            raise _refused("its kid is not a key of its issuer")
        key, declared = found
        if declared is not None and declared != alg:
            raise _refused("its alg is not the algorithm its key declares")
        now = self._clock()
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=aud,
                issuer=iss,
                leeway=LEEWAY_S,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.InvalidAudienceError:
            raise _refused("its aud is not the URL of the service called") from None
        except jwt.ExpiredSignatureError:
            raise _refused("it has expired") from None
        except jwt.ImmatureSignatureError:
            raise _refused("it was issued in the future") from None
        except jwt.MissingRequiredClaimError:
            raise _refused("it lacks one of iss, aud, exp, iat, jti") from None
        except jwt.InvalidSignatureError:
            raise _refused("its signature does not verify with its key") from None
        except jwt.PyJWTError:
            raise _refused("it is not a valid JWT for its key") from None
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
            raise _refused("its jti must be a string of 1 to 256 characters")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float) or exp - iat > MAX_LIFETIME_S:
            raise _refused(f"it may live at most {MAX_LIFETIME_S} s (exp - iat)")
        if iat > now + LEEWAY_S:
            raise _refused("it was issued in the future")
        with self._lock:
            if len(self._seen) >= MAX_JTIS_KEPT:
                self._seen = {k: e for k, e in self._seen.items() if e + LEEWAY_S >= now}
            if (iss, jti) in self._seen:
                raise _refused("its jti was seen before (a replayed token)")
            if len(self._seen) >= MAX_JTIS_KEPT:
                raise _refused("too many tokens in flight to remember; try again")
            self._seen[(iss, jti)] = float(exp)
