#!/usr/bin/env bash
# demo.sh: run Testimony on loopback with a demo investigator (make demo).
# Everything lives in ./demo/ (DEMO): the data directory (deleted and made
# afresh each run), the server's log, the demo investigator's age identity
# and their enrolment, and the cases they open (both kept across runs).
# WITNESS_ADDR and INVESTIGATOR_ADDR choose the ports.
# Not for real use: the demo keeps the investigator's secret key next to
# the server, and turns Secure cookies off for plain http://127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-bin}
demo=${DEMO:-demo}
waddr=${WITNESS_ADDR:-127.0.0.1:8080}
iaddr=${INVESTIGATOR_ADDR:-127.0.0.1:8081}

fail() {
	echo "demo: $*" >&2
	exit 1
}
ports_hint() {
	echo "  Choose other ports, e.g.:  make demo WITNESS_ADDR=127.0.0.1:9080 INVESTIGATOR_ADDR=127.0.0.1:9081" >&2
}

# A port already taken (often by a demo still running) is refused before
# anything is touched: the data directory may be that demo's.
listening() { # ADDR: something accepts connections there
	local host=${1%:*} port=${1##*:}
	host=${host#[} host=${host%]}
	[ "$port" != 0 ] || return 1
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${host:-127.0.0.1}" "$port" 2>/dev/null
}
for a in "witness site:$waddr" "investigator site:$iaddr"; do
	if listening "${a#*:}"; then
		echo "demo: ${a#*:} (the ${a%%:*}) is already in use: is another demo running?" >&2
		ports_hint
		exit 1
	fi
done

mkdir -p -m 0700 "$demo"
# Absolute paths, so that the lines printed below work from anywhere.
demo=$(cd "$demo" && pwd)
bin=$(cd "$bin" && pwd)
rm -rf "$demo/data" "$demo/enrolment.json"
"$bin/testimonyd" init --data "$demo/data" >/dev/null
if [ ! -e "$demo/investigator-key.txt" ]; then
	"$bin/testimony" keygen -o "$demo/investigator-key.txt" 2>/dev/null
fi
"$bin/testimonyd" investigator add demo --recipient-file "$demo/investigator-key.txt" \
	--json --data "$demo/data" >"$demo/enrolment.json" 2>/dev/null
field() { sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$demo/enrolment.json"; }
pass=$(field passphrase)
secret=$(field totp_secret)
[ -n "$pass" ] && [ -n "$secret" ] || fail "could not read the enrolment in $demo/enrolment.json"

# Start the server, and print how to use it only once both sites listen:
# the addresses printed are the ones it bound (port 0 picks a free one).
log=$demo/server.log
"$bin/testimonyd" serve --data "$demo/data" --witness-addr "$waddr" \
	--investigator-addr "$iaddr" --secure-cookies=false >"$log" 2>&1 &
pid=$!
stop() {
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	exit 0
}
trap stop INT TERM
bound() { sed -n "s/.*\"msg\":\"serving\",\"listener\":\"$1\",\"addr\":\"\([^\"]*\)\".*/\1/p" "$log"; }
for _ in $(seq 300); do
	[ -n "$(bound investigator)" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" || true
		echo "demo: the server did not start:" >&2
		sed 's/^/  /' "$log" >&2
		if grep -q 'address already in use' "$log"; then ports_hint; fi
		exit 1
	fi
	sleep 0.1
done
w=$(bound witness) i=$(bound investigator)
[ -n "$i" ] || { kill "$pid"; fail "the server did not say it was serving within 30 s; see $log"; }
bundle="testimony-$(date -u +%F).tar"

cat <<MSG

Testimony demo — both sites on loopback (Ctrl-C stops the server)

  witness site       http://$w/
  investigator site  http://$i/

  investigator login
    user        demo
    passphrase  $pass
    TOTP code   oathtool --totp -b $secret
                (or add this URI to an authenticator app:
                 $(field totp_uri))
    The first login asks you to choose a new passphrase (at least 12
    characters); use it from then on, with a fresh TOTP code each time.

  Read what witnesses sent: on the investigator site, download a bundle
  (Cases, "Download bundle"); the browser saves it as testimony-YYYY-MM-DD.tar
  (today: $bundle), the UTC day of the download. Then:
      $bin/testimony open -i $demo/investigator-key.txt -o $demo/cases ~/Downloads/$bundle
      $bin/testimony report $demo/cases
  and open in a browser
      file://$demo/cases/index.html       every case, with its pages
      file://$demo/cases/report.html      charts and corroboration
      $demo/cases/testimonies.csv         one row per submission, for a spreadsheet

  Kept across runs: the investigator's key and the cases. Made afresh each
  run: the data directory ($demo/data). The server's log: $log

MSG
wait "$pid" && st=0 || st=$?
echo "demo: the server stopped (status $st); its log is $log" >&2
tail -n 5 "$log" >&2
exit "$st"
