#!/usr/bin/env bash
# Makes a commune server's own certificate authority and the broker's TLS certificate with openssl.
#   deploy/make-certs.sh OUTDIR HOSTNAME [IP ...]
# OUTDIR gets ca.crt (give this to devices and installers), ca.key (keep offline), server.crt and
# server.key (for mosquitto, readable by it only). The server certificate names HOSTNAME,
# localhost, 127.0.0.1 and every IP given, so devices can verify it whichever way they connect.
set -euo pipefail
out="${1:?usage: make-certs.sh OUTDIR HOSTNAME [IP ...]}"
host="${2:?usage: make-certs.sh OUTDIR HOSTNAME [IP ...]}"
shift 2
mkdir -p "$out"
umask 077
san="DNS:${host},DNS:localhost,IP:127.0.0.1"
for ip in "$@"; do san="${san},IP:${ip}"; done
if [ ! -f "$out/ca.key" ]; then
    openssl req -x509 -newkey rsa:3072 -sha256 -days 3650 -nodes -keyout "$out/ca.key" -out "$out/ca.crt" \
        -subj "/O=WardFleet/CN=WardFleet CA ${host}" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$out/server.key" -out "$out/server.csr" -subj "/O=WardFleet/CN=${host}" 2>/dev/null
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial -days 825 -sha256 \
    -extfile <(printf "subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n" "$san") \
    -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr"
chmod 644 "$out/ca.crt" "$out/server.crt"
echo "CA: $out/ca.crt  server: $out/server.crt ($san)"
