"""Moving image archives to hosts: resumable, verified uploads and loading them into Docker."""

from installer.transfer.load import (
    LoadResult,
    ZstdMissingError,
    load_archive,
    load_command,
    load_route,
)
from installer.transfer.upload import (
    TransferError,
    UploadResult,
    resume_offset,
    sha256_file,
    upload,
)

__all__ = [
    "LoadResult",
    "TransferError",
    "UploadResult",
    "ZstdMissingError",
    "load_archive",
    "load_command",
    "load_route",
    "resume_offset",
    "sha256_file",
    "upload",
]
