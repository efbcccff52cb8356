#!/bin/sh
# make-certs.sh: the certificates of Testimony's three-node store
# (deploy/cluster/README.md), with openssl alone.
#
#   make-certs.sh DIR ca                 the cluster's CA (DIR/ca.key stays offline)
#   make-certs.sh DIR node NAME HOST...  a node's certificate, for its host names
#   make-certs.sh DIR client NAME        a testimonyd instance's client certificate
#
# Node certificates serve both as server and as client (routes go both
# ways); a client certificate's subject, CN=NAME, is its NATS user.
set -eu
dir=$1 what=$2
shift 2
umask 077
mkdir -p "$dir"
days=825

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

case $what in
ca)
	key "$dir/ca.key"
	openssl req -new -x509 -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=Testimony store CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$dir/ca.crt"
	;;
node|client)
	name=$1
	shift
	key "$dir/$name.key"
	if [ "$what" = node ]; then
		[ $# -gt 0 ] || { echo "make-certs.sh: node $name: give its host names" >&2; exit 2; }
		san=""
		for h in "$@"; do
			case $h in
			*[!0-9.]*) san="$san${san:+,}DNS:$h" ;;
			*) san="$san${san:+,}IP:$h" ;;
			esac
		done
		ext="subjectAltName=$san
extendedKeyUsage=serverAuth,clientAuth"
	else
		ext="extendedKeyUsage=clientAuth"
	fi
	printf '%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' "$ext" >"$dir/$name.ext"
	openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
		-sha256 -days $days -extfile "$dir/$name.ext" -out "$dir/$name.crt"
	rm "$dir/$name.csr" "$dir/$name.ext"
	;;
*)
	echo "make-certs.sh: unknown kind $what (ca, node or client)" >&2
	exit 2
	;;
esac
