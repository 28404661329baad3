#!/bin/bash
# The cost of a cross-node route: the same console requests to one
# simulated device (held by node1) through node1 (local) and through
# node2 (directory lookup in Redis, then mutual TLS to node1), in one run.
#
#   - keepalive: Identify requests/s on one keep-alive console connection
#     (curl, N URLs in one command): SOCKS5 (one channel for all) and the
#     HTTP proxy (local: one kept channel; through another node: a new
#     lookup + TLS connection + channel per request, none kept);
#   - new: one curl per request (new console connection, new channel),
#     requests/s and median latency.
# Each measurement RUNS times; medians and remote/local ratios printed.
#
# usage: bench/cluster.sh [-r RUNS] [-n KEEPALIVE_REQUESTS] [-c NEW_REQUESTS]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
RUNS=5 REQS=1000 NEW=200
while getopts r:n:c: o; do
    case $o in r) RUNS=$OPTARG ;; n) REQS=$OPTARG ;; c) NEW=$OPTARG ;; *) exit 2 ;; esac
done

make -s -C "$top" module sim
work=$(mktemp -d /tmp/fcfh-bench-cluster.XXXXXX)
chmod 755 "$work"
simpid= redispid=
cleanup() {
    for n in 1 2; do nginx -p "$work/n$n/" -c "$work/n$n/nginx.conf" -s stop 2>/dev/null || true; done
    [ -n "$simpid" ] && kill "$simpid" 2>/dev/null
    [ -n "$redispid" ] && kill "$redispid" 2>/dev/null
    sleep 0.5; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
"$top/tools/mkcerts.sh" "$work/certs"
"$top/tools/mkcerts-cluster.sh" "$work/certs" node1 node2

base=$((20000 + RANDOM % 20000))
rport=$base
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work" > "$work/redis.log" 2>&1 &
redispid=$!

# node N: device $((base+10N+1)), cluster $((base+10N+2)), socks +3, http +4
for n in 1 2; do
    p=$((base + 10 * n))
    mkdir -p "$work/n$n"
    cat > "$work/n$n/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
load_module $top/build/ngx_fcfh_module.so;
worker_processes 1;
error_log $work/n$n/error.log warn;
pid $work/n$n/nginx.pid;
fcfh_zone 16m;
fcfh_relay_dir $work/n$n/relay;
fcfh_cluster_node node$n;
fcfh_cluster_address 127.0.0.1:$((p + 2));
fcfh_cluster_redis 127.0.0.1:$rport;
fcfh_cluster_ssl_certificate $work/certs/node$n.crt;
fcfh_cluster_ssl_certificate_key $work/certs/node$n.key;
fcfh_cluster_ssl_trusted_certificate $work/certs/cluster-ca.crt;
events { worker_connections 4096; }
stream {
    server {
        listen 127.0.0.1:$((p + 1)) ssl;
        ssl_certificate $work/certs/server.crt;
        ssl_certificate_key $work/certs/server.key;
        fcfh_tunnel;
        fcfh_auth_file $work/certs/devices.htpasswd;
    }
    server {
        listen 127.0.0.1:$((p + 2)) ssl;
        ssl_certificate $work/certs/node$n.crt;
        ssl_certificate_key $work/certs/node$n.key;
        ssl_verify_client on;
        ssl_client_certificate $work/certs/cluster-ca.crt;
        fcfh_cluster_relay;
    }
    server { listen 127.0.0.1:$((p + 3)); fcfh_proxy; }
}
http {
    access_log off;
    server {
        listen 127.0.0.1:$((p + 4));
        location / { fcfh_pass; }
        location = /status { fcfh_status; }
    }
}
CONF
    nginx -p "$work/n$n/" -c "$work/n$n/nginx.conf" -e "$work/n$n/error.log"
done

guid=00000000-0000-4000-8000-0000000000c5
"$top/build/fcfh-sim" --connect "127.0.0.1:$((base + 11))" --guid $guid \
    --quiet > "$work/sim.out" 2>&1 &
simpid=$!
for _ in $(seq 100); do
    [ "$(redis-cli -p "$rport" HGET "fcfh:d:$guid" node)" = node1 ] && break
    sleep 0.1
done
[ "$(redis-cli -p "$rport" HGET "fcfh:d:$guid" node)" = node1 ] \
    || { echo "device not in the directory" >&2; exit 1; }

# each door once, so a broken setup fails here with its reason
for n in 1 2; do
    p=$((base + 10 * n))
    for how in "--socks5-hostname 127.0.0.1:$((p + 3))" "-x 127.0.0.1:$((p + 4))"; do
        code=$(curl -sS -o "$work/check.out" -w '%{http_code}' $how \
            -H 'Content-Type: application/soap+xml' \
            --data-binary @"$top/sim/identify.xml" "http://$guid:16992/wsman") || true
        if [ "$code" != 200 ]; then
            echo "node$n $how: HTTP $code" >&2
            cat "$work/check.out" "$work"/n*/error.log >&2
            exit 1
        fi
    done
done

[ -n "${PAUSE:-}" ] && { echo "ports base=$base work=$work"; sleep "$PAUSE"; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ct='Content-Type: application/soap+xml'
urls=$(for _ in $(seq "$REQS"); do printf 'http://%s:16992/wsman ' $guid; done)

# keepalive RATE: requests/s of REQS requests through one curl
keepalive() {
    local t
    t=$( { /usr/bin/time -f %e sh -c "curl -sS $1 -H '$ct' \
        --data-binary @$top/sim/identify.xml $urls > /dev/null \
        2>> $work/curl.err"; } 2>&1 | tail -1 )
    echo "$REQS / $t" | bc -l
}

# new: requests/s and median ms of NEW curls in a row
newconn() {
    local i t0 t1 lat=()
    t0=$(date +%s.%N)
    for i in $(seq "$NEW"); do
        lat+=("$(curl -sS -o /dev/null -w '%{time_total}' $1 -H "$ct" \
            --data-binary @"$top/sim/identify.xml" \
            "http://$guid:16992/wsman" 2>> "$work/curl.err" || echo 0)")
    done
    t1=$(date +%s.%N)
    printf '%s %s\n' "$(echo "$NEW / ($t1 - $t0)" | bc -l)" \
        "$(printf '%s\n' "${lat[@]}" | median | awk '{print $1 * 1000}')"
}

declare -A r
for run in $(seq "$RUNS"); do
    for n in 1 2; do
        p=$((base + 10 * n))
        r[ka_socks_$n]+="$(keepalive "--socks5-hostname 127.0.0.1:$((p + 3))") "
        r[ka_pass_$n]+="$(keepalive "-x 127.0.0.1:$((p + 4))") "
        read -r rate ms < <(newconn "--socks5-hostname 127.0.0.1:$((p + 3))")
        r[new_socks_$n]+="$rate " r[new_socks_ms_$n]+="$ms "
        read -r rate ms < <(newconn "-x 127.0.0.1:$((p + 4))")
        r[new_pass_$n]+="$rate " r[new_pass_ms_$n]+="$ms "
    done
done

med() { printf '%s\n' ${r[$1]} | median; }
for k in ka_socks ka_pass new_socks new_pass; do
    l=$(med ${k}_1) x=$(med ${k}_2)
    printf '%-10s local=%8.0f/s  other_node=%8.0f/s  ratio=%.2f' "$k" "$l" "$x" \
        "$(echo "$x / $l" | bc -l)"
    case $k in new_*) printf '  median_ms local=%.2f other_node=%.2f' \
        "$(med ${k}_ms_1)" "$(med ${k}_ms_2)" ;; esac
    printf '  (runs local: %s; other: %s)\n' "$(printf '%.0f ' ${r[${k}_1]})" \
        "$(printf '%.0f ' ${r[${k}_2]})"
done
if [ -s "$work/curl.err" ]; then
    echo "curl errors: $(wc -l < "$work/curl.err")"; sort "$work/curl.err" | uniq -c | head
fi
grep -hE '\[(alert|crit|emerg)\]' "$work"/n*/error.log || true
