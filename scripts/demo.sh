#!/bin/sh
# demo.sh: run Testimony on loopback with a demo investigator (make demo).
# Everything lives in ./demo/ (deleted and made afresh each time): the data
# directory, the demo investigator's age identity, and their enrolment.
# Not for real use: the demo keeps the investigator's secret key next to
# the server, and turns Secure cookies off for plain http://127.0.0.1.
set -eu
cd "$(dirname "$0")/.."
bin=${BIN:-bin}
demo=${DEMO:-demo}
waddr=${WITNESS_ADDR:-127.0.0.1:8080}
iaddr=${INVESTIGATOR_ADDR:-127.0.0.1:8081}

rm -rf "$demo"
mkdir -m 0700 "$demo"
"$bin/testimonyd" init --data "$demo/data" >/dev/null
"$bin/testimony" keygen -o "$demo/investigator-key.txt" 2>/dev/null
"$bin/testimonyd" investigator add demo --recipient-file "$demo/investigator-key.txt" \
	--json --data "$demo/data" >"$demo/enrolment.json" 2>/dev/null
field() { sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$demo/enrolment.json"; }
pass=$(field passphrase)
secret=$(field totp_secret)
if [ -z "$pass" ] || [ -z "$secret" ]; then
	echo "demo: could not read the enrolment in $demo/enrolment.json" >&2
	exit 1
fi

cat <<MSG

Testimony demo — both sites on loopback (Ctrl-C stops the server)

  witness site       http://$waddr/
  investigator site  http://$iaddr/

  investigator login
    user        demo
    passphrase  $pass
    TOTP code   oathtool --totp -b $secret
                (or add this URI to an authenticator app:
                 $(field totp_uri))

  the investigator's key   $demo/investigator-key.txt
  read what witnesses sent: download a bundle on the investigator site, then
      $bin/testimony open -i $demo/investigator-key.txt -o $demo/cases BUNDLE.tar

MSG
exec "$bin/testimonyd" serve --data "$demo/data" --witness-addr "$waddr" \
	--investigator-addr "$iaddr" --secure-cookies=false
