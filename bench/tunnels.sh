#!/bin/bash
# Establishes N simulated AMT tunnels against nginx with ngx_fcfh_module,
# holds them HOLD seconds with keepalives, and reports:
#   - setup rate (tunnels/s from the first connection until the status
#     endpoint lists all N),
#   - nginx memory per tunnel (RSS of all workers / N, and the growth over
#     the idle baseline / N),
#   - worker CPU used during the hold (keepalives only).
# Repeats RUNS times and prints each run and the medians.
#
# usage: bench/tunnels.sh [-n N] [-t HOLD_S] [-k KEEPALIVE_S] [-r RUNS]
#                         [-w WORKERS] [-c rsa|ecdsa] [-R RATE]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
N=10000 HOLD=60 KA=30 RUNS=3 WORKERS=2 CERT=rsa RATE=5000
while getopts n:t:k:r:w:c:R: o; do
    case $o in
        n) N=$OPTARG ;; t) HOLD=$OPTARG ;; k) KA=$OPTARG ;;
        r) RUNS=$OPTARG ;; w) WORKERS=$OPTARG ;; c) CERT=$OPTARG ;;
        R) RATE=$OPTARG ;; *) exit 2 ;;
    esac
done

make -s -C "$top" module sim
work=$(mktemp -d /tmp/fcfh-bench.XXXXXX)
certs=$work/certs
"$top/tools/mkcerts.sh" "$certs"
key=server; [ "$CERT" = ecdsa ] && key=server-ecdsa

# Each tunnel is one fd in one nginx worker and one in the simulator.
# Raise the soft limit to the hard one; a hard limit below what the run
# needs (N per simulator process, N / workers per worker) is reported.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"
nofile=$hard
wconn=$(( N + 1024 < hard ? N + 1024 : hard ))
if [ $((N + 64)) -gt "$hard" ]; then
    echo "warning: open files hard limit $hard is below N=$N: the simulator" \
         "cannot hold all tunnels in one process" >&2
fi

port=$((20000 + RANDOM % 20000))
sport=$((port + 1))

cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
load_module $top/build/ngx_fcfh_module.so;
worker_processes $WORKERS;
worker_rlimit_nofile $nofile;
error_log $work/error.log warn;
pid $work/nginx.pid;
fcfh_zone 256m;
events { worker_connections $wconn; }
stream {
    server {
        listen 127.0.0.1:$port ssl backlog=4096;
        ssl_certificate $certs/$key.crt;
        ssl_certificate_key $certs/$key.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file $certs/devices.htpasswd;
        fcfh_keepalive ${KA}s;
        fcfh_idle_timeout $((KA * 3))s;
        fcfh_handshake_timeout 60s;
    }
}
http {
    access_log off;
    server {
        listen 127.0.0.1:$sport;
        location = /status { fcfh_status; }
    }
}
CONF

workers() { pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' '; }
rss_kb() { local t=0 p; for p in $(workers); do
    t=$((t + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done; echo $t; }
cpu_ticks() { local t=0 p; for p in $(workers); do
    t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
total() { curl -s "http://127.0.0.1:$sport/status" \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tunnels_total"])'; }
now() { date +%s.%N; }

results=()
for run in $(seq 1 "$RUNS"); do
    nginx -p "$work/" -c "$work/nginx.conf" -e "$work/error.log"
    sleep 1
    base=$(rss_kb)

    t0=$(now)
    "$top/build/fcfh-sim" --connect "127.0.0.1:$port" --devices "$N" \
        --user admin --password 'P@ssw0rd' --rate "$RATE" --quiet \
        --max-pending 1000 --stats-file "$work/sim.json" \
        > "$work/sim.out" 2>&1 &
    sim=$!

    deadline=$(( $(date +%s) + 600 ))
    while [ "$(total)" -lt "$N" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "setup timed out" >&2; break; }
        sleep 0.2
    done
    t1=$(now)
    rate=$(echo "$N / ($t1 - $t0)" | bc -l)

    c0=$(cpu_ticks); h0=$(now)
    sleep "$HOLD"
    c1=$(cpu_ticks); h1=$(now)
    held=$(total)
    rss=$(rss_kb)
    hz=$(getconf CLK_TCK)
    cpu=$(echo "100 * ($c1 - $c0) / $hz / ($h1 - $h0)" | bc -l)

    kill -INT "$sim"; wait "$sim" || true
    nginx -p "$work/" -c "$work/nginx.conf" -s stop; sleep 1

    line=$(printf 'run=%d tunnels=%d held=%d setup_rate=%.0f/s rss_total=%dKiB rss_per_tunnel=%.2fKiB growth_per_tunnel=%.2fKiB keepalive_cpu=%.2f%%' \
        "$run" "$N" "$held" "$rate" "$rss" "$(echo "$rss / $N" | bc -l)" \
        "$(echo "($rss - $base) / $N" | bc -l)" "$cpu")
    echo "$line"
    results+=("$line")
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { printf '%s\n' "${results[@]}" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | median; }
echo "median: setup_rate=$(field setup_rate)/s rss_per_tunnel=$(field rss_per_tunnel)KiB growth_per_tunnel=$(field growth_per_tunnel)KiB keepalive_cpu=$(field keepalive_cpu)% (N=$N hold=${HOLD}s keepalive=${KA}s workers=$WORKERS cert=$CERT)"
grep -E '\[(alert|crit|emerg)\]' "$work/error.log" && echo "errors in $work/error.log" >&2
rm -rf "$work"
