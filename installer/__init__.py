"""Sealbox engine: deploys a vendor's offline bundle onto hosts.

PyPI has an unrelated package also called ``installer`` (pypa/installer). This marker lets the
CLI and the tests prove that the ``installer`` imported is ours and not that one.
"""

__sealbox__ = True
__version__ = "0.1.0"
