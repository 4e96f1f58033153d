"""Encryption at rest for secrets (endpoint API keys, s3Config)."""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet(keys_setting, secret_key):
    # FIELD_ENCRYPTION_KEY may hold several comma-separated Fernet keys: the first encrypts, all decrypt (rotation).
    if keys_setting:
        keys = [k.strip() for k in keys_setting.split(",") if k.strip()]
    else:
        keys = [base64.urlsafe_b64encode(hashlib.sha256(f"field-key:{secret_key}".encode()).digest()).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def fernet():
    return _fernet(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt a stored secret: FIELD_ENCRYPTION_KEY changed?") from exc


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token; the clear value only exists in memory."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)
