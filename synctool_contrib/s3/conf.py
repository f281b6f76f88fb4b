"""The settings of synctool_contrib.s3, with their defaults (installed on import)."""

from appconf import AppConf
from django.conf import settings

__all__ = ["settings", "S3Conf"]


class S3Conf(AppConf):
    # The bucket production media are read from. None (the default) disables
    # the plugin: the HTTP download runs instead.
    S3_BUCKET = None
    # Key prefix of the media in that bucket ("media/").
    S3_PREFIX = ""
    # S3 endpoint URL (None: AWS; set for MinIO, R2, ...).
    S3_ENDPOINT_URL = None
    # Region of the source bucket (None: boto3's default).
    S3_REGION = None
    # Credentials (None: boto3's default chain, i.e. the AWS_* environment
    # variables, ~/.aws, instance roles).
    S3_ACCESS_KEY_ID = None
    S3_SECRET_ACCESS_KEY = None
    S3_SESSION_TOKEN = None
    # Server-side copy when the destination storage is S3 on the same endpoint
    # (these credentials then need write access there).
    S3_COPY = True

    class Meta:
        prefix = "synctool"
