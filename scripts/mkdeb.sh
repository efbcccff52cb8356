#!/bin/sh
# mkdeb.sh BINDIR OUTDIR VERSION: build testimony_VERSION_ARCH.deb with plain
# dpkg-deb from the two binaries in BINDIR and the files of deploy/. Run by
# "make deb".
set -eu
bindir=$1 outdir=$2 version=$3
cd "$(dirname "$0")/.."

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
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	deploy/debian/control.in > "$stage/DEBIAN/control"

mkdir -p "$outdir"
deb="$outdir/testimony_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
