#!/bin/sh
# mkdeb.sh BINDIR OUTDIR VERSION: build testimony_VERSION_ARCH.deb with plain
# dpkg-deb from the two binaries in BINDIR and the files of deploy/, and
# beside it one CycloneDX SBOM (JSON) per binary,
# testimony_VERSION_ARCH.BINARY.cdx.json. Run by "make deb".
#
# The same commit gives the same bytes (deploy/deb_test.go checks): every
# time in the package is SOURCE_DATE_EPOCH, by default the last commit's;
# modes are set here, not left to the umask; owners are root; dpkg-deb
# sorts the entries; xz runs on one thread (its multi-threaded output
# differs); Installed-Size counts bytes, not the file system's blocks.
set -eu
bindir=$1 outdir=$2 version=$3
cd "$(dirname "$0")/.."
GO=${GO:-go}
CYCLONEDX=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) ||
		{ echo "mkdeb: not in a git checkout: set SOURCE_DATE_EPOCH" >&2; exit 1; }
fi
export SOURCE_DATE_EPOCH

# A Debian version starts with a digit: turn a bare commit into 0~git….
# A tag v1.2.3 (or v1.2.3-4-gabc) gives 1.2.3 (1.2.3+4.gabc).
if echo "$version" | grep -Eq '^v?[0-9]+\.[0-9]+'; then
	version=$(echo "${version#v}" | sed -e 's/-/+/' -e 's/-/./g')
else
	version="0~git.$(echo "$version" | tr -c 'A-Za-z0-9.+~\n' '.')"
fi
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -D -m 0755 "$bindir/testimonyd" "$stage/usr/bin/testimonyd"
install -D -m 0755 "$bindir/testimony" "$stage/usr/bin/testimony"
install -D -m 0644 deploy/systemd/testimonyd.service "$stage/lib/systemd/system/testimonyd.service"
install -D -m 0640 deploy/testimonyd.toml "$stage/etc/testimony/testimonyd.toml"
install -D -m 0644 deploy/tor/torrc "$stage/usr/share/testimony/torrc"
install -D -m 0644 deploy/README.md "$stage/usr/share/testimony/README.md"
install -d -m 0755 "$stage/DEBIAN"
for f in postinst prerm postrm; do
	install -m 0755 "deploy/debian/$f" "$stage/DEBIAN/$f"
done
echo /etc/testimony/testimonyd.toml > "$stage/DEBIAN/conffiles"
# The sum of the files' sizes in KiB, each rounded up (as dpkg-gencontrol
# counts); du's blocks depend on the file system the stage is on.
size=$(find "$stage" -path "$stage/DEBIAN" -prune -o -type f -printf '%s\n' |
	awk '{ k += int(($1 + 1023) / 1024) } END { print k + 0 }')
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	deploy/debian/control.in > "$stage/DEBIAN/control"

find "$stage" -type d -exec chmod 0755 {} +
chmod 0644 "$stage/DEBIAN/conffiles" "$stage/DEBIAN/control"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$outdir"
deb="$outdir/testimony_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --threads-max=1 --build "$stage" "$deb" >/dev/null
echo "$deb"
# The SBOMs read the module list that go build wrote into each binary: what
# is linked in, not all of go.mod (test-only modules are left out). No
# serial number or time, so that they too are reproducible.
for b in testimonyd testimony; do
	sbom="${deb%.deb}.$b.cdx.json"
	"$GO" run "$CYCLONEDX" bin -json -noserial -notimestamp -version "$version" \
		-output "$sbom" "$bindir/$b"
	echo "$sbom"
done
