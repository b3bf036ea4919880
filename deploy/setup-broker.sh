#!/usr/bin/env bash
# One-time broker setup on a commune server (root): certificates, the dynamic-security file
# with an admin account, the controller's least-privilege account, and its password file.
#   sudo deploy/setup-broker.sh HOSTNAME [IP ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
host="${1:?usage: setup-broker.sh HOSTNAME [IP ...]}"
shift
install -d -m 755 /etc/mosquitto/certs /etc/wardfleet
"$here/make-certs.sh" /etc/wardfleet/pki "$host" "$@"
install -m 644 /etc/wardfleet/pki/ca.crt /etc/wardfleet/pki/server.crt /etc/mosquitto/certs/
install -m 640 -g mosquitto /etc/wardfleet/pki/server.key /etc/mosquitto/certs/
install -m 644 "$here/mosquitto.conf" /etc/mosquitto/conf.d/wardfleet.conf
if [ ! -f /var/lib/mosquitto/dynamic-security.json ]; then
    admin_pw="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"
    mosquitto_ctrl dynsec init /var/lib/mosquitto/dynamic-security.json admin "$admin_pw" >/dev/null
    chown mosquitto:mosquitto /var/lib/mosquitto/dynamic-security.json
    umask 077; printf '%s\n' "$admin_pw" > /etc/wardfleet/broker-admin.password
fi
systemctl restart mosquitto
WARDFLEET_MQTT_PASSWORD="$(cat /etc/wardfleet/broker-admin.password)" \
    wardfleet broker setup --broker 127.0.0.1:1883 --username admin --password-file /etc/wardfleet/controller.password \
        --claim-password-file /etc/wardfleet/claim.password
chown wardfleet:wardfleet /etc/wardfleet/controller.password 2>/dev/null || true
echo "Broker ready. Devices: mqtts://$host:8883 with /etc/wardfleet/pki/ca.crt."
echo "Give devices accounts with 'wardfleet devices provision' (credentials sheet) or 'wardfleet devices claim-code'"
echo "(one-time codes; devices claim with the account wardfleet-claim, password in /etc/wardfleet/claim.password)."
