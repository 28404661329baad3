#!/usr/bin/perl
# Flow control end to end: a slow console reading 100 MiB from a simulated
# device must hold the device back, not grow the gateway (worker RSS);
# and console sessions across "nginx -s reload": an in-flight BULK and a
# keep-alive WS-Man channel keep working, and a new console reaches the
# device whose tunnel an old (shutting down) worker still holds.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhConsole qw(:all);

plan skip_all => 'simulator not built' unless have_sim();
my $repo = repo_dir();

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 4, idle => '120s', stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }'));
$t->run;
my ($sport, $px) = ($t->port(2), $t->port(3));

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 2, '--quiet');
my @G = ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002');
my $doc = wait_status($sport, sub { ($_->{total} // 0) == 2 }, T(10));
ok($doc, 'two simulated devices up') or diag(explain $FcfhTest::LAST_STATUS);

sub rss_kb {
    my $sum = 0;
    for my $pid ($t->worker_pids, $t->old_worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $sum += $1 if /^VmRSS:\s+(\d+)\s+kB/ }
    }
    return $sum;
}

sub worker_of_console {
    my ($mark, $target) = @_;
    my $line = $t->wait_for_log(qr/\[info\].*channel to \Q$target\E:\d+ open/i, T(3), $mark);
    return $line && $line =~ /\] (\d+)#/ ? $1 : 0;
}

# --- warm up every worker a little (pools, buffers), then the baseline -------------

for (1 .. 8) {
    my ($s) = socks5_open($px, $G[$_ % 2], 16992); next unless $s;
    send_all($s, "BULK 200000\n");
    read_to_eof($s, T(10));
    close $s;
}

# --- a slow console, 100 MiB ---------------------------------------------------------

{
    my $N = 104857600;
    my $st0 = $t->sim_stats($sim) // {};
    my $rss0 = rss_kb();
    my $mark = $t->log_mark;
    my ($s, $rep) = socks5_open($px, $G[0], 16992);
    is($rep, 0, 'slow console: SOCKS5 channel open');
    my $owner = (find_tunnel(status_json($sport), $G[0]) // {})->{owner_pid} // 0;
    my $front = worker_of_console($mark, $G[0]);
    diag("slow console: front door worker $front, tunnel owner $owner ("
         . ($front == $owner ? 'same worker' : 'through the relay') . ')');
    send_all($s, "BULK $N\n") if $s;

    # slow phase: 4 KiB every 20 ms for 5 s
    my ($got, $bad, $rssmax) = (0, 0, $rss0);
    my $slow_end = time + T(5);
    while ($s && time < $slow_end) {
        my $d = read_some($s, 4096, 0.5);
        last unless defined $d;
        $bad++ unless pattern_ok($got, $d);
        $got += length $d;
        my $r = rss_kb();
        $rssmax = $r if $r > $rssmax;
        sleep 0.02;
    }
    my $st1 = $t->sim_stats($sim) // {};
    my $sent_slow = ($st1->{bytes_out} // 0) - ($st0->{bytes_out} // 0);
    my $growth = $rssmax - $rss0;
    diag(sprintf('slow phase: read %d bytes; device sent %.1f MiB; worker RSS %d kB -> max %d kB (+%d kB)',
                 $got, $sent_slow / 1048576, $rss0, $rssmax, $growth));
    cmp_ok($got, '>', 0, 'slow console: data arrives in the slow phase');
    cmp_ok($growth, '<', rss_bound_kb(16 * 1024), 'slow console: workers grew less than 16 MiB while the console was slow');
    cmp_ok($sent_slow, '<', 48 * 1048576, 'slow console: the device was held back (sent far less than 100 MiB)');

    # fast phase
    my $start = time;
    my $deadline = time + T(40);
    while ($s && $got < $N && time < $deadline) {
        my $d = read_some($s, 1 << 20, 1);
        last unless defined $d;
        $bad++ unless pattern_ok($got, $d);
        $got += length $d;
    }
    my ($rest, $eof) = $s ? read_to_eof($s, T(5)) : ('', 0);
    $got += length $rest;
    diag(sprintf('fast phase: %.1f MiB/s', ($got / 1048576) / ((time - $start) || 1)));
    is($got, $N, 'slow console: all 104857600 bytes arrived');
    is($bad, 0, 'slow console: pattern intact');
    ok($eof, 'slow console: EOF after the transfer');
    close $s if $s;
    my $rss2 = rss_kb();
    diag("after the transfer: worker RSS $rss2 kB");
    my $st2 = $t->sim_stats($sim) // {};
    is($st2->{window_violations}, 0, 'slow console: no window violations');
}

# --- sessions across a reload ---------------------------------------------------------

{
    my $N = 40_000_000;
    my ($bulk, $rep) = socks5_open($px, $G[1], 16992);
    is($rep, 0, 'reload: BULK channel open');
    send_all($bulk, "BULK $N\n") if $bulk;
    my $part = $bulk ? read_exact($bulk, 1 << 20, T(10)) : '';
    is(length $part, 1 << 20, 'reload: first MiB before the reload');
    my $got = length $part;
    my $bad = pattern_ok(0, $part) ? 0 : 1;

    my $identify = $t->read_file("$repo/sim/identify.xml");
    my $req = "POST /wsman HTTP/1.1\r\nHost: dev0.example.test:16992\r\n"
            . "Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: "
            . length($identify) . "\r\n\r\n" . $identify;
    my $ws = sub {
        my ($s) = @_;
        send_all($s, $req) or return '';
        my $resp = '';
        my $deadline = time + T(5);
        while (time < $deadline) {
            my $r = read_some($s, 65536, 0.2);
            return $resp unless defined $r;
            $resp .= $r;
            if ($resp =~ /\r\n\r\n/ && $resp =~ /Content-Length:\s*(\d+)/i) {
                return $resp if length($resp) >= index($resp, "\r\n\r\n") + 4 + $1;
            }
        }
        return $resp;
    };
    my ($ka, $st) = connect_open($px, "dev0.example.test:16992");
    is($st, 200, 'reload: keep-alive WS-Man channel open');
    like($ka ? $ws->($ka) : '', qr/^HTTP\/1\.1 200 .*IdentifyResponse/s, 'reload: Identify before the reload');

    my %old = map { $_ => 1 } $t->worker_pids;
    my $owner0 = (find_tunnel(status_json($sport), $G[0]) // {})->{owner_pid};
    ok($t->reload(T(10)), 'reload: new workers running');
    my @new = $t->worker_pids;
    ok(!grep({ $old{$_} } @new), 'reload: all workers are new');

    # keep reading the in-flight transfer
    my $deadline = time + T(30);
    while ($bulk && $got < $N && time < $deadline) {
        my $d = read_some($bulk, 1 << 20, 1);
        last unless defined $d;
        $bad++ unless pattern_ok($got, $d);
        $got += length $d;
    }
    my ($rest, $eof) = $bulk ? read_to_eof($bulk, T(5)) : ('', 0);
    $got += length $rest;
    is($got, $N, "reload: the in-flight BULK $N completed");
    is($bad, 0, 'reload: pattern intact');
    ok($eof, 'reload: EOF after it');
    close $bulk if $bulk;

    like($ka ? $ws->($ka) : '', qr/^HTTP\/1\.1 200 .*IdentifyResponse/s,
         'reload: Identify again on the same keep-alive channel after the reload');
    close $ka if $ka;

    # the tunnel stays with the old worker
    my $d = status_json($sport);
    my $e = find_tunnel($d, $G[0]) // {};
    my %oldnow = map { $_ => 1 } $t->old_worker_pids;
    diag("after reload: tunnel of $G[0] owned by " . ($e->{owner_pid} // '?')
         . "; old workers still running: " . join(' ', sort keys %oldnow));
    ok($e->{owner_pid} && $e->{owner_pid} == ($owner0 // -1) && $oldnow{$e->{owner_pid}},
       'reload: the tunnel is still held by its old (shutting down) worker');

    # a new console reaches it, through a new worker
    for my $i (1 .. 3) {
        my $mark = $t->log_mark;
        my ($s, $r) = socks5_open($px, $G[0], 16992);
        is($r, 0, "reload: new console $i after the reload reaches the device");
        my $front = worker_of_console($mark, $G[0]);
        ok(grep({ $_ == $front } @new), "reload: new console $i served by a new worker ($front), relayed to $e->{owner_pid}")
            if $front;
        next unless $s;
        send_all($s, "BULK 1000000\n");
        my ($data, $eof2) = read_to_eof($s, T(10));
        ok(length($data) == 1000000 && $eof2 && pattern_ok(0, $data), "reload: new console $i BULK 1000000 complete");
        close $s;
    }
    my $out = `curl -s -m 10 -p -x http://127.0.0.1:$px -H 'Content-Type: application/soap+xml;charset=UTF-8' --data-binary \@$repo/sim/identify.xml http://$G[0]:16992/wsman 2>&1`;
    like($out, qr/IdentifyResponse/, 'reload: curl CONNECT to the old worker\'s device');
    my $stats = $t->sim_stats($sim) // {};
    is($stats->{reconnects}, 0, 'reload: no device reconnected');
    is($stats->{window_violations}, 0, 'reload: no window violations');
}

my @err = grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, $t->error_log;
ok(!@err, 'no [error] or worse in the error log') or diag(join "\n", @err[0 .. ($#err < 19 ? $#err : 19)]);

$t->done_testing;
