"""Moving image archives to hosts: resumable, verified uploads and loading them into Docker."""

from installer.transfer.load import ZstdMissingError, load_archive, load_command, stream_load
from installer.transfer.upload import (
    TransferError,
    UploadResult,
    resume_offset,
    sha256_file,
    upload,
)

__all__ = [
    "TransferError",
    "UploadResult",
    "ZstdMissingError",
    "load_archive",
    "load_command",
    "resume_offset",
    "sha256_file",
    "stream_load",
    "upload",
]
