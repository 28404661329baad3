#!/usr/bin/perl
# fcfh_webrelay and the device's channel: browsers that stop reading while
# the device streams (the workers' memory stays bounded, nothing is lost
# once they read again), a console that closes mid-session (the device
# gets CHANNEL_CLOSE once, whether the browser sends a close frame or just
# drops the connection), a device that ends the channel (close 1000) and
# a device that leaves (close 1001, "device disconnected").  Two workers
# with reuseport: consoles land on both, each tunnel lives in one.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(pattern_ok);
use FcfhWs;

plan skip_all => 'no simulator (make sim)' unless have_sim();

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, http => '
    server {
        listen 127.0.0.1:%%PORT_3%% reuseport;
        location = /webrelay.ashx {
            fcfh_webrelay;
            fcfh_webrelay_ping 0;
            fcfh_webrelay_sessions off;
        }
    }'));
$t->run;

my $sport = $t->port(2);
my $wport = $t->port(3);
my $sim_guid = '00000000-0000-4000-8000-000000000001';

sub rss_kb {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (my $l = <$fh>) { return $1 if $l =~ /^VmRSS:\s+(\d+)/ }
    return 0;
}

sub path { my (%q) = (p => 2, port => 16994, tls => 0, @_);
           '/webrelay.ashx?' . join '&', map { "$_=$q{$_}" } sort keys %q }

# --- browsers that stop reading while the device streams ---------------------

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--quiet',
                      '--ports', '16992,16994');
ok(wait_status($sport, sub { my $e = find_tunnel($_[0], $sim_guid);
                             $e && @{$e->{ports} // []} == 2 }, T(10)),
   'simulated device up');

{
    my @workers = $t->worker_pids;
    my %rss0 = map { $_ => rss_kb($_) } @workers;
    my $total = 400 * 1024 * 1024;
    my @ws;
    for my $i (1 .. 4) {
        my ($ws) = FcfhWs->connect($wport, path(p => 1, port => 16992, host => $sim_guid),
                                   rcvbuf => 4096);
        ok($ws, "stream $i: upgraded") or next;
        $ws->send_binary("BULK $total\n");
        my $first = $ws->read_data(256 * 1024, T(10));
        is(length $first, 256 * 1024, "stream $i: the first 256 KiB arrive");
        ok(pattern_ok(0, $first), "stream $i: ... in order");
        $ws->{offset} = length $first;
        push @ws, $ws;
    }

    # nobody reads for a while: the device must be held back
    sleep T(3);
    my @grow = map { rss_kb($_) - $rss0{$_} } @workers;
    for my $i (0 .. $#workers) {
        cmp_ok($grow[$i], '<', rss_bound_kb(16 * 1024),
               "worker $workers[$i]: RSS grew $grow[$i] KiB with four stalled browsers (< 16 MiB)");
    }
    my $st = $t->sim_stats($sim);
    cmp_ok($st->{bytes_out}, '<', 64 * 1024 * 1024,
           "the device was held back: $st->{bytes_out} bytes sent in all");

    # reading again: the stream goes on where it stopped
    for my $i (0 .. $#ws) {
        my $ws = $ws[$i];
        my $more = $ws->read_data(1024 * 1024, T(20));
        is(length $more, 1024 * 1024, 'stream ' . ($i + 1) . ': 1 MiB more once reading again');
        ok(pattern_ok($ws->{offset}, $more), 'stream ' . ($i + 1) . ': nothing lost or reordered');
        is_deeply([sort keys %{$ws->{seen}}], [2], 'stream ' . ($i + 1) . ': binary frames only');
        $ws->send_close(1000);
        my ($code) = $ws->expect_close(T(10));
        is($code, 1000, 'stream ' . ($i + 1) . ': closed with 1000 mid-stream');
    }

    ok(wait_for(sub { my $s = $t->sim_stats($sim); ($s->{channels_closed} // 0) >= 4 }, T(10)),
       'the four channels closed at the device');
    $st = $t->sim_stats($sim);
    is($st->{window_violations}, 0, 'no window violations');
}

# --- one SOL session through the simulator: device sees the console leave ----

{
    my $before = $t->sim_stats($sim)->{channels_closed};
    my ($ws) = FcfhWs->connect($wport, path(host => $sim_guid, mode => 'sol'));
    ok($ws && $ws->sol_login('admin', 'P@ssw0rd', T(5)), 'SOL session up');
    $ws->sol_send("x");
    is($ws->sol_read(1, T(5)), 'x', 'SOL echo');
    $ws->close;          # no close frame: the browser tab is gone
    ok(wait_for(sub { $t->sim_stats($sim)->{channels_closed} == $before + 1 }, T(10)),
       'browser gone: the channel closed at the device');
}

# --- a scripted device: every channel message counted -------------------------

my $guid = '00000000-0000-4000-8000-0000000000c1';
my $dev = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$dev->handshake($guid, 'admin', 'P@ssw0rd', [16992, 16994], 'c1.example.test');
ok($dev->{established}, 'scripted device established');

sub next_msg {
    my ($type, $timeout) = @_;
    my $deadline = time + ($timeout // T(5));
    while (my $m = $dev->read_msg($deadline - time)) {
        return $m if $m->{type} == $type;
        $dev->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
    }
    return;
}

# nothing else for this device, keepalive answers aside
sub quiet {
    my ($what) = @_;
    my $cookie = int rand 1e6;
    $dev->send(keepalive_request($cookie));
    my @other;
    while (my $m = $dev->read_msg(T(3))) {
        last if $m->{type} == KEEPALIVE_REPLY && $m->{cookie} == $cookie;
        push @other, $m;
    }
    ok(!@other, "$what: nothing more reached the device")
        or diag(explain \@other);
}

my $id = 100;

for my $how ('close frame', 'connection dropped') {
    # the relay answers 101 once the device confirmed the channel
    my $ws = FcfhWs->begin($wport, path(host => $guid)) or die;
    my $o = next_msg(CHANNEL_OPEN);
    ok($o, "$how: the device got CHANNEL_OPEN") or next;
    is($o->{connected_port}, 16994, "$how: for port 16994");
    $id++;
    $dev->send(channel_confirm($o->{sender}, $id, 32768));
    my ($ok, $st) = $ws->finish(T(5));
    is($st, 101, "$how: 101 once the device confirmed");
    my $cport = $ws->sock->sockport;

    $ws->send_binary("abc");
    my $d = next_msg(CHANNEL_DATA);
    is($d && $d->{data}, 'abc', "$how: browser bytes reach the device");
    $dev->send(channel_data($o->{sender}, "xyz"));
    is($ws->read_data(3, T(5)), 'xyz', "$how: device bytes reach the browser");

    if ($how eq 'close frame') {
        $ws->send_close(1000, 'tab closed');
        my ($code) = $ws->expect_close(T(5));
        is($code, 1000, "$how: the gateway answers 1000");
        ok($ws->wait_eof(T(5)), "$how: and closes the connection");
    } else {
        $ws->close;
    }

    my $cl = next_msg(CHANNEL_CLOSE);
    is($cl && $cl->{recipient}, $id, "$how: the device got CHANNEL_CLOSE for its channel");
    $dev->send(channel_close($o->{sender}));
    quiet("$how: CHANNEL_CLOSE once");
    ok($t->wait_for_log(qr/console session closed \(console_closed\): device $guid .*port 16994 via websocket from 127\.0\.0\.1:$cport,/, T(5)),
       "$how: audited as closed by the console");
}

# the device ends the channel: 1000, "device closed the session"
# the device leaves: 1001, "device disconnected"
for my $how ('device closes the channel', 'device leaves') {
    my $ws = FcfhWs->begin($wport, path(host => $guid)) or die;
    my $o = next_msg(CHANNEL_OPEN);
    ok($o, "$how: CHANNEL_OPEN") or next;
    $id++;
    $dev->send(channel_confirm($o->{sender}, $id, 32768));
    my (undef, $st) = $ws->finish(T(5));
    is($st, 101, "$how: upgraded");
    my $cport = $ws->sock->sockport;

    $dev->send(channel_data($o->{sender}, "last words"));
    if ($how eq 'device leaves') {
        $dev->close;
    } else {
        $dev->send(channel_close($o->{sender}));
    }
    is($ws->read_data(10, T(5)), 'last words', "$how: what the device sent first arrives");
    my ($code, $reason) = $ws->expect_close(T(5));
    if ($how eq 'device leaves') {
        is($code, 1001, "$how: close 1001");
        is($reason, 'device disconnected', "$how: reason \"device disconnected\"");
    } else {
        is($code, 1000, "$how: close 1000");
        is($reason, 'device closed the session', "$how: reason \"device closed the session\"");
        my $cl = next_msg(CHANNEL_CLOSE);
        is($cl && $cl->{recipient}, $id, "$how: the gateway answered the device's CHANNEL_CLOSE");
        quiet("$how: one CHANNEL_CLOSE");
    }
    ok($ws->wait_eof(T(5)), "$how: connection closed");
    my $why = $how eq 'device leaves' ? 'tunnel_gone' : 'device_closed';
    ok($t->wait_for_log(qr/console session closed \($why\): device $guid .*via websocket from 127\.0\.0\.1:$cport,/, T(5)),
       "$how: audited as $why");
}

$t->done_testing;
