"""The portal's key pairs for SMART Backend Services: created, rotated, published as a JWKS.

The EHR registers the public keys (the JWKS) with the portal's client id; the portal signs
its client assertions with the current private key. Rotation makes a new current key and
keeps the previous ones published for a while, so assertions signed a moment before the
rotation, or an EHR that caches the JWKS, keep working. Private keys are stored as PEM,
each encrypted at rest with the portal's field keys (``exportportal.encryption``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from exportportal.encryption import decrypt, encrypt

#: the algorithms SMART Backend Services requires servers to support
ES384 = "ES384"
RS384 = "RS384"
ALGORITHMS = (ES384, RS384)
RSA_KEY_BITS = 3072
#: previous keys kept published after a rotation
PUBLISHED_PREVIOUS_KEYS = 2


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key pair. ``private_pem`` is the plain key: held in memory only, never stored."""

    kid: str
    algorithm: str
    private_pem: str
    created_at: datetime

    def jose_key(self) -> ECKey | RSAKey:
        key_type = ECKey if self.algorithm == ES384 else RSAKey
        return key_type.import_key(self.private_pem.encode("ascii"))

    def public_jwk(self) -> dict[str, Any]:
        public = self.jose_key().as_dict(private=False)
        return {**public, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def create_signing_key(algorithm: str, *, now: datetime) -> SigningKey:
    """A new key pair; its id is the key's RFC 7638 thumbprint."""
    if algorithm == ES384:
        key: ECKey | RSAKey = ECKey.generate_key("P-384", private=True)
    elif algorithm == RS384:
        key = RSAKey.generate_key(RSA_KEY_BITS, private=True)
    else:
        raise ValueError(f"SMART Backend Services keys are {' or '.join(ALGORITHMS)}")
    return SigningKey(
        kid=key.thumbprint(),
        algorithm=algorithm,
        private_pem=key.as_pem(private=True).decode("ascii"),
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The current signing key and the previous ones still published."""

    current: SigningKey
    previous: tuple[SigningKey, ...] = ()

    @classmethod
    def create(cls, algorithm: str, *, now: datetime) -> KeyRing:
        return cls(current=create_signing_key(algorithm, now=now))

    def rotate(self, *, now: datetime, algorithm: str | None = None) -> KeyRing:
        """A new current key (same algorithm unless given); the old one stays published."""
        new = create_signing_key(algorithm or self.current.algorithm, now=now)
        kept = (self.current, *self.previous)[:PUBLISHED_PREVIOUS_KEYS]
        return replace(self, current=new, previous=kept)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys, for the EHR to register (or fetch from the portal's JWKS URL)."""
        return {"keys": [key.public_jwk() for key in (self.current, *self.previous)]}

    def sealed(self) -> str:
        """JSON to store in a file: every private key encrypted with the portal's field keys."""
        return self.as_json(protect=encrypt)

    @classmethod
    def unsealed(cls, stored: str) -> KeyRing:
        return cls.from_json(stored, reveal=decrypt)

    def as_json(self, *, protect: Callable[[str], str] = str) -> str:
        """JSON of the ring, each private key passed through ``protect``. Plain only for a
        field that is encrypted as a whole (``SmartKeyRing.key_ring``)."""
        return json.dumps(
            {
                "current": _key_data(self.current, protect),
                "previous": [_key_data(k, protect) for k in self.previous],
            }
        )

    @classmethod
    def from_json(cls, stored: str, *, reveal: Callable[[str], str] = str) -> KeyRing:
        data = json.loads(stored)
        return cls(
            current=_key_of(data["current"], reveal),
            previous=tuple(_key_of(key, reveal) for key in data["previous"]),
        )


def _key_data(key: SigningKey, protect: Callable[[str], str]) -> dict[str, str]:
    return {
        "kid": key.kid,
        "algorithm": key.algorithm,
        "created_at": key.created_at.isoformat(),
        "private_key": protect(key.private_pem),
    }


def _key_of(data: dict[str, str], reveal: Callable[[str], str]) -> SigningKey:
    return SigningKey(
        kid=data["kid"],
        algorithm=data["algorithm"],
        private_pem=reveal(data["private_key"]),
        created_at=datetime.fromisoformat(data["created_at"]),
    )
