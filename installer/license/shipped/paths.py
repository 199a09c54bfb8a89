"""Where the license server keeps its files inside its container.

The controller's ``installer.license.store`` uses the same names on the host side (the license
directory is mounted at CONTAINER_LICENSE_DIR), so they are stated once, here, below both.
"""

LICENSE_FILE = "license.cfg"
LAST_GOOD_FILE = "license.cfg.last-good"
CONTAINER_LICENSE_DIR = "/etc/sealbox/license"
CONTAINER_STATE_DIR = "/var/lib/sealbox-license"
