#!/bin/sh
# Nightly WardFleet backup with rotation (run by deploy/systemd/wardfleet-backup.timer).
#
# `wardfleet backup` takes a consistent snapshot while the controller keeps running (SQLite:
# VACUUM INTO; PostgreSQL: pg_dump -Fc), checks it and prints its row counts. This script names
# it by the UTC day, keeps the newest KEEP_DAILY daily backups and, as a hard link (no extra
# space), the first backup of each ISO week for KEEP_WEEKLY weeks. A failed backup leaves no
# file behind and makes the unit fail (systemctl status / journalctl -u wardfleet-backup).
#
# Settings (environment): WARDFLEET_DB (as for `wardfleet run`), WARDFLEET_BACKUP_DIR
# (/var/backups/wardfleet), KEEP_DAILY (7), KEEP_WEEKLY (5), WARDFLEET (/usr/local/bin/wardfleet).
set -eu

dir=${WARDFLEET_BACKUP_DIR:-/var/backups/wardfleet}
keep_daily=${KEEP_DAILY:-7}
keep_weekly=${KEEP_WEEKLY:-5}
wardfleet=${WARDFLEET:-/usr/local/bin/wardfleet}
case "${WARDFLEET_DB:-}" in
    postgres://* | postgresql://*) ext=dump ;;
    *) ext=sqlite ;;
esac

umask 077
mkdir -p "$dir/daily" "$dir/weekly"
file="$dir/daily/wardfleet-$(date -u +%Y-%m-%d).$ext"
# A second run on the same day (by hand) gets its own name.
[ -e "$file" ] && file="$dir/daily/wardfleet-$(date -u +%Y-%m-%dT%H%M%SZ).$ext"
"$wardfleet" backup "$file"

week=$(date -u +%G-W%V)
if ! ls "$dir/weekly" | grep -q "^wardfleet-$week\."; then
    ln "$file" "$dir/weekly/wardfleet-$week.$ext" 2>/dev/null || cp -p "$file" "$dir/weekly/wardfleet-$week.$ext"
fi

# Rotation: names sort by date; the newest N of each kind stay.
prune() { # folder, how many to keep
    ls "$1" | grep "^wardfleet-.*\.\(sqlite\|dump\)$" | sort -r | tail -n +"$(($2 + 1))" | while read -r old; do
        rm -f -- "$1/$old"
        echo "đã xoá bản cũ / removed old backup: $1/$old"
    done
}
prune "$dir/daily" "$keep_daily"
prune "$dir/weekly" "$keep_weekly"
