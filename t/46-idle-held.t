#!/usr/bin/perl
# fcfh_idle_timeout measures the device's silence, not the gateway's: a
# device that ignores a channel's window, toward a console that stops
# reading, has its input held (the gateway stops reading it); its
# keepalives then wait unread behind the held data.  The tunnel must
# outlive the idle timeout meanwhile, the console must get every byte in
# order once it reads, and the device, silent afterwards, must still be
# dropped after the idle timeout.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(idle => '3s', keepalive => '1s', stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }'));
$t->run;
my ($sport, $px) = ($t->port(2), $t->port(3));

my $G = '00000000-0000-4000-8000-000000004401';
my $dev = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$dev->handshake($G, 'admin', 'P@ssw0rd', [16992], 'held.example.test');
ok($dev->{established}, 'device established');

my $cs = socks5_begin($px, $G, 16992, rcvbuf => 4096)
    or BAIL_OUT("socks5: $FcfhConsole::ERROR");
my $o;
while (my $m = $dev->read_msg(T(3))) { if ($m->{type} == CHANNEL_OPEN) { $o = $m; last } }
ok($o, 'a console opens a channel') or BAIL_OUT('no CHANNEL_OPEN');
$dev->send(channel_confirm($o->{sender}, 5, 32768));
is((socks5_finish($cs, T(3)))[0], 0, '... SOCKS5 success');

# The console reads nothing until told (5 s into the hold, idle timeout
# 3 s), then everything.
pipe(my $go_r, my $go_w) or die "pipe: $!";
my $cpid = open(my $from_child, '-|') // die "fork: $!";
if (!$cpid) {
    close $go_w;
    my $rin = ''; vec($rin, fileno($go_r), 1) = 1;
    select(my $rout = $rin, undef, undef, T(40));
    my ($got, $eof) = read_to_eof($cs, T(30));
    print length($got), ' ', (pattern_ok(0, $got) ? 'ok' : 'bad'), " $eof";
    POSIX::_exit(0);
}

# Device output, written without ever blocking: a TLS write that could
# not complete is retried from the same offset, never shorter.
my $s = $dev->sock;
my ($out, $off) = ('', 0);
sub pump {
    $s->blocking(0);
    while ($off < length $out) {
        my $len = length($out) - $off;
        $len = 16384 if $len > 16384;
        my $n = syswrite($s, $out, $len, $off);
        last unless $n;
        $off += $n;
    }
    $s->blocking(1);
    ($out, $off) = ('', 0) if $off == length $out;
}

# CHANNEL_DATA far beyond the 32 KiB window until the gateway holds the
# device's input, then a keepalive every second: 5 s held, 3 s more
# after the console started reading
close $go_r;
my $unit = bulk_pattern(8192);
my $t0 = time;
my ($data, $held, $go, $k, $next_ka) = (0, 0, 0, 0, $t0 + 1);
while (time < ($held ? $held + 8 : $t0 + T(10))) {
    if (!$held && $data < (16 << 20) && length($out) - $off < 65536) {
        $out .= channel_data($o->{sender}, $unit);
        $data += length $unit;
    }
    if (time >= $next_ka) {
        $out .= keepalive_request(++$k);
        $next_ka += 1;
    }
    pump();
    if (!$held && $t->wait_for_log(qr/device ignores the window of channel \d+, pausing it/, 0)) {
        $held = time;
    }
    if ($held && !$go && time >= $held + 5) {
        syswrite($go_w, "go\n");
        $go = 1;
    }
    sleep 0.02 if $held || length($out) - $off >= 65536;
}
close $go_w;
ok($held, sprintf('the gateway held the device input after %d KiB', $data / 1024));
ok($data > 65536, '... more than the window was sent');
cmp_ok($k, q(>=), 6, "... and $k keepalives, about one a second (more than the idle timeout covers)");

# whatever is still queued, then every keepalive answered, in order
my $deadline = time + T(5);
while (length($out) && time < $deadline) {
    pump();
    sleep 0.02 if length $out;
}
is(length $out, 0, 'device output all written');
my (@cookies, $disc);
while (@cookies < $k) {
    my $m = $dev->read_msg(T(3)) or last;
    push @cookies, $m->{cookie} if $m->{type} == KEEPALIVE_REPLY;
    if ($m->{type} == DISCONNECT) { $disc = $m->{reason}; last }
}
ok(!defined $disc, 'no DISCONNECT') or diag("DISCONNECT $disc");
is_deeply(\@cookies, [1 .. $k], "all $k keepalives answered in order");
ok(find_tunnel(status_json($sport), $G), 'tunnel still listed (held 5 s, idle timeout 3 s)');

# the device closes the channel: the console gets the rest and end of file
$dev->send(channel_close($o->{sender}));
my $res = <$from_child> // '';
close $from_child;
is($res, "$data ok 1", "the console got all $data bytes in order, then end of file");

# silent from now on: still dropped after the idle timeout
my $quiet = time;
is($dev->expect_disconnect(T(8)), 16, 'then silent: DISCONNECT(16)');
my $took = time - $quiet;
ok($took > 2.5 && $took < T(5), sprintf('... after the idle timeout (%.2fs)', $took));

$t->done_testing;
