#!/usr/bin/env python3
"""`python3 install.py se|li|in MODULE|inall|rm MODULE|rmall|bundle verify`, from a bundle.

Copied to the top of every bundle as install.py. The customer machine has python3 and no
internet: this makes a virtual environment from the bundle's own wheels/ and runs the command
in it. Nothing of the bundle is imported, installed or run before its manifest signature is
checked against the host's pins and every wheel against the signed sha256 (see
installer/bundle/README.md, "install.py (the bundle's entry point)"). Standard library only:
it runs before any dependency exists, so Ed25519 verification (RFC 8032) is written out below.
The environment lives outside the bundle (which may sit on read-only media):
$SEALBOX_HOME, else /var/lib/sealbox/python (root) or ~/.local/share/sealbox/python, in a
folder named by the wheels' hashes, so a venv is only ever reused for the very same wheels.
Written without f-strings so that an old python3 (CentOS 7's 3.6) still gets a clear error.
"""
# ruff: noqa: UP031, UP036, E402

import sys

# Python puts this file's folder, the unverified bundle, first on sys.path. Drop it before the
# next import, so that a json.py or typer.py planted beside install.py is never imported.
if __name__ == "__main__" and not sys.flags.isolated and not getattr(sys.flags, "safe_path", 0):
    del sys.path[0]

import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = "manifest.yaml"
SIGNATURE = "manifest.sig"
CARRIED = b"carried: "  # the one manifest line this shim parses: JSON, inside the signed bytes
TRUST_ENV = "SEALBOX_TRUST"
TRUST_DIR_ENV = "SEALBOX_TRUSTED_KEYS_DIR"
HOST_TRUST_DIR = "/etc/sealbox/trusted-keys"
UNSIGNED_ENV = "SEALBOX_ALLOW_UNSIGNED"
WHEEL_KEYS = re.compile(r"^installer/bundle/trusted_keys/[^/]+\.pub$")
WHEEL_FILE = re.compile(r"^wheels/[A-Za-z0-9_.+-]+\.whl$")
REQUIREMENT = re.compile(r"^[A-Za-z0-9_.-]+==[A-Za-z0-9_.+!-]+$")
SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")  # DER prefix of an Ed25519 public key
STAMP = ".sealbox-wheels"
CHUNK = 1 << 20
RUN = (
    "import sys\n"
    "try:\n"
    "    from installer.cli.app import main\n"
    "except ImportError as exc:\n"
    "    sys.stderr.write('error: Sealbox is not importable in %s (%s); remove that folder and '\n"
    "                     'run install.py again\\n' % (sys.prefix, exc))\n"
    "    sys.exit(2)\n"
    "main(prog_name='install.py')\n"
)


class Refused(Exception):
    """The bundle is damaged, altered or signed by a key not trusted here (exit 5)."""

    code = 5


class Stop(Exception):
    """Anything else that stops the shim, with its exit code (README "Exit codes")."""

    def __init__(self, msg, code=2):
        Exception.__init__(self, msg)
        self.code = code


# ---- Ed25519 verification, RFC 8032 section 5.1.7 (public data only: no timing concerns) ----
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
Point = Tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, pt: Point) -> Point:
    acc = (0, 1, 1, 0)
    while s:
        if s & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        s >>= 1
    return acc


def _same(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> Optional[int]:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decode(data: bytes) -> Optional[Point]:
    """A point from its 32-byte encoding; None for a non-canonical or off-curve one."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0) or 0
_BASE = (_BX, _BY, 1, _BX * _BY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public`'s signature of `message` ([S]B = R + [k]A, S < L)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decode(public), _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little")
    return _same(_mul(s, _BASE), _add(r, _mul(k % _L, a)))


# ---- reading the bundle: plain files only, each read once ----
def _open_regular(path: str, name: str) -> int:
    """An fd for a plain file; a FIFO, device, socket or symlink is refused, never waited on."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise Refused("%s: not a regular file; a bundle holds plain files, copy it again" % name)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused("%s: not a regular file; a bundle holds plain files, copy it again" % name)
    return fd


def _read(path: str, name: str, limit: int = 64 << 20) -> bytes:
    with os.fdopen(_open_regular(path, name), "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise Refused("%s: larger than %d bytes; not a file Sealbox wrote" % (name, limit))
    return data


def _copy_checked(src: str, name: str, dest: str, want: str) -> None:
    """Copy one wheel out of the bundle, hashing what is copied; only these bytes reach pip."""
    digest = hashlib.sha256()
    with os.fdopen(_open_regular(src, name), "rb") as fin, open(dest, "wb") as fout:
        for chunk in iter(lambda: fin.read(CHUNK), b""):
            digest.update(chunk)
            fout.write(chunk)
    got = digest.hexdigest()
    if got != want:
        raise Refused(
            "%s: sha256 %s... does not match the signed manifest (%s...); the wheel was altered "
            "or damaged, copy the bundle again" % (name, got[:16], want[:16])
        )


# ---- trust: the same pins, in the same order, as installer.bundle.trust ----
def _raw_key(pem: bytes, source: str) -> bytes:
    body = b"".join(line.strip() for line in pem.splitlines() if not line.startswith(b"-----"))
    try:
        der = base64.b64decode(body, validate=True)
    except ValueError:
        raise Stop("%s: not a PEM public key" % source) from None
    if len(der) != 44 or not der.startswith(SPKI_ED25519):
        raise Stop("%s: not an Ed25519 key" % source)
    return der[12:]


def key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def _option_values(argv: List[str], names: Tuple[str, ...]) -> List[str]:
    out = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg in names and i + 1 < len(argv):
            out.append(argv[i + 1])
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                out.append(arg[len(name) + 1 :])
    return out


def host_pins(argv: List[str]) -> Dict[str, bytes]:
    """Key id -> raw key from --trust, $SEALBOX_TRUST and the host's pin folder."""
    explicit = _option_values(argv, ("--trust",))
    sources = explicit + [p for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p]
    sources.append(os.environ.get(TRUST_DIR_ENV) or HOST_TRUST_DIR)
    keys = {}  # type: Dict[str, bytes]
    for source in sources:
        if not os.path.exists(source):
            if source in explicit:
                raise Stop("--trust %s: no such file" % source)
            continue
        paths = [source]
        if os.path.isdir(source):
            paths = sorted(
                os.path.join(source, n) for n in os.listdir(source) if n.endswith(".pub")
            )
        for path in paths:
            with open(path, "rb") as fh:
                raw = _raw_key(fh.read(4096), path)
            keys.setdefault(key_id(raw), raw)
    return keys


def wheel_pins(bundle: str) -> Dict[str, bytes]:
    """The keys built into the bundle's Sealbox wheel: what the installed tool falls back to
    on a host with no pins (they catch damage and partial tampering, not a replaced bundle)."""
    folder = os.path.join(bundle, "wheels")
    names = (
        [n for n in sorted(os.listdir(folder)) if n.startswith("sealbox-")]
        if (os.path.isdir(folder))
        else []
    )
    if len(names) != 1:
        raise Refused(
            "wheels/: expected one sealbox wheel, found %s; copy the bundle again" % names
        )
    keys = {}  # type: Dict[str, bytes]
    path = os.path.join(folder, names[0])
    try:
        with os.fdopen(_open_regular(path, "wheels/" + names[0]), "rb") as fh:
            with zipfile.ZipFile(fh) as zf:
                for info in zf.infolist():
                    if WHEEL_KEYS.match(info.filename) and info.file_size <= 4096:
                        raw = _raw_key(zf.read(info), "wheels/%s!%s" % (names[0], info.filename))
                        keys.setdefault(key_id(raw), raw)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Refused(
            "wheels/%s: unreadable (%s); copy the bundle again" % (names[0], exc)
        ) from None
    return keys


def check_signature(manifest: bytes, sig: Optional[bytes], keys: Dict[str, bytes]) -> str:
    """The signer's key id ('' for an unsigned bundle allowed by $SEALBOX_ALLOW_UNSIGNED)."""
    if sig is None:
        if os.environ.get(UNSIGNED_ENV) == "1":
            return ""
        raise Refused(
            "%s: missing, the bundle is not signed; ask the vendor for a signed bundle "
            "(sealbox bundle create --key), or set %s=1 for a development bundle"
            % (SIGNATURE, UNSIGNED_ENV)
        )
    try:
        doc = json.loads(sig.decode("utf-8"))
        if doc.get("algorithm") != "ed25519" or int(doc.get("format", 0)) != 1:
            raise ValueError("unsupported format or algorithm")
        kid = str(doc["key_id"])
        raw_sig = base64.b64decode(str(doc["signature"]).encode(), validate=True)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Refused("%s: unreadable signature file (%s)" % (SIGNATURE, exc)) from None
    key = keys.get(kid)
    if key is None:
        raise Refused(
            "%s: signed by key %s, which is not trusted here; get the vendor's public key "
            "through a separate channel, compare its id, and pass --trust vendor.pub (or pin "
            "it: sealbox bundle trust vendor.pub)" % (SIGNATURE, kid)
        )
    if not ed25519_verify(key, manifest, raw_sig):
        raise Refused(
            "%s: does not match its signature (key %s); the manifest was altered or damaged, "
            "copy the bundle again" % (MANIFEST, kid)
        )
    return kid


# ---- what the signed manifest says about the carried wheels ----
def carried_wheels(manifest: bytes) -> List[dict]:
    """The `carried:` line of the (already verified) manifest bytes: one JSON object, written
    by installer.bundle.carry, which YAML reads as the same mapping."""
    lines = [ln for ln in manifest.split(b"\n") if ln.startswith(CARRIED)]
    if len(lines) != 1:
        raise Refused(
            "%s: %s carried section; this install.py needs a bundle made by the same Sealbox "
            "(sealbox bundle create)" % (MANIFEST, "no" if not lines else "more than one")
        )
    try:
        doc = json.loads(lines[0][len(CARRIED) :].decode("utf-8"))
        if doc.get("format") != 1:
            raise ValueError("format %r" % doc.get("format"))
        wheels = doc["wheels"]
        for w in wheels:
            ok = (
                WHEEL_FILE.match(w["file"])
                and re.match(r"^[0-9a-f]{64}$", w["sha256"])
                and REQUIREMENT.match(w["requirement"])
                and all(re.match(r"^3\.[0-9]+$", v) for v in w["python"])
            )
            if not ok:
                raise ValueError("bad entry %r" % (w,))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Refused("%s: carried section malformed (%s)" % (MANIFEST, exc)) from None
    return wheels


def for_this_python(wheels: List[dict]) -> List[dict]:
    here = "%d.%d" % sys.version_info[:2]
    chosen = [w for w in wheels if here in w["python"]]
    if not any(w["requirement"].startswith("sealbox==") for w in chosen):
        carried = sorted({v for w in wheels for v in w["python"]})
        raise Stop(
            "this bundle carries Sealbox for Python %s, and this is Python %s; run install.py "
            "with one of those (python3.X install.py ...)" % (", ".join(carried) or "-", here)
        )
    return chosen


def stamp_of(wheels: List[dict]) -> str:
    return "".join(sorted("%s  %s\n" % (w["sha256"], w["file"]) for w in wheels))


def venv_for(home: str, wheels: List[dict]) -> str:
    """The venv's folder: named by the hashes of exactly the wheels it is built from."""
    version = [w["requirement"] for w in wheels if w["requirement"].startswith("sealbox==")]
    digest = hashlib.sha256(stamp_of(wheels).encode()).hexdigest()[:16]
    return os.path.join(
        home, "sealbox-%s-py%d.%d-%s" % ((version[0][9:],) + sys.version_info[:2] + (digest,))
    )


def ready(venv: str, wheels: List[dict]) -> bool:
    try:
        with open(os.path.join(venv, STAMP)) as fh:
            same = fh.read() == stamp_of(wheels)
    except OSError:
        return False
    return same and os.path.exists(os.path.join(venv, "bin", "python"))


def _requirements(wheels: List[dict]) -> str:
    hashes = {}  # type: Dict[str, List[str]]
    for w in wheels:
        hashes.setdefault(w["requirement"], []).append(w["sha256"])
    return "".join(
        "%s %s\n" % (req, " ".join("--hash=sha256:" + h for h in sorted(set(hs))))
        for req, hs in sorted(hashes.items())
    )


def _pip_env() -> Dict[str, str]:
    """pip sees no configuration of this host: no extra index, find-links or constraints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def stage_wheels(bundle: str, wheels: List[dict]) -> str:
    """Copy every wheel into a private folder, checking each against the signed sha256:
    pip later reads only these checked copies, never the bundle (which may change meanwhile)."""
    staging = tempfile.mkdtemp(prefix="sealbox-wheels-")
    try:
        for w in wheels:
            src = os.path.join(bundle, *w["file"].split("/"))
            try:
                _copy_checked(src, w["file"], os.path.join(staging, w["file"][7:]), w["sha256"])
            except FileNotFoundError:
                raise Refused(
                    "%s: listed in the manifest but missing; copy the bundle again" % w["file"]
                ) from None
        with open(os.path.join(staging, "requirements.txt"), "w") as fh:
            fh.write(_requirements(wheels))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def build_venv(staging: str, venv: str, wheels: List[dict], key: str) -> None:
    """Make the venv from the checked wheels only (no index, no host pip configuration)."""
    sys.stderr.write(
        "Setting up Sealbox in %s (offline, from the bundle's wheels, %s)\n"
        % (venv, "signed by key " + key if key else "UNSIGNED development bundle")
    )
    if subprocess.call([sys.executable, "-I", "-m", "venv", "--clear", venv]) != 0:
        raise Stop(
            "cannot create a virtual environment in %s (Debian/Ubuntu: apt-get "
            "install python3-venv)" % venv,
            3,
        )
    python = os.path.join(venv, "bin", "python")
    res = subprocess.call(
        [python, "-I", "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-index", "--no-cache-dir", "--only-binary", ":all:", "--require-hashes",
         "--find-links", staging, "-r", os.path.join(staging, "requirements.txt")],
        env=_pip_env(),
    )  # fmt: skip
    if res != 0:
        raise Stop(
            "installing Sealbox into %s failed (see above); is this a platform the "
            "bundle was built for (glibc >= 2.17, x86_64 or aarch64)?" % venv,
            1,
        )
    with open(os.path.join(venv, STAMP + ".tmp"), "w") as fh:
        fh.write(stamp_of(wheels))
    os.replace(os.path.join(venv, STAMP + ".tmp"), os.path.join(venv, STAMP))


def home() -> str:
    if os.environ.get("SEALBOX_HOME"):
        return os.environ["SEALBOX_HOME"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/sealbox/python"
    return os.path.expanduser("~/.local/share/sealbox/python")


def locate(argv: List[str]) -> str:
    """--bundle, then $SEALBOX_BUNDLE, then this file's folder: as the CLI finds it."""
    given = _option_values(argv, ("--bundle", "-b"))
    bundle = os.path.abspath(given[-1] if given else os.environ.get("SEALBOX_BUNDLE") or HERE)
    if not os.path.isfile(os.path.join(bundle, MANIFEST)):
        raise Stop(
            "%s: not a Sealbox bundle (no %s); run the bundle's install.py, or pass "
            "--bundle DIR" % (bundle, MANIFEST)
        )
    return bundle


def bootstrap(argv: List[str]) -> Tuple[str, str]:
    """Verify the bundle's manifest and Sealbox wheels, make or reuse their venv: its python."""
    if sys.version_info < (3, 9):
        raise Stop("Sealbox needs Python >= 3.9 (this is %d.%d)" % sys.version_info[:2])
    bundle = locate(argv)
    manifest = _read(os.path.join(bundle, MANIFEST), MANIFEST)
    try:
        sig = _read(os.path.join(bundle, SIGNATURE), SIGNATURE, 4096)  # type: Optional[bytes]
    except FileNotFoundError:
        sig = None
    pins = host_pins(argv)
    signer = check_signature(manifest, sig, pins or wheel_pins(bundle))
    wheels = for_this_python(carried_wheels(manifest))
    venv = venv_for(home(), wheels)
    if not ready(venv, wheels):
        if not pins and signer:
            sys.stderr.write(
                "note: no vendor key pinned on this host (%s); the bundle is checked against the "
                "key in its own Sealbox wheel (%s), which catches damage, not a replaced bundle; "
                "pin it: sealbox bundle trust vendor.pub\n"
                % (os.environ.get(TRUST_DIR_ENV) or HOST_TRUST_DIR, signer)
            )
        staging = stage_wheels(bundle, wheels)  # every wheel checked before anything is made
        try:
            os.makedirs(os.path.dirname(venv), exist_ok=True)
            lock = os.open(venv + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another install.py may be building it too
                if not ready(venv, wheels):
                    build_venv(staging, venv, wheels, signer)
            finally:
                os.close(lock)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(venv, "bin", "python"), bundle


def other_sealbox() -> Optional[str]:
    """Where this interpreter would import another Sealbox from (found, never imported: its
    ``installer/__init__.py`` is not run), or None."""
    try:
        import importlib.util

        found = importlib.util.find_spec("installer")
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    return os.path.dirname(found.origin) if found.origin else str(found.submodule_search_locations)


def main(argv: List[str]) -> None:
    """Always the bundle's own Sealbox: the carried wheels, verified, in the venv named by
    their hashes. There is no fast path for a Sealbox the interpreter already has: its code,
    pins and checks are not the bundle's, and no check of its files could make this
    interpreter trustworthy (a .pth file or sitecustomize in it ran before this line)."""
    try:
        python, bundle = bootstrap(argv)
    except (Refused, Stop) as exc:
        sys.stderr.write("error: %s\n" % exc)
        sys.exit(exc.code)
    other = other_sealbox()
    if other is not None and not other.startswith(os.path.dirname(os.path.dirname(python))):
        sys.stderr.write(
            "note: not using the Sealbox importable here (%s); install.py runs the bundle's own, "
            "from its verified wheels (%s)\n" % (other, os.path.dirname(os.path.dirname(python)))
        )
    os.environ["SEALBOX_SCRIPT_DIR"] = bundle
    os.execv(python, [python, "-I", "-c", RUN] + argv)


if __name__ == "__main__":
    main(sys.argv[1:])
