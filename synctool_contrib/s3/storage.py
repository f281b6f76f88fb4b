"""What the plugin needs of django-storages' ``S3Storage``, behind one function.

django-storages has no public API for "the key and the write parameters a
save of this name would use"; this module is the one place that reaches
into its private methods, so an upgrade that changes them breaks here only.
"""

from __future__ import annotations


def s3_storage_class():
    """django-storages' ``S3Storage`` (alias ``S3Boto3Storage``), or None when not installed."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages not installed: no S3 destination
        return None
    return S3Storage


def destination(storage, name: str) -> tuple[str, str, dict]:
    """``(bucket, key, write parameters)`` of saving ``name`` in the S3 ``storage``."""
    from storages.utils import clean_name

    key = storage._normalize_name(clean_name(name))
    return storage.bucket_name, key, storage._get_write_parameters(key)
