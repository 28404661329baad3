#!/bin/bash
# Console path throughput and WS-Management request rate.
#
#   - bulk: one SOCKS5 channel carrying SIZE bytes from a simulated device
#     to ncat (device TLS -> nginx -> console), through the owner worker
#     and through another worker's relay socket; baseline in the same run:
#     the same bytes over plain TLS on loopback (nginx https -> curl);
#   - wsman: Identify requests per second through the HTTP proxy on one
#     keep-alive connection (curl, N URLs in one command).
# Each measurement RUNS times; medians and ratios printed.
#
# usage: bench/console.sh [-s SIZE_MB] [-r RUNS] [-n REQUESTS] [-w WINDOW]
#                         [-W WORKERS] [-M WINDOW_MAX]
#   -w: fcfh_channel_window (the gateway's buffer and window per channel)
#   -M: fcfh_channel_window_max (how far a bulk channel's window may grow;
#       the same as -w: never grows)
#   -W: worker_processes (1: console and tunnel always in one worker)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
SIZE=200 RUNS=5 REQS=2000 WINDOW=32k WORKERS=2 WMAX=
while getopts s:r:n:w:W:M: o; do
    case $o in
    s) SIZE=$OPTARG ;; r) RUNS=$OPTARG ;; n) REQS=$OPTARG ;; w) WINDOW=$OPTARG ;;
    W) WORKERS=$OPTARG ;; M) WMAX=$OPTARG ;;
    *) exit 2 ;;
    esac
done
bytes=$((SIZE * 1024 * 1024))

make -s -C "$top" module sim
work=$(mktemp -d /tmp/fcfh-bench-console.XXXXXX)
chmod 755 "$work"     # the workers (nobody) reach the relay directory
trap 'nginx -p "$work/" -c "$work/nginx.conf" -s stop 2>/dev/null; kill $simpid 2>/dev/null; rm -rf "$work"' EXIT
"$top/tools/mkcerts.sh" "$work/certs"
head -c "$bytes" /dev/zero > "$work/blob"

base=$((20000 + RANDOM % 20000))
dport=$base sport=$((base + 1)) hport=$((base + 2)) tport=$((base + 3))

cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
load_module $top/build/ngx_fcfh_module.so;
worker_processes $WORKERS;
error_log $work/error.log warn;
pid $work/nginx.pid;
fcfh_zone 16m;
fcfh_relay_dir $work/relay;
events { worker_connections 4096; }
stream {
    server {
        listen 127.0.0.1:$dport ssl;
        ssl_certificate $work/certs/server.crt;
        ssl_certificate_key $work/certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file $work/certs/devices.htpasswd;
        fcfh_channel_window $WINDOW;
        ${WMAX:+fcfh_channel_window_max $WMAX;}
    }
    server { listen 127.0.0.1:$sport; fcfh_proxy; }
}
http {
    access_log off;
    server { listen 127.0.0.1:$hport; location / { fcfh_pass; } location = /status { fcfh_status; } }
    server {
        listen 127.0.0.1:$tport ssl;
        ssl_certificate $work/certs/server.crt;
        ssl_certificate_key $work/certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $work;
    }
}
CONF

nginx -p "$work/" -c "$work/nginx.conf" -e "$work/error.log"
"$top/build/fcfh-sim" --connect "127.0.0.1:$dport" --devices 8 --quiet \
    --window 1048576 > "$work/sim.out" 2>&1 &
simpid=$!
for _ in $(seq 50); do
    n=$(curl -s "http://127.0.0.1:$hport/status" | /usr/bin/python3 -c \
        'import json,sys; print(json.load(sys.stdin)["total"])' || echo 0)
    [ "$n" = 8 ] && break
    sleep 0.2
done

owners=$(curl -s "http://127.0.0.1:$hport/status" | /usr/bin/python3 -c \
    'import json,sys; [print(t["guid"], t["owner_pid"]) for t in json.load(sys.stdin)["tunnels"]]')

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mbps() { echo "$bytes / $1 / 1048576" | bc -l; }

tls=() socks=()
for _ in $(seq "$RUNS"); do
    t=$( { /usr/bin/time -f %e curl -sk -o /dev/null "https://127.0.0.1:$tport/blob"; } 2>&1 )
    tls+=("$(mbps "$t")")
    guid=$(echo "$owners" | shuf -n1 | cut -d' ' -f1)
    t=$( { /usr/bin/time -f %e sh -c "printf 'BULK $bytes\n' | ncat --proxy 127.0.0.1:$sport --proxy-type socks5 --proxy-dns remote $guid 16992 > /dev/null"; } 2>&1 )
    socks+=("$(mbps "$t")")
done

tls_m=$(printf '%s\n' "${tls[@]}" | median)
socks_m=$(printf '%s\n' "${socks[@]}" | median)

urls=$(for _ in $(seq "$REQS"); do printf 'http://%s:16992/wsman ' "$(echo "$owners" | head -1 | cut -d' ' -f1)"; done)
rates=()
for _ in $(seq "$RUNS"); do
    t=$( { /usr/bin/time -f %e sh -c "curl -s -x 127.0.0.1:$hport \
        -H 'Content-Type: application/soap+xml' \
        --data-binary @$top/sim/identify.xml $urls > /dev/null"; } 2>&1 )
    rates+=("$(echo "$REQS / $t" | bc -l)")
done
rate_m=$(printf '%s\n' "${rates[@]}" | median)

printf 'tls_baseline_MBps=%.0f socks5_channel_MBps=%.0f ratio=%.2f (runs: tls %s; socks5 %s)\n' \
    "$tls_m" "$socks_m" "$(echo "$socks_m / $tls_m" | bc -l)" \
    "$(printf '%.0f ' "${tls[@]}")" "$(printf '%.0f ' "${socks[@]}")"
printf 'wsman_identify_per_s=%.0f over one keep-alive connection (runs: %s)\n' \
    "$rate_m" "$(printf '%.0f ' "${rates[@]}")"
grep -E '\[(alert|crit|emerg)\]' "$work/error.log" || true
