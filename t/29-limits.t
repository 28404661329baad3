#!/usr/bin/perl
# Limits under abuse: each bound is hit and refused cleanly while the
# tunnels already up keep working.
#   - fcfh_max_tunnels: the next device gets DISCONNECT 12 (too many
#     connections); a device replacing its own tunnel is not a new one
#   - a handshake flood from one address: nginx's limit_conn holds it to
#     its limit, ssl_handshake_timeout ends the rest, other devices connect
#   - a device opening channels toward a receiver in a loop:
#     fcfh_max_channels, then CHANNEL_OPEN_FAILURE 4; open/close cycles
#     leave nothing behind
#   - consoles opening channels in a loop: the same bound, SOCKS5 refusals
#   - a device ignoring the window: its input is paused (never more
#     memory), nothing lost; a message larger than the window is a
#     protocol error for that device only
#   - a bulk channel to a console that keeps up: its window grows, no
#     further than fcfh_channel_window_max; max below the window is an
#     error at nginx -t
# (The APF-level slowloris device is in t/06-timeouts.t.)
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);
use POSIX ();
use List::Util qw(min);

my $rx = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 128, ReuseAddr => 1)
    or BAIL_OUT("listen: $!");
my $rport = $rx->sockport;

my $t = FcfhTest->new;
$t->write_config(std_config(idle => '120s', handshake => '2s',
    main => 'fcfh_max_tunnels 3;',
    stream => 'limit_conn_zone $binary_remote_addr zone=perip:1m;
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }',
    server => "limit_conn perip 20;
        ssl_handshake_timeout 3s;
        fcfh_max_channels 4;
        fcfh_channel_window 16k;
        fcfh_channel_window_max 64k;
        fcfh_alert_receivers 127.0.0.1:$rport;
        # 100 device-opened channels in a row: past any alert limit
        fcfh_alert_limit off;",
    http => 'server { listen 127.0.0.1:%%PORT_4%%; location /api/ { fcfh_api; } }'));
$t->run;

my ($sport, $px, $aport) = ($t->port(2), $t->port(3), $t->port(4));

sub guid { sprintf '00000000-0000-4000-8000-%012x', $_[0] }

sub device {
    my ($i, %o) = @_;
    my $d = FcfhApf->connect($t->port(1)) or return;
    $d->handshake(guid($i), 'admin', 'P@ssw0rd', [16992], "d$i.example.test");
    return $d;
}

sub next_msg {
    my ($d, $type, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (my $m = $d->read_msg($deadline - time)) {
        return $m if $m->{type} == $type;
        $d->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
    }
    return;
}

sub worker_rss {
    my ($t) = @_;
    my ($pid) = $t->worker_pids;
    open my $fh, '<', "/proc/$pid/status" or return 0;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    return 0;
}

sub channels_of {
    my ($i) = @_;
    my (undef, undef, $b) = http_request($aport, 'GET', '/api/tunnels/' . guid($i));
    return $b && $b =~ /"channels":(\d+)/ ? $1 : -1;
}

# --- fcfh_max_tunnels ---------------------------------------------------------

my @d = map { device($_) } 1 .. 3;
ok((grep { $_ && $_->{established} } @d) == 3, 'three devices up (the limit)');

my $d4 = FcfhApf->connect($t->port(1));
my $got = $d4->handshake(guid(4), 'admin', 'P@ssw0rd', [16992], 'd4.example.test');
ok(!$d4->{established}, 'a fourth device is refused');
is($d4->expect_disconnect(T(3)), 12, '... with DISCONNECT 12 (too many connections)');
ok($t->wait_for_log(qr/gateway holds fcfh_max_tunnels tunnels, device refused.*device: \Q${\guid(4)}\E/, T(3)),
   '... logged with the device');
$d4->close;

my $again = device(2);
ok($again && $again->{established}, 'a device replacing its own tunnel is let in');
$d[1]->close;
$d[1] = $again;
ok($_->ping(1, T(3)), 'the tunnels already up still answer') for @d;

$d[2]->send(disconnect(11));
$d[2]->close;
ok(wait_status($sport, sub { $_->{total} == 2 }, T(5)), 'one left: two tunnels');
my $d5 = device(5);
ok($d5 && $d5->{established}, 'below the limit again: a new device is let in');
$d5->send(disconnect(11));
$d5->close;
ok(wait_status($sport, sub { $_->{total} == 2 }, T(5)), 'two tunnels');

# --- a handshake flood from one address ---------------------------------------

SKIP: {
    my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.2', PeerAddr => '127.0.0.1:' . $t->port(1));
    skip 'no 127.0.0.2 on this machine', 6 unless $probe;
    close $probe;
    sleep 0.3;

    my @flood;
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.2',
                                      PeerAddr => '127.0.0.1:' . $t->port(1),
                                      Timeout => 3) or last;
        push @flood, $s;
    }
    is(scalar @flood, 100, 'a flood of 100 silent connections from one address');

    # limit_conn closes what is over the limit at once
    my $sel = IO::Select->new(@flood);
    my %closed;
    my $deadline = time + T(2);
    while (time < $deadline && keys %closed < 80) {
        for my $s ($sel->can_read(0.2)) {
            my $n = sysread($s, my $buf, 1);
            if (!$n) { $closed{fileno $s} = 1; $sel->remove($s) }
        }
    }
    ok(keys %closed >= 80, 'limit_conn closed at least 80 at once (' . (keys %closed) . ')');

    my $new = device(6);
    ok($new && $new->{established}, 'a device from another address connects meanwhile');
    ok($d[0]->ping(2, T(3)), 'and a tunnel already up answers');

    # the held ones end at ssl_handshake_timeout
    $deadline = time + T(6);
    while (time < $deadline && $sel->count) {
        for my $s ($sel->can_read(0.2)) {
            my $n = sysread($s, my $buf, 1);
            if (!$n) { $closed{fileno $s} = 1; $sel->remove($s) }
        }
    }
    is(scalar(keys %closed), 100, 'the rest were closed by ssl_handshake_timeout');
    ok($t->wait_for_log(qr/limiting connections by zone "perip".*client: 127\.0\.0\.2/, T(2)),
       'the refusals are logged with the address');
    close $_ for @flood;
    $new->send(disconnect(11));
    $new->close;
}

# --- a device opening channels toward a receiver in a loop --------------------

my $dev = $d[0];
my (@conf, @fail);
for my $id (100 .. 105) {
    $dev->send(channel_open('direct-tcpip', $id, 32768, '127.0.0.1', $rport,
                            '10.0.0.7', 2000 + $id));
}
my @rx;
my $deadline = time + T(5);
while (@conf + @fail < 6 && time < $deadline) {
    if (IO::Select->new($rx)->can_read(0)) { push @rx, scalar $rx->accept }
    my $m = $dev->read_msg(0.2) or next;
    push @conf, $m if $m->{type} == CHANNEL_OPEN_CONFIRMATION;
    push @fail, $m if $m->{type} == CHANNEL_OPEN_FAILURE;
}
is(scalar @conf, 4, 'device-opened channels: four confirmed (fcfh_max_channels)');
is(scalar @fail, 2, '... two refused');
ok(!grep({ $_->{reason} != 4 } @fail), '... with reason 4 (resource shortage)');
is(channels_of(1), 4, '... four channels on the tunnel');
for my $c (@conf) {
    $dev->send(channel_close($c->{sender}));
    next_msg($dev, CHANNEL_CLOSE, T(3));
}
ok(wait_for(sub { channels_of(1) == 0 }, T(3)), 'closed: none left');

my $cycles = 0;
for my $i (1 .. 100) {
    $dev->send(channel_open('direct-tcpip', 7, 32768, '127.0.0.1', $rport,
                            '10.0.0.7', 3000));
    my $m = next_msg($dev, CHANNEL_OPEN_CONFIRMATION, T(3)) or last;
    if (IO::Select->new($rx)->can_read(T(2))) { my $a = $rx->accept; close $a if $a }
    $dev->send(channel_close($m->{sender}));
    next_msg($dev, CHANNEL_CLOSE, T(3)) or last;
    $cycles++;
}
is($cycles, 100, '100 open/close cycles from the device');
ok(wait_for(sub { channels_of(1) == 0 }, T(3)), '... leave no channel behind');
ok($dev->ping(3, T(3)), '... and the tunnel answers');
close $_ for grep { $_ } @rx;

# --- consoles opening channels in a loop --------------------------------------

my $dev2 = $d[1];
for my $round (1 .. 2) {
    my @s = map { socks5_begin($px, guid(2), 16992) } 1 .. 8;
    my @gw;
    while (my $o = next_msg($dev2, CHANNEL_OPEN, T(1))) {
        $dev2->send(channel_confirm($o->{sender}, 200 + @gw, 32768));
        push @gw, $o->{sender};
    }
    my @rep = map { (socks5_finish($_, T(3)))[0] } @s;
    is(scalar @gw, 4, "round $round: four channel opens reached the device");
    is(scalar(grep { defined $_ && $_ == 0 } @rep), 4, "round $round: four consoles succeed");
    is(scalar(grep { defined $_ && $_ != 0 } @rep), 4, "round $round: four get a SOCKS5 refusal");
    close $_ for @s;
    # the device closes its side; the gateway answers each CLOSE once
    $dev2->send(channel_close($_)) for @gw;
    my $closes = 0;
    while ($closes < @gw) {
        next_msg($dev2, CHANNEL_CLOSE, T(3)) or last;
        $closes++;
    }
    is($closes, scalar @gw, "round $round: every channel closed both ways");
    ok(wait_for(sub { channels_of(2) == 0 }, T(3)), "round $round: no channel left");
}
ok($dev->ping(4, T(3)), 'other tunnels unaffected by the console loop');

# --- a device that ignores the window -----------------------------------------

my $cs = socks5_begin($px, guid(1), 16992, rcvbuf => 4096);
my $o = next_msg($dev, CHANNEL_OPEN, T(3));
ok($o, 'a console channel to the first device');
is($o && $o->{window}, 16384, '... the gateway grants fcfh_channel_window (16k)');
$dev->send(channel_confirm($o->{sender}, 300, 32768));
my ($r) = socks5_finish($cs, T(3));
is($r, 0, '... open');

# 8 MiB in 16 KiB messages, far beyond the 16 KiB window, to a console
# that reads only after 2 s (its kernel buffers small): the gateway buffers
# no more than the window and stops reading the device meanwhile
my $chunk = 'w' x 16384;
my $total = 512 * 16384;
my $cpid = open(my $from_child, '-|') // die "fork: $!";
if (!$cpid) {
    sleep 2;
    my $got = read_exact($cs, $total, 60);
    print length($got), ($got =~ /^w*\z/ ? ' ok' : ' bad');
    POSIX::_exit(0);
}
my $rss0 = worker_rss($t);
$dev->send(channel_data($o->{sender}, $chunk)) for 1 .. 512;
ok($t->wait_for_log(qr/device ignores the window of channel \d+, pausing it/, T(3)),
   'the gateway notices the device ignoring the window and pauses it');
my $grew = worker_rss($t) - $rss0;
ok($grew < rss_bound_kb(4096), "... its worker grew by $grew kB for 8 MiB sent (bounded)");
my $res = <$from_child>;
close $from_child;
is($res, "$total ok", 'the console gets all 8 MiB in order: nothing lost');
$dev->send(keepalive_request(77));
my $kr = next_msg($dev, KEEPALIVE_REPLY, T(3));
is($kr && $kr->{cookie}, 77, 'the device is read again once the console drained');
close $cs;

# one message larger than the whole window: a protocol error
my $cs2 = socks5_begin($px, guid(1), 16992);
$o = next_msg($dev, CHANNEL_OPEN, T(3));
$dev->send(channel_confirm($o->{sender}, 301, 32768));
socks5_finish($cs2, T(3));
$dev->send(channel_data($o->{sender}, 'z' x 40000));
is($dev->expect_disconnect(T(3)), 2, 'more than the window in one message: DISCONNECT 2');
ok($d[1]->ping(5, T(3)), 'the other device is unaffected');
close $cs2;

# --- a bulk channel's window grows, up to fcfh_channel_window_max --------------

my $cb = socks5_begin($px, guid(2), 16992);
my $ob = next_msg($d[1], CHANNEL_OPEN, T(3));
$d[1]->send(channel_confirm($ob->{sender}, 310, 32768));
is((socks5_finish($cb, T(3)))[0], 0, 'a bulk channel to a console that keeps up');
my $bulk = 1024 * 1024;
my $rpid = open(my $from_reader, '-|') // die "fork: $!";
if (!$rpid) {
    my $got = read_exact($cb, $bulk, T(30));
    print length($got);
    POSIX::_exit(0);
}
my ($granted, $sent) = ($ob->{window}, 0);
my $deadline = time + T(30);
while (time < $deadline) {
    if ($sent < $bulk && $granted > $sent) {
        my $n = min(4096, $granted - $sent, $bulk - $sent);
        $d[1]->send(channel_data($ob->{sender}, 'b' x $n));
        $sent += $n;
        next;
    }
    # out of window, or done: collect credit until the console has it all
    my $m = $d[1]->read_msg($sent < $bulk ? 5 : 0.5) or last;
    $d[1]->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
    $granted += $m->{bytes}
        if $m->{type} == CHANNEL_WINDOW_ADJUST && $m->{recipient} == 310;
}
is($sent, $bulk, 'the device sent 1 MiB within the credit it was given');
is(scalar <$from_reader>, $bulk, '... and the console got all of it');
close $from_reader;
my $open = $granted - $sent;
cmp_ok($open, '>', 16384, "the window grew past fcfh_channel_window 16k ($open)");
cmp_ok($open, '<=', 65536, '... and no further than fcfh_channel_window_max 64k');
close $cb;

$_->close for grep { $_ } @d;

# the bounds are checked at nginx -t
my $conf = $t->read_file('nginx.conf');
(my $bad = $conf) =~ s/fcfh_channel_window 16k;/fcfh_channel_window 1k;/;
$t->write_file('nginx.conf', $bad);
my ($out, $code) = $t->nginx_t;
isnt($code, 0, 'fcfh_channel_window 1k: nginx -t fails');
like($out, qr/value must be between 4096 and 1048576 in \S+nginx\.conf:\d+/,
     '... saying the range');
($bad = $conf) =~ s/fcfh_channel_window_max 64k;/fcfh_channel_window_max 8k;/;
$t->write_file('nginx.conf', $bad);
($out, $code) = $t->nginx_t;
isnt($code, 0, 'fcfh_channel_window_max below fcfh_channel_window: nginx -t fails');
like($out, qr/"fcfh_channel_window_max" 8192 is less than "fcfh_channel_window" 16384/,
     '... saying so');
($bad = $conf) =~ s/fcfh_max_tunnels 3;/fcfh_max_tunnels -1;/;
$t->write_file('nginx.conf', $bad);
($out, $code) = $t->nginx_t;
isnt($code, 0, 'fcfh_max_tunnels -1: nginx -t fails');
$t->write_file('nginx.conf', $conf);

$t->done_testing;
