#!/usr/bin/perl
# Abuse cases, each checked for the gateway's documented answer and for
# not touching anything else (a simulated device keeps its tunnel and
# stays reachable by a console, no worker dies, no alert in the log):
#   1. CHANNEL_WINDOW_ADJUST overflowing 2^32-1, repeated, on an open
#      channel: the window saturates (never wraps), the channel works on;
#      on a channel id never opened (in range and 0xffffffff): dropped,
#      the tunnel and its open channel stay; more than 16 such messages
#      within a minute: DISCONNECT 2
#   2. CHANNEL_CLOSE twice for one channel (back to back, and after the
#      gateway's own CLOSE): the gateway sends its CLOSE exactly once, the
#      duplicate is a close "for no open channel", dropped; the tunnel
#      serves the next console on a channel id other than the one just
#      freed; repeated duplicates past the budget: DISCONNECT 2
#   3. a device churning forwards: 5,000 tcpip-forward/cancel pairs, then
#      5,000 distinct ports: fcfh_max_forwards refuses the excess with
#      REQUEST_FAILURE, the registry holds at most the limit, RSS bounded,
#      the tunnel still answers keepalives
#   5. slowloris on both front doors: SOCKS5 and CONNECT consoles sending a
#      byte a second are closed at fcfh_proxy_timeout, slow HTTP headers
#      to fcfh_pass at client_header_timeout; normal consoles work meanwhile
# (Case 4, SSE subscribers that never read, is t/37-abuse-sse.t.)
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Select;
use Socket qw(SOL_SOCKET SO_RCVBUF);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

plan skip_all => 'simulator not built' unless have_sim();
my $repo = repo_dir();
my $t_start = time;

# front-door request timeouts (fcfh_proxy_timeout, client_header_timeout)
my $PT = int(T(3) + 0.5);

my $t = FcfhTest->new;
$t->write_config(std_config(idle => '120s',
    server => 'fcfh_max_forwards 16;',
    stream => "server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
        fcfh_proxy_timeout ${PT}s;
    }",
    http => "server {
        listen 127.0.0.1:%%PORT_4%%;
        client_header_timeout ${PT}s;
        location / { fcfh_pass; }
    }"));
$t->run;
my ($dport, $sport, $px, $hp) = map { $t->port($_) } 1 .. 4;

# the well-behaved device: a simulator tunnel that must never notice
my $BG = '00000000-0000-4000-8000-0000000000b1';
my $sim = $t->run_sim('--connect', "127.0.0.1:$dport", '--devices', 1, '--guid', $BG,
                      '--fqdn', 'bystander.example.test', '--quiet');
my $doc = wait_status($sport, sub { find_tunnel($_, $BG) }, T(10));
ok($doc, 'the well-behaved device is up') or BAIL_OUT('no simulator tunnel');
my $serial = find_tunnel($doc, $BG)->{serial};
my @workers = $t->worker_pids;

sub worker_rss {
    my $sum = 0;
    for my $pid ($t->worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $sum += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $sum;
}

# the simulated device kept the same tunnel, a console reaches it, the
# workers are the same processes
sub bystander_ok {
    my ($label) = @_;
    my $tun = find_tunnel(status_json($sport), $BG);
    my $st = $t->sim_stats($sim) // {};
    my ($s, $rep) = socks5_open($px, $BG, 16992, timeout => T(5));
    my $data = '';
    if ($s) {
        send_all($s, "BULK 100000\n");
        $data = read_exact($s, 100000, T(10));
        close $s;
    }
    ok($tun && $tun->{serial} == $serial && ($st->{reconnects} // -1) == 0
       && ($st->{established} // 0) == 1,
       "$label: the other device kept its tunnel")
        or diag(explain { tunnel => $tun, stats => $st });
    ok(length($data) == 100000 && pattern_ok(0, $data),
       "$label: a console still reaches the other device")
        or diag('SOCKS5 REP ' . ($rep // 'none') . ', ' . length($data) . ' bytes');
    is_deeply([$t->worker_pids], \@workers, "$label: no worker died");
}

sub guid { sprintf '00000000-0000-4000-8000-0000000000%02x', $_[0] }

sub device {
    my ($g, %o) = @_;
    my $d = FcfhApf->connect($dport) or return;
    $d->handshake($g, 'admin', 'P@ssw0rd', $o{ports} // [16992], $o{fqdn} // '');
    return $d->{established} ? $d : undef;
}

# the next message of a type (keepalives answered on the way)
sub next_msg {
    my ($d, $type, $timeout) = @_;
    my $deadline = time + ($timeout // T(5));
    while (my $m = $d->read_msg($deadline - time)) {
        return $m if $m->{type} == $type;
        $d->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
    }
    return;
}

# a SOCKS5 console opens a channel the scripted device confirms with its
# id $mine and window $window: (console socket, the gateway's channel id)
sub open_channel {
    my ($d, $g, $mine, $window) = @_;
    my $s = socks5_begin($px, $g, 16992, timeout => T(5)) or return;
    my $o = next_msg($d, CHANNEL_OPEN, T(5)) or return;
    $d->send(channel_confirm($o->{sender}, $mine, $window));
    my ($rep) = socks5_finish($s, T(5));
    return unless defined $rep && $rep == 0;
    return ($s, $o->{sender});
}

sub count_lines {
    my ($re, $from) = @_;
    return scalar grep { /$re/ } split /\n/, substr($t->error_log, $from // 0);
}

# --- 1. WINDOW_ADJUST overflow ------------------------------------------------

{
    my $GA = guid(0xa1);
    my $A = device($GA, fqdn => 'abuse-a.example.test');
    ok($A, 'window: scripted device up');
    my ($s, $gw) = open_channel($A, $GA, 40, 1000);
    ok($s, 'window: console channel confirmed with a 1000-byte window');

    # five in a row, each pushing the window past 2^32-1: saturated, the
    # window would wrap to 999, 998, ... with 32-bit arithmetic
    my $mark = $t->log_mark;
    $A->send(map { channel_window($gw, 0xffffffff) } 1 .. 5);

    # then the console sends 256 KiB: it all reaches the device
    my $N = 262144;
    my ($sent, $got, $other) = (0, 0, 0);
    my $deadline = time + T(15);
    while ($got < $N && time < $deadline) {
        if ($sent < $N) {
            my $n = ($N - $sent < 16384) ? $N - $sent : 16384;
            send_all($s, 'w' x $n);
            $sent += $n;
        }
        my $m = $A->read_msg(0.05);
        last if !$m && $A->eof;
        next unless $m;
        if ($m->{type} == CHANNEL_DATA && $m->{recipient} == 40) { $got += length $m->{data} }
        elsif ($m->{type} == KEEPALIVE_REQUEST) { $A->send(keepalive_reply($m->{cookie})) }
        else { $other++; diag(explain $m) }
    }
    is($got, $N, 'window: after 5 overflowing adjusts the gateway still sends all 256 KiB '
                 . '(the window saturates at 2^32-1, it does not wrap)');
    is($other, 0, '... and nothing else (no CLOSE, no DISCONNECT)');
    $A->send(channel_data($gw, 'from-device'));
    is(read_exact($s, 11, T(5)), 'from-device', '... the channel carries device data too');
    ok($A->ping(11, T(3)), '... the tunnel answers keepalives');
    is(count_lines(qr/for no open channel|channel error/, $mark), 0,
       '... nothing refused (a saturated window is not an error)');

    # on a channel id that was never opened, in the id range: dropped
    $mark = $t->log_mark;
    $A->send(map { channel_window(5, 0xffffffff) } 1 .. 3);
    ok($A->ping(12, T(3)), 'window: adjusts for channel 5, never opened: the tunnel stays');
    ok($t->wait_for_log(qr/\[info\].*device sent CHANNEL_WINDOW_ADJUST for no open channel \(5\), dropped/,
                        T(3), $mark), '... dropped with an info line');
    $A->send(channel_data($gw, 'still-here'));
    is(read_exact($s, 10, T(5)), 'still-here', '... the open channel carries on');

    # past the budget: 3 so far, 14 more make 17 within a minute
    $mark = $t->log_mark;
    $A->send(map { channel_window(5, 0xffffffff) } 1 .. 14);
    is($A->expect_disconnect(T(5)), 2, 'window: 17 adjusts for no open channel: DISCONNECT 2');
    ok($t->wait_for_log(qr/\[info\].*device sent CHANNEL_WINDOW_ADJUST for no open channel \(5\), more than 16/,
                        T(3), $mark), '... logged at info');
    ok(wait_eof($s, T(5)), '... the console of the open channel sees its end');
    ok($A->wait_closed(T(3)), '... the connection is closed');
    $A->close;

    # and past the id range
    my $A2 = device($GA, fqdn => 'abuse-a.example.test');
    ok($A2, 'window: the device connects again');
    $mark = $t->log_mark;
    $A2->send(map { channel_window(0xffffffff, 0xffffffff) } 1 .. 3) if $A2;
    ok($A2 && $A2->ping(13, T(3)), 'window: adjusts for channel 0xffffffff: dropped, the tunnel stays');
    ok($t->wait_for_log(qr/device sent CHANNEL_WINDOW_ADJUST for no open channel \(4294967295\), dropped/,
                        T(3), $mark), '... logged');
    $A2->send(map { channel_window(0xffffffff, 0xffffffff) } 1 .. 20) if $A2;
    is($A2 && $A2->expect_disconnect(T(5)), 2, '... 20 more: DISCONNECT 2');
    $A2->close if $A2;
    ok(wait_status($sport, sub { !find_tunnel($_, $GA) }, T(5)), '... its tunnel is gone');
    bystander_ok('window');
}

# --- 2. double CHANNEL_CLOSE from the device ----------------------------------

{
    my $GB = guid(0xb2);
    my $B = device($GB, fqdn => 'abuse-b.example.test');
    ok($B, 'close: scripted device up');

    # (a) two CLOSEs back to back
    my ($s, $gw) = open_channel($B, $GB, 50, 32768);
    ok($s, 'close: console channel open');
    send_all($s, 'hello');
    my $m = next_msg($B, CHANNEL_DATA, T(5));
    is($m && $m->{data}, 'hello', 'close: console data reached the device');
    my $mark = $t->log_mark;
    my $from = @{$B->{seen}};
    $B->send(channel_close($gw), channel_close($gw));
    ok($B->ping(20, T(3)), 'close (back to back): the tunnel stays');
    my @seen = @{$B->{seen}}[$from .. $#{$B->{seen}}];
    is(scalar(grep { $_->{type} == CHANNEL_CLOSE && $_->{recipient} == 50 } @seen), 1,
       '... the gateway sent its CHANNEL_CLOSE exactly once');
    is(scalar(grep { $_->{type} != CHANNEL_CLOSE && $_->{type} != KEEPALIVE_REPLY } @seen), 0,
       '... and nothing else (no DISCONNECT)');
    ok($t->wait_for_log(qr/\[info\].*device sent CHANNEL_CLOSE for no open channel \($gw\), dropped/,
                        T(3), $mark), '... the duplicate is a close for no open channel, dropped with an info line');
    ok(wait_eof($s, T(5)), '... the console sees its end');

    # (b) the second CLOSE after the gateway answered the first; the next
    #     channel does not reuse the id just freed
    my $freed = $gw;
    ($s, $gw) = open_channel($B, $GB, 51, 32768);
    ok($s, 'close: the next console channel opens on the same tunnel');
    isnt($gw, $freed, "... on another channel id than the one just freed ($freed)");
    $B->send(channel_close($gw));
    $m = next_msg($B, CHANNEL_CLOSE, T(5));
    is($m && $m->{recipient}, 51, 'close (after the answer): the gateway answered the first CLOSE');
    ok(wait_eof($s, T(5)), '... the console sees its end');
    ok($B->ping(21, T(3)), '... the tunnel is fine after one CLOSE');
    $mark = $t->log_mark;
    $from = @{$B->{seen}};
    $B->send(channel_close($gw));
    ok($B->ping(22, T(3)), '... a second CLOSE is dropped, the tunnel stays');
    ok(!grep({ $_->{type} == CHANNEL_CLOSE } @{$B->{seen}}[$from .. $#{$B->{seen}}]),
       '... and no second CHANNEL_CLOSE from the gateway');
    ok($t->wait_for_log(qr/device sent CHANNEL_CLOSE for no open channel \($gw\), dropped/, T(3), $mark),
       '... logged');

    # the same tunnel serves a console
    ($s, $gw) = open_channel($B, $GB, 52, 32768);
    ok($s, "close: a console's next open on that device is confirmed");
    send_all($s, 'again') if $s;
    $m = next_msg($B, CHANNEL_DATA, T(5));
    is($m && $m->{data}, 'again', '... console data reaches the device');
    $B->send(channel_data($gw, 'reply'));
    is($s ? read_exact($s, 5, T(5)) : '', 'reply', '... device data reaches the console');
    $B->send(channel_close($gw));
    $m = next_msg($B, CHANNEL_CLOSE, T(5));
    is($m && $m->{recipient}, 52, '... and it closes cleanly, one CLOSE each way');
    ok($B->ping(23, T(3)), '... the tunnel stays');
    close $s if $s;

    # duplicates past the budget: 2 so far, 15 more make 17 within a minute
    $B->send(map { channel_close($gw) } 1 .. 15);
    is($B->expect_disconnect(T(5)), 2, 'close: 17 CLOSEs for no open channel: DISCONNECT 2');
    ok(!grep({ $_->{type} == CHANNEL_CLOSE } @{$B->{before_disconnect} // []}),
       '... and no CHANNEL_CLOSE from the gateway');
    $B->close;
    ok(wait_status($sport, sub { !find_tunnel($_, $GB) }, T(5)), '... its tunnel is gone');
    bystander_ok('close');
}

# --- 3. a device churning forwards ---------------------------------------------

{
    my $GC = guid(0xc3);
    my $C = device($GC, fqdn => 'abuse-c.example.test');
    ok($C, 'forwards: scripted device up (one port, 16992)');
    my $rss0 = worker_rss();

    # replies to $n requests: (successes, failures); keepalives answered
    my $replies = sub {
        my ($n) = @_;
        my ($ok, $fail) = (0, 0);
        my $deadline = time + T(20);
        while ($ok + $fail < $n && time < $deadline) {
            my $m = $C->read_msg(1) or ($C->eof ? last : next);
            if ($m->{type} == REQUEST_SUCCESS) { $ok++ }
            elsif ($m->{type} == REQUEST_FAILURE) { $fail++ }
            elsif ($m->{type} == KEEPALIVE_REQUEST) { $C->send(keepalive_reply($m->{cookie})) }
            else { diag(explain $m); last }
        }
        return ($ok, $fail);
    };

    # 5,000 forward/cancel pairs of one port, 250 pairs per write
    my ($ok, $fail) = (0, 0);
    my $t0 = time;
    for my $batch (1 .. 20) {
        $C->send(map { (global_forward('abuse-c.example.test', 20000),
                        global_cancel('abuse-c.example.test', 20000)) } 1 .. 250);
        my ($o, $f) = $replies->(500);
        $ok += $o; $fail += $f;
        last if $C->eof;
    }
    is($ok, 10000, 'forwards: 5,000 forward/cancel pairs all answered REQUEST_SUCCESS');
    is($fail, 0, '... none refused');
    my $tun = find_tunnel(status_json($sport), $GC);
    is_deeply($tun && $tun->{ports}, [16992], '... the registry holds the one real port');
    ok($C->ping(31, T(3)), '... the tunnel answers keepalives');
    diag(sprintf 'forward/cancel churn: %.1f s', time - $t0);

    # 5,000 distinct ports, 500 per write: 15 fit beside 16992
    my $mark = $t->log_mark;
    ($ok, $fail) = (0, 0);
    for my $batch (0 .. 9) {
        $C->send(map { global_forward('abuse-c.example.test', 30000 + $batch * 500 + $_) } 0 .. 499);
        my ($o, $f) = $replies->(500);
        $ok += $o; $fail += $f;
        last if $C->eof;
    }
    is($ok, 15, 'forwards: of 5,000 distinct ports, 15 accepted (fcfh_max_forwards 16 with 16992)');
    is($fail, 4985, '... the other 4,985 refused with REQUEST_FAILURE');
    $tun = find_tunnel(status_json($sport), $GC);
    is(scalar @{$tun ? $tun->{ports} : []}, 16, '... the registry shows 16 ports, the limit');
    is_deeply([sort { $a <=> $b } @{$tun ? $tun->{ports} : []}], [16992, 30000 .. 30014],
              '... the first ones asked for');
    ok($t->wait_for_log(qr/\[info\].*device asked to forward port 34999, over the limit of 16 forwards/,
                        T(3), $mark), '... refusals logged at info');
    ok($C->ping(32, T(3)), '... the tunnel still answers keepalives');

    # cancels free room again
    $C->send(map { global_cancel('abuse-c.example.test', 30000 + $_) } 0 .. 14);
    ($ok) = $replies->(15);
    $C->send(global_forward('abuse-c.example.test', 40000));
    my ($o, $f) = $replies->(1);
    is($o, 1, 'forwards: after cancelling them, a new port is accepted');
    $tun = find_tunnel(status_json($sport), $GC);
    is_deeply([sort { $a <=> $b } @{$tun ? $tun->{ports} : []}], [16992, 40000], '... registry updated');

    my $growth = worker_rss() - $rss0;
    diag("forwards: worker RSS growth $growth kB over 20,000 global requests");
    cmp_ok($growth, '<', rss_bound_kb(4096), 'forwards: worker RSS grew less than 4 MiB');
    $C->send(disconnect(11));
    $C->close;
    bystander_ok('forwards');
}

# --- 5. slowloris on the front doors --------------------------------------------

{
    my $N = 50;        # of each kind
    my $mark = $t->log_mark;
    # each sends a valid beginning at once (SOCKS5: the greeting, answered;
    # HTTP: the request line and a header), then one byte a second of a
    # request that never ends
    my %head = (
        socks   => "\x05\x01\x00",
        connect => "CONNECT $BG:16992 HTTP/1.1\r\n",
        http    => "GET http://$BG:16992/wsman HTTP/1.1\r\nHost: $BG:16992\r\n",
    );
    my %drip = (
        socks   => socks5_request_bytes($BG, 16992),
        connect => "Host: $BG:16992\r\nX-Slow: " . ('a' x 200),
        http    => 'X-Slow: ' . ('a' x 200),
    );
    my @slow;
    for my $kind (qw(socks connect http)) {
        for (1 .. $N) {
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => $kind eq 'http' ? $hp : $px,
                                          Proto => 'tcp', Timeout => 3) or next;
            syswrite($s, $head{$kind});
            push @slow, { s => $s, kind => $kind, start => time, off => 0 };
        }
    }
    is(scalar @slow, 3 * $N, "slowloris: $N SOCKS5, $N CONNECT and $N HTTP connections open");
    # a SOCKS5 request is 7 + 36 bytes: at a byte a second it never completes
    cmp_ok(length $drip{socks}, '>', $PT + T(4), 'slowloris: (the SOCKS5 request is longer than the test)');

    my $sel = IO::Select->new(map { $_->{s} } @slow);
    my %by_fd = map { fileno($_->{s}) => $_ } @slow;
    my ($normal_done, $next_byte) = (0, time);
    my %normal;
    my $deadline = time + $PT + T(4);
    while ($sel->count && time < $deadline) {
        if (time >= $next_byte) {
            # one byte a second on every connection still open
            for my $c (grep { !$_->{closed} } @slow) {
                syswrite($c->{s}, substr($drip{$c->{kind}}, $c->{off}++, 1));
            }
            $next_byte += 1;
        }
        for my $s ($sel->can_read(0.1)) {
            my $n = sysread($s, my $buf, 4096);
            next if $n;
            my $c = $by_fd{fileno $s};
            $c->{closed} = time - $c->{start};
            $sel->remove($s);
        }
        if (!$normal_done && time - $slow[0]{start} > 1.5) {
            # meanwhile, well-behaved consoles on both doors
            $normal_done = 1;
            my ($s, $rep) = socks5_open($px, $BG, 16992, timeout => T(5));
            if ($s) { send_all($s, "BULK 5000\n"); $normal{socks} = read_exact($s, 5000, T(5)); close $s }
            my ($cs, $st) = connect_open($px, 'bystander.example.test:16992', timeout => T(5));
            if ($cs) { send_all($cs, "BULK 5000\n"); $normal{connect} = read_exact($cs, 5000, T(5)); close $cs }
            my $out = `curl -s -m 10 -x 127.0.0.1:$hp -H 'Content-Type: application/soap+xml;charset=UTF-8' --data-binary \@$repo/sim/identify.xml -w '\\n%{http_code}' http://$BG:16992/wsman 2>&1`;
            $normal{http} = $out;
            $normal{at} = time - $slow[0]{start};
        }
    }
    diag(sprintf 'slowloris: normal consoles done %.1f s into the attack', $normal{at} // -1);
    ok(length($normal{socks} // '') == 5000 && pattern_ok(0, $normal{socks}),
       'slowloris: a SOCKS5 console works meanwhile');
    ok(length($normal{connect} // '') == 5000 && pattern_ok(0, $normal{connect}),
       'slowloris: a CONNECT console works meanwhile');
    like($normal{http} // '', qr/IdentifyResponse.*\n200$/s, 'slowloris: an fcfh_pass request works meanwhile');
    ok(($normal{at} // 99) < $PT, '... all of them before the slow ones timed out');

    for my $kind (qw(socks connect http)) {
        my @c = grep { $_->{kind} eq $kind } @slow;
        my @closed = grep { $_->{closed} } @c;
        my ($min, $max) = (99, 0);
        for (@closed) { $min = $_->{closed} if $_->{closed} < $min; $max = $_->{closed} if $_->{closed} > $max }
        diag(sprintf "slowloris/%s: %d closed after %.1f-%.1f s (%d bytes dripped each)",
                     $kind, scalar @closed, $min, $max, $c[0]{off});
        is(scalar @closed, scalar @c, "slowloris/$kind: every slow connection was closed");
        cmp_ok($min, '>=', $PT - 0.5, "slowloris/$kind: none before the ${PT}s timeout");
        cmp_ok($max, '<=', $PT + T(2), "slowloris/$kind: all within the timeout (plus 2 s)");
    }
    is(count_lines(qr/\[info\].*console timed out/, $mark), 2 * $N,
       'slowloris: each console timeout logged at info');
    is(count_lines(qr/\[info\].*client timed out .* while reading client request headers/, $mark), $N,
       'slowloris: each client_header_timeout logged at info');
    close $_->{s} for @slow;
    bystander_ok('slowloris');
}

diag(sprintf 'run time %.1f s', time - $t_start);
$t->done_testing;
