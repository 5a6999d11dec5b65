"""Ed25519 signatures of delivery manifests (the `cryptography` package, which Airflow already installs).

The private key stays with the pipeline, outside the repository: SKILLS_EXPORT_SIGNING_KEY (PEM text) or
SKILLS_EXPORT_SIGNING_KEY_FILE (a PEM file from the secrets manager). Consumers get the public key once, out of band
(`skills-pipeline export public-key`), and check every delivery with it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from skills_pipeline.settings import ConfigurationError

KEY_ENV = "SKILLS_EXPORT_SIGNING_KEY"
KEY_FILE_ENV = "SKILLS_EXPORT_SIGNING_KEY_FILE"


def new_private_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_pem(pem: bytes, where: str = "the signing key") -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"{where} is not an unencrypted PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{where} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def configured() -> bool:
    return bool(os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV))


def load_private_key() -> Ed25519PrivateKey:
    if os.environ.get(KEY_ENV):
        return private_key_from_pem(os.environ[KEY_ENV].encode(), KEY_ENV)
    path = os.environ.get(KEY_FILE_ENV)
    if not path:
        raise ConfigurationError(
            f"no export signing key: set {KEY_FILE_ENV} to an Ed25519 PEM file from your secrets manager "
            "(`skills-pipeline export keygen --out FILE` makes one) or put the PEM text in " + KEY_ENV
        )
    try:
        pem = Path(path).read_bytes()
    except OSError as error:
        raise ConfigurationError(f"{KEY_FILE_ENV}={path}: cannot read it ({error.strerror})") from None
    return private_key_from_pem(pem, f"{KEY_FILE_ENV}={path}")


def public_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as error:
        raise ConfigurationError(f"public key {path}: cannot read it ({error.strerror})") from None
    except ValueError as error:
        raise ConfigurationError(f"public key {path} is not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError(f"public key {path} is a {type(key).__name__}, not an Ed25519 key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint naming the key a manifest was signed with (so a consumer sees a rotation coming)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(private_key: Ed25519PrivateKey, content: bytes) -> bytes:
    """The detached signature file's content: base64 of the 64-byte signature, one line."""
    return base64.b64encode(private_key.sign(content)) + b"\n"


def signature_matches(public_key: Ed25519PublicKey, content: bytes, signature_file: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_file.strip(), validate=True), content)
    except (InvalidSignature, ValueError):
        return False
    return True
