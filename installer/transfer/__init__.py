"""Moving image archives to hosts: resumable, verified uploads (loading them into the engine is
``installer.runtime.load``; transfer imports nothing of the runtime)."""

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
    "resume_offset",
    "sha256_file",
    "upload",
]
