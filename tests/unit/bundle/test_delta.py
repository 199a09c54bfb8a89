"""Delta bundles without Docker: layer selection, the tar filter, manifest fields, base guard."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from installer import signing
from installer.archive.targuard import TarGuard
from installer.archive.tarscan import ImageIdScanner
from installer.bundle.delta import (
    BaseMissing,
    ImageDelta,
    base_doc,
    check_base,
    check_since,
    entry_fields,
    filter_save,
    omit_set,
    plan_image,
    read_base_manifest,
)
from installer.bundle.manifest import (
    ImageEntry,
    Manifest,
    manifest_bytes,
    parse_manifest,
    write_manifest,
)
from installer.bundle.trust import BundleRefused, sign_manifest
from installer.errors import UsageError

A, B, C, D, E = (f"sha256:{c * 64}" for c in "abcde")


# layer selection --------------------------------------------------------------------------
def test_the_base_with_the_longest_equal_leading_run_supplies_the_layers():
    bases = {"sha256:old-face": [A, B, C], "sha256:old-lic": [A, D]}
    got = plan_image("sha256:new", [A, B, C, E], bases)
    assert got == ImageDelta("sha256:new", "sha256:old-face", (A, B, C))


def test_an_equal_layer_above_a_changed_one_is_not_covered():
    # B equals the base's second layer but sits on a new first layer: another chain ID
    got = plan_image("sha256:new", [E, B, C], {"sha256:old": [A, B, C]})
    assert got == ImageDelta("sha256:new", "", ())


def test_an_unchanged_image_is_covered_whole_and_ties_pick_the_smallest_id():
    bases = {"sha256:2": [A, B], "sha256:1": [A, B]}
    assert plan_image("sha256:x", [A, B], bases) == ImageDelta("sha256:x", "sha256:1", (A, B))


def test_a_layer_one_image_reuses_but_another_needs_stays_in_the_archive():
    layers = {"sha256:x": [A, B, C], "sha256:y": [D, B]}  # y needs B above its own new D
    deltas = [ImageDelta("sha256:x", "sha256:old", (A, B)), ImageDelta("sha256:y", "", ())]
    omit = omit_set(deltas, layers)
    assert omit == {A}
    assert entry_fields(deltas[0], omit) == ("sha256:old", (A,))
    assert entry_fields(deltas[1], omit) == ("", ())


# manifest fields --------------------------------------------------------------------------
def delta_manifest() -> Manifest:
    old = Manifest("face", "1.0", [ImageEntry("r/face:1.0", B, "images/images.tar.zst", "s")])
    new = Manifest(
        "face",
        "1.1",
        [ImageEntry("r/face:1.1", C, "images/images.tar.zst", "s", 5, 9, "", B, (A,))],
        extra={"base": base_doc(old)},
    )
    return new


def test_base_and_omits_round_trip_through_the_signed_bytes():
    m = delta_manifest()
    doc = parse_manifest(manifest_bytes(m))
    assert doc.base == {"product": "face", "version": "1.0", "images": {"r/face:1.0": B}}
    assert doc.images[0].base_image == B and doc.images[0].omits == (A,)
    assert manifest_bytes(doc) == manifest_bytes(m)


def test_a_full_manifest_writes_no_delta_fields():
    m = Manifest("face", "1.0", [ImageEntry("r/face:1.0", B, "images/images.tar.zst", "s")])
    text = manifest_bytes(m).decode()
    assert "omits" not in text and "base" not in text and m.base is None


# the base guard ---------------------------------------------------------------------------
def test_a_host_without_the_base_is_refused_naming_the_version_and_image():
    m = delta_manifest()
    with pytest.raises(BaseMissing) as exc:
        check_base(m.images, {C, D}, "h1", m)
    msg = str(exc.value)
    assert exc.value.exit_code == 3
    assert "face 1.0" in msg and "r/face:1.0" in msg and "h1" in msg and "\n" not in msg


def test_a_host_with_the_base_passes_and_entries_that_omit_nothing_need_none():
    m = delta_manifest()
    check_base(m.images, {B}, "h1", m)
    full = [ImageEntry("r/x", C, "f", "s")]
    check_base(full, set(), "h1", None)
    with pytest.raises(BaseMissing, match="reuses the layers of base image"):
        check_base(m.images, set(), "h1")  # the load path: no manifest, names the image


# the vendor side: which manifest a delta is built on ---------------------------------------
def signed_old(tmp_path, key: signing.PrivateKey, product: str = "face", version: str = "1.0"):
    m = Manifest(product, version, [ImageEntry("r/face:1.0", B, "images/images.tar.zst", "s")])
    write_manifest(str(tmp_path), m)
    sign_manifest(str(tmp_path), key)
    return tmp_path


def test_since_takes_only_a_signed_manifest_of_the_same_product_and_an_older_version(tmp_path):
    key = signing.generate()
    old = signed_old(tmp_path, key)
    got = read_base_manifest(str(old / "manifest.yaml"), {key.public.id: key.public})
    assert got.version == "1.0"
    check_since("face", "1.1", got)
    with pytest.raises(UsageError, match="a bundle of face, not ops"):
        check_since("ops", "1.1", got)
    with pytest.raises(UsageError, match="already"):
        check_since("face", "1.0", got)
    other = signing.generate()
    with pytest.raises(BundleRefused, match="not trusted"):
        read_base_manifest(str(old), {other.public.id: other.public})
    (old / "manifest.sig").unlink()
    with pytest.raises(UsageError, match="no manifest.sig"):
        read_base_manifest(str(old), {key.public.id: key.public})


def test_an_edited_base_manifest_is_refused(tmp_path):
    key = signing.generate()
    old = signed_old(tmp_path, key)
    path = old / "manifest.yaml"
    path.write_text(path.read_text().replace("1.0", "0.9"))
    with pytest.raises(BundleRefused, match="does not match its signature"):
        read_base_manifest(str(old), {key.public.id: key.public})


# the tar filter ---------------------------------------------------------------------------
def layer_tar(content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("model.bin")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def diff_id(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_save(oci: bool) -> tuple[bytes, bytes, bytes, bytes]:
    """(save tar, base layer, new layer, config): shaped like docker < 25 or >= 25 output."""
    base, new = layer_tar(b"B" * 300_000), layer_tar(b"N" * 70_000)
    config = json.dumps({"rootfs": {"diff_ids": [diff_id(base), diff_id(new)]}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        if oci:
            names = [f"blobs/sha256/{diff_id(x)[7:]}" for x in (base, new)]
            cfg = f"blobs/sha256/{diff_id(config)[7:]}"
            for n, x in zip(names, (base, new)):
                add(n, x)
        else:
            names = ["1111/layer.tar", "2222/layer.tar"]
            cfg = f"{diff_id(config)[7:]}.json"
            add("1111/VERSION", b"1.0")
            add("1111/layer.tar", base)
            add("2222/layer.tar", new)
            add("3333/layer.tar", link="../1111/layer.tar")  # docker's dedupe of a layer
        add(cfg, config)
        add("manifest.json", json.dumps([{"Config": cfg, "Layers": names}]).encode())
    return buf.getvalue(), base, new, config


@pytest.mark.parametrize("oci", [False, True], ids=["docker<25", "oci-layout"])
def test_filter_leaves_out_the_base_layer_and_keeps_everything_else(oci):
    tar, base, new, config = docker_save(oci)
    out = io.BytesIO()
    got = filter_save(io.BytesIO(tar), out, frozenset({diff_id(base)}))
    data = out.getvalue()
    assert got.left_out == 1 and got.left_out_bytes == len(base) and got.raw == len(data)
    members = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            f = None if m.issym() else t.extractfile(m)
            members[m.name] = f.read() if f else m.linkname
    assert base not in members.values() and new in members.values()
    assert config in members.values() and "manifest.json" in members
    if not oci:
        assert members["3333/layer.tar"] == "../1111/layer.tar" and members["1111/VERSION"]
    # what comes out is what the load path and bundle verify accept: the guard finds its end,
    # and the image-ID check sees the config and manifest.json
    guard = TarGuard()
    guard.feed(data)
    assert guard.end is not None
    scan = ImageIdScanner("x", [diff_id(config)])
    scan.feed(data)
    assert scan.problems() == []
    assert len(data) < len(tar) - 250_000  # the 300 kB base layer is not in it


def test_filter_with_nothing_to_omit_keeps_every_layer():
    tar, base, new, _config = docker_save(False)
    out = io.BytesIO()
    got = filter_save(io.BytesIO(tar), out, frozenset({E}))
    assert got.left_out == 0
    assert base in out.getvalue() and new in out.getvalue()
