#!/bin/bash
# Establishes N simulated AMT tunnels against nginx with ngx_fcfh_module,
# holds them HOLD seconds with keepalives, and reports:
#   - the TLS handshake ceiling: handshakes/s against an nginx stream
#     server with the same certificate, protocols and workers that only
#     does TLS ("return"), measured in the same run with the same clients
#     (its own nginx instance, stopped before the tunnels' one starts, so
#     that its heap does not count in the tunnels' memory);
#   - setup rate (tunnels/s from the first connection until the registry
#     holds all N, from fcfh_api stats) and its ratio to that ceiling;
#   - nginx memory per tunnel (RSS of all workers / N, and the growth over
#     the idle baseline / N);
#   - worker CPU used during the hold (keepalives only).
# Repeats RUNS times and prints each run and the medians.
#
# Past one process's open files (N above about 18,000), the devices are
# split over several simulator processes, each with its own loopback
# source address (ephemeral ports), and nginx listens with reuseport so
# that each worker holds its share: use -w so that N / workers stays under
# the open files limit (e.g. -n 100000 -w 6).
#
# usage: bench/tunnels.sh [-n N] [-t HOLD_S] [-k KEEPALIVE_S] [-r RUNS]
#                         [-w WORKERS] [-c rsa|ecdsa] [-R RATE] [-s SIMS]
#                         [-x 'more directives for the device server;']
#                         [-m MODULE.so[,MODULE.so...]]
#
# -m compares builds of the module in the same go: each run of RUNS runs
# every listed module in turn (e.g. a copy of build/ngx_fcfh_module.so
# saved before a change, then the current one), and the medians are
# given per module.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
N=10000 HOLD=60 KA=30 RUNS=3 WORKERS=2 CERT=rsa RATE=5000 SIMS=0 EXTRA=
MODULES=
while getopts n:t:k:r:w:c:R:s:x:m: o; do
    case $o in
        n) N=$OPTARG ;; t) HOLD=$OPTARG ;; k) KA=$OPTARG ;;
        r) RUNS=$OPTARG ;; w) WORKERS=$OPTARG ;; c) CERT=$OPTARG ;;
        R) RATE=$OPTARG ;; s) SIMS=$OPTARG ;; x) EXTRA=$OPTARG ;;
        m) MODULES=$OPTARG ;;
        *) exit 2 ;;
    esac
done

make -s -C "$top" module sim
[ -n "$MODULES" ] || MODULES=$top/build/ngx_fcfh_module.so
work=$(mktemp -d /tmp/fcfh-bench.XXXXXX)
certs=$work/certs
"$top/tools/mkcerts.sh" "$certs"
key=server; [ "$CERT" = ecdsa ] && key=server-ecdsa

# Each tunnel is one fd in one nginx worker and one in a simulator.
# Raise the soft limit to the hard one and spread the load so that no
# process needs more.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard"
nofile=$hard
per_sim=$((hard - 2000))
[ "$SIMS" -gt 0 ] || SIMS=$(( (N + per_sim - 1) / per_sim ))
per_worker=$(( N / WORKERS + N / WORKERS / 20 + 256 ))
if [ "$per_worker" -gt "$hard" ]; then
    echo "warning: N / workers (+5%) = $per_worker is above the open files" \
         "hard limit $hard: use more workers (-w)" >&2
fi
wconn=$(( per_worker + 1024 < hard ? per_worker + 1024 : hard ))

port=$((20000 + RANDOM % 20000))
sport=$((port + 1))
cport=$((port + 2))
reuseport=; [ "$WORKERS" -gt 1 ] && reuseport=reuseport

cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
include $work/module.conf;
worker_processes $WORKERS;
worker_rlimit_nofile $nofile;
error_log $work/error.log info;
pid $work/nginx.pid;
fcfh_zone 512m;
events { worker_connections $wconn; }
stream {
    server {
        listen 127.0.0.1:$port ssl backlog=4096 $reuseport;
        ssl_certificate $certs/$key.crt;
        ssl_certificate_key $certs/$key.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file $certs/devices.htpasswd;
        fcfh_keepalive ${KA}s;
        fcfh_idle_timeout $((KA * 3))s;
        fcfh_handshake_timeout 60s;
        $EXTRA
    }
}
http {
    access_log off;
    server {
        listen 127.0.0.1:$sport;
        location /api/ { fcfh_api; }
    }
}
CONF

# the TLS handshake ceiling: same certificate, protocols and workers, no APF
mkdir -p "$work/ceiling"
cat > "$work/ceiling/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes $WORKERS;
worker_rlimit_nofile $nofile;
error_log $work/ceiling/error.log warn;
pid $work/ceiling/nginx.pid;
events { worker_connections $wconn; }
stream {
    server {
        listen 127.0.0.1:$cport ssl backlog=4096 $reuseport;
        ssl_certificate $certs/$key.crt;
        ssl_certificate_key $certs/$key.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        $(printf '%s' "$EXTRA" | grep -o 'ssl_[a-z_]* [^;]*;' || true)
        return "";
    }
}
CONF

workers() { pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' '; }
rss_kb() { local t=0 p; for p in $(workers); do
    t=$((t + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done; echo $t; }
cpu_ticks() { local t=0 p; for p in $(workers); do
    t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
# the count alone (the status document of 100,000 tunnels is 60 MB)
total() { curl -s "http://127.0.0.1:$sport/api/stats" \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tunnels_connected"])'; }
now() { date +%s.%N; }

# start_sims PORT EXTRA...: SIMS simulator processes sharing N devices,
# each with its own GUID range and source address; pids in $sims
start_sims() {
    local to=$1 k n first guid
    shift
    sims=
    for k in $(seq 0 $((SIMS - 1))); do
        n=$(( N / SIMS + (k < N % SIMS ? 1 : 0) ))
        first=$(( k * (N / SIMS + 1) + 1 ))
        guid=$(printf '00000000-0000-4000-8000-%012x' "$first")
        "$top/build/fcfh-sim" --connect "127.0.0.1:$to" --devices "$n" \
            --guid "$guid" --source "127.0.$((k + 1)).1" \
            --user admin --password 'P@ssw0rd' \
            --rate $(( RATE / SIMS )) --max-pending $(( 1000 / SIMS + 1 )) \
            --quiet --stats-file "$work/sim$k.json" "$@" \
            > "$work/sim$k.out" 2>&1 &
        sims="$sims $!"
    done
}

results=()
for run in $(seq 1 "$RUNS"); do
    # 1. the ceiling: N TLS handshakes, each closed once up
    nginx -p "$work/ceiling/" -c "$work/ceiling/nginx.conf" \
        -e "$work/ceiling/error.log"
    sleep 1
    t0=$(now)
    start_sims "$cport" --tls-only --reconnect 0
    for p in $sims; do wait "$p" || true; done
    t1=$(now)
    ceiling=$(echo "$N / ($t1 - $t0)" | bc -l)
    nginx -p "$work/ceiling/" -c "$work/ceiling/nginx.conf" -s stop
    sleep 2

    # 2. the tunnels, with each module in turn
    for so in ${MODULES//,/ }; do
        echo "load_module $so;" > "$work/module.conf"
        touch "$work/error.log"
        logged=$(wc -l < "$work/error.log")
        nginx -p "$work/" -c "$work/nginx.conf" -e "$work/error.log"
        sleep 1
        base=$(rss_kb)

        t0=$(now)
        start_sims "$port"
        deadline=$(( $(date +%s) + 900 ))
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

        for p in $sims; do kill -INT "$p" 2>/dev/null || true; done
        for p in $sims; do wait "$p" || true; done
        nginx -p "$work/" -c "$work/nginx.conf" -s stop; sleep 2

        line=$(printf 'run=%d module=%s tunnels=%d held=%d tls_ceiling=%.0f/s setup_rate=%.0f/s ratio=%.3f rss_total=%dKiB rss_per_tunnel=%.2fKiB growth_per_tunnel=%.2fKiB keepalive_cpu=%.2f%%' \
            "$run" "$so" "$N" "$held" "$ceiling" "$rate" "$(echo "$rate / $ceiling" | bc -l)" \
            "$rss" "$(echo "$rss / $N" | bc -l)" \
            "$(echo "($rss - $base) / $N" | bc -l)" "$cpu")
        echo "$line"
        # the workers' heap trims (ngx_fcfh_module.c), if any
        tail -n +"$((logged + 1))" "$work/error.log" \
            | sed -n 's/.*\(heap trimmed .* ms\).*/#   \1/p'
        results+=("$line")
    done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { printf '%s\n' "${results[@]}" | grep -F "module=$so " | sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | median; }
for so in ${MODULES//,/ }; do
    echo "median: module=$so tls_ceiling=$(field tls_ceiling)/s setup_rate=$(field setup_rate)/s ratio=$(field ratio) rss_per_tunnel=$(field rss_per_tunnel)KiB growth_per_tunnel=$(field growth_per_tunnel)KiB keepalive_cpu=$(field keepalive_cpu)% (N=$N hold=${HOLD}s keepalive=${KA}s workers=$WORKERS sims=$SIMS cert=$CERT${EXTRA:+ extra: $EXTRA})"
done
grep -E '\[(alert|crit|emerg)\]' "$work/error.log" && echo "errors in $work/error.log" >&2
rm -rf "$work"
