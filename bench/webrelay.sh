#!/bin/bash
# KVM throughput through the browsers' WebSocket relay (fcfh_webrelay)
# against the SOCKS5 front door (fcfh_proxy), in one run, against the
# same nginx and the same simulated devices.
#
# A console (bench/kvmclient.c, built as build/fcfh-kvmbench) opens a
# KVM redirection session on port 16994 of a simulated device (password
# authentication, RFB 3.8, the simulator's AMT pixel format RGB565) and
# asks for the whole screen again and again (non-incremental
# FramebufferUpdateRequests, one always waiting at the device) for T
# seconds after one second of warm-up. Each run measures both paths, in
# alternating order, with 1 session and with N concurrent sessions (one
# per device). Per measurement:
#   - MiB/s of RFB bytes and full frames/s at the console;
#   - the nginx workers' CPU (utime + stime from /proc over the whole
#     client run, sessions' setup included) per MiB of RFB bytes, and as
#     a share of one core; the simulator's and the client's CPU likewise,
#     to see who is the bottleneck;
#   - the load average (the machine is shared).
# Medians over RUNS runs, and the relay / SOCKS5 ratios (median of the
# per-run ratios: each run's two paths ran side by side).
#
# usage: bench/webrelay.sh [-t SECONDS] [-r RUNS] [-n SESSIONS] [-s WxH]
#                          [-W WORKERS] [-M WINDOW_MAX] [-i INTERVAL_MS]
#                          [-p PERF_DIR] [-S SIMULATOR]
#   -n: concurrent sessions of the second measurement (0: none)
#   -W: worker_processes (1: tunnel, console and relay socket all in one
#       worker, so the worker's CPU is the gateway's)
#   -M: fcfh_channel_window_max
#   -i: the simulator's --kvm-interval (0: a still picture; the
#       simulator then copies kept tiles instead of drawing them)
#   -p: after the runs, a perf profile of the workers during one more
#       single session of each path (perf record -g): the data, the
#       client's line and reports (by library, by symbol, inclusive) in DIR,
#       and the workers' system calls during one more, counted
#   -S: another fcfh-sim binary (an older build, to compare)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
T=10 RUNS=3 N=4 SIZE=1024x768 WORKERS=1 WMAX= INTERVAL=0 PERFDIR=
SIM=$top/build/fcfh-sim
while getopts t:r:n:s:W:M:i:p:S: o; do
    case $o in
    t) T=$OPTARG ;; r) RUNS=$OPTARG ;; n) N=$OPTARG ;; s) SIZE=$OPTARG ;;
    W) WORKERS=$OPTARG ;; M) WMAX=$OPTARG ;; i) INTERVAL=$OPTARG ;;
    p) PERFDIR=$OPTARG ;; S) SIM=$OPTARG ;;
    *) exit 2 ;;
    esac
done

make -s -C "$top" module sim
cc -O2 -g -Wall -Wextra -o "$top/build/fcfh-kvmbench" "$top/bench/kvmclient.c"
client=$top/build/fcfh-kvmbench

work=$(mktemp -d /tmp/fcfh-bench-webrelay.XXXXXX)
chmod 755 "$work"     # the workers (nobody) reach the relay directory
simpid=
cleanup() {
    nginx -p "$work/" -c "$work/nginx.conf" -s stop 2>/dev/null || true
    [ -n "$simpid" ] && kill "$simpid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
"$top/tools/mkcerts.sh" "$work/certs" > /dev/null

base=$((20000 + RANDOM % 20000))
dport=$base sport=$((base + 1)) hport=$((base + 2))
devices=$((N > 1 ? N : 1))

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
        ${WMAX:+fcfh_channel_window_max $WMAX;}
    }
    server { listen 127.0.0.1:$sport; fcfh_proxy; }
}
http {
    access_log off;
    server {
        listen 127.0.0.1:$hport;
        location = /status { fcfh_status; }
        location = /webrelay.ashx {
            fcfh_webrelay;
            fcfh_webrelay_sessions off;
        }
    }
}
CONF

nginx -p "$work/" -c "$work/nginx.conf" -e "$work/error.log"
"$SIM" --connect "127.0.0.1:$dport" --devices "$devices" \
    --quiet --kvm-size "$SIZE" --kvm-interval "$INTERVAL" \
    > "$work/sim.out" 2>&1 &
simpid=$!

status() { curl -s "http://127.0.0.1:$hport/status"; }
for _ in $(seq 100); do
    n=$(status | /usr/bin/python3 -c \
        'import json,sys; print(sum(1 for t in json.load(sys.stdin)["tunnels"] if 16994 in t.get("ports", [])))' \
        2>/dev/null || echo 0)
    [ "$n" = "$devices" ] && break
    sleep 0.2
done
[ "$n" = "$devices" ] || { echo "only $n of $devices devices up" >&2; exit 1; }

guids=$(status | /usr/bin/python3 -c \
    'import json,sys; print(",".join(sorted(t["guid"] for t in json.load(sys.stdin)["tunnels"])))')
workers=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')
tck=$(getconf CLK_TCK)

# utime + stime of the processes, in seconds
cpu() { local s=0 p; for p in "$@"; do
            s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat")))
        done; echo "$s / $tck" | bc -l; }

# one measurement: prints "MBps fps worker_ms_per_MiB sim_ms_per_MiB
# client_ms_per_MiB worker% sim%"
measure() {
    local mode=$1 n=$2 w0 s0 t0 w1 s1 t1 out
    w0=$(cpu $workers) s0=$(cpu "$simpid") t0=$(date +%s.%N)
    out=$("$client" -m "$mode" -p "$([ "$mode" = ws ] && echo "$hport" || echo "$sport")" \
          -g "$guids" -n "$n" -t "$T")
    w1=$(cpu $workers) s1=$(cpu "$simpid") t1=$(date +%s.%N)
    echo "$out" | awk -v w="$(echo "$w1 - $w0" | bc -l)" \
        -v s="$(echo "$s1 - $s0" | bc -l)" -v wall="$(echo "$t1 - $t0" | bc -l)" '{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        mib = v["total"] / 1048576
        printf "%.1f %.1f %.3f %.3f %.3f %.0f %.0f\n", v["MBps"], v["fps"],
               w * 1000 / mib, s * 1000 / mib, v["client_cpu"] * 1000 / mib,
               100 * w / wall, 100 * s / wall }'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "KVM $SIZE RGB565, $T s per measurement after 1 s warm-up, $RUNS runs," \
     "$WORKERS worker(s), window max ${WMAX:-default}, $(nproc) cores"
echo "load at start: $(load)"
fmt='%-3s %-5s %-3s %7s %8s %10s %10s %10s %5s %5s  %s\n'
printf "$fmt" run path n MiB/s frames/s 'ms/MiB:wkr' sim client 'wkr%' 'sim%' load
sizes=1; [ "$N" -gt 1 ] && sizes="1 $N"
declare -A res
for run in $(seq "$RUNS"); do
    for n in $sizes; do
        order="socks ws"; [ $((run % 2)) = 0 ] && order="ws socks"
        for mode in $order; do
            r=$(measure "$mode" "$n")
            res[$mode,$n,$run]=$r
            printf "$fmt" "$run" "$mode" "$n" $r "$(load)"
        done
    done
done

echo
echo "medians of $RUNS runs (ratio: median of the per-run ws/socks ratios):"
col() { local mode=$1 n=$2 k=$3 run; for run in $(seq "$RUNS"); do
            echo "${res[$mode,$n,$run]}" | cut -d' ' -f"$k"; done | median; }
ratio() { local n=$1 k=$2 run; for run in $(seq "$RUNS"); do
              echo "$(echo "${res[ws,$n,$run]}" | cut -d' ' -f"$k") / $(echo "${res[socks,$n,$run]}" | cut -d' ' -f"$k")" | bc -l
          done | median; }
for n in $sizes; do
    for mode in socks ws; do
        printf '%-5s n=%-3s %7.1f MiB/s %7.1f frames/s, ms of CPU per MiB: workers %.3f, sim %.3f, client %.3f (workers %s%%, sim %s%% of a core)\n' \
            "$mode" "$n" "$(col $mode $n 1)" "$(col $mode $n 2)" "$(col $mode $n 3)" \
            "$(col $mode $n 4)" "$(col $mode $n 5)" "$(col $mode $n 6)" "$(col $mode $n 7)"
    done
    printf 'n=%-3s relay/SOCKS5: throughput %.2f, worker CPU per MiB %.2f\n' \
        "$n" "$(ratio $n 1)" "$(ratio $n 3)"
done
echo "load at end: $(load)"

if [ -n "$PERFDIR" ]; then
    mkdir -p "$PERFDIR"
    for mode in socks ws; do
        perf record -q -g -o "$PERFDIR/$mode.data" -p "${workers// /,}" \
            -- sleep $((T + 1)) > /dev/null 2>&1 &
        ppid=$!
        "$client" -m "$mode" -p "$([ "$mode" = ws ] && echo "$hport" || echo "$sport")" \
            -g "$guids" -n 1 -t "$T" > "$PERFDIR/$mode.client"
        wait "$ppid" || true
        rep() { perf report -i "$PERFDIR/$mode.data" --stdio "$@" 2>/dev/null; }
        rep --no-children --sort dso -g none > "$PERFDIR/$mode.dso.txt"
        rep --no-children --sort dso,symbol -g none --percent-limit 0.3 \
            > "$PERFDIR/$mode.self.txt"
        rep --children --sort symbol -g none --percent-limit 1 \
            > "$PERFDIR/$mode.children.txt"
        # and the system calls of another session, counted
        perf stat -x, -o "$PERFDIR/$mode.syscalls.txt" -p "${workers// /,}" \
            -e syscalls:sys_enter_read,syscalls:sys_enter_write \
            -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto \
            -e syscalls:sys_enter_readv,syscalls:sys_enter_writev \
            -e syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl \
            -- sleep $((T + 1)) > /dev/null 2>&1 &
        ppid=$!
        "$client" -m "$mode" -p "$([ "$mode" = ws ] && echo "$hport" || echo "$sport")" \
            -g "$guids" -n 1 -t "$T" > "$PERFDIR/$mode.syscalls.client"
        wait "$ppid" || true
    done
    echo "profiles: $PERFDIR/{socks,ws}.{dso,self,children,syscalls}.txt" \
         "(perf.data: $PERFDIR/{socks,ws}.data, client lines: *.client)"
fi

grep -E '\[(alert|crit|emerg)\]' "$work/error.log" || true
