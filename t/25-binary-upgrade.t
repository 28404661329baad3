#!/usr/bin/perl
# Binary upgrade (USR2, WINCH, QUIT): the new master starts next to the
# old one with its own zone; once the old workers are told to quit, the
# drain policy asks their devices to reconnect, and the devices land in
# the new workers, reachable by consoles there.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s',
    server => 'fcfh_drain 1s;',
    stream => 'server { listen 127.0.0.1:%%PORT_3%%; fcfh_proxy; }'));
$t->run;

my $G = '00000000-0000-4000-8000-0000000000e1';
my $old = $t->{master};

# should a check die half way, the old master does not outlive the test
END { kill 'TERM', $old if $old && FcfhTest::pid_alive($old) }
my %oldw = map { $_ => 1 } $t->worker_pids;

my $a = FcfhApf->connect($t->port(1));
$a->handshake($G, 'admin', 'P@ssw0rd', [16992], 'upgrade.example.test');
ok($a->{established}, 'device up under the old master');
my $doc = wait_status($t->port(2), sub { find_tunnel($_, $G) }, T(3));
my $owner = (find_tunnel($doc, $G) // {})->{owner_pid} // 0;
ok($oldw{$owner}, "held by an old worker ($owner)");

# USR2: the new master runs the same binary next to the old one
kill 'USR2', $old;
my $new;
ok(wait_for(sub {
    -e $t->prefix . '/nginx.pid.oldbin'
        && ($new = $t->master_pid) && $new != $old && FcfhTest::pid_alive($new) }, T(10)),
   'USR2: new master started, old pid file renamed to nginx.pid.oldbin');
$new //= 0;

$t->{master} = $new;
ok(wait_for(sub { $t->worker_pids == 2 }, T(10)), 'new master runs its workers');
my %neww = map { $_ => 1 } $t->worker_pids;
ok(!grep({ $oldw{$_} } keys %neww), '... which are new processes');

# the device is untouched while both masters run
$a->send(keepalive_request(7));
my $m;
while ($m = $a->read_msg(T(3))) { last if $m->{type} != CHANNEL_OPEN }
is($m && $m->{type}, KEEPALIVE_REPLY, 'device still served by its old worker');

# WINCH: the old workers quit gracefully; the drain time sends the device
# away with DISCONNECT 11
my $t0 = time;
kill 'WINCH', $old;
is($a->expect_disconnect(T(6)), 11,
   'WINCH: the old worker asks the device to reconnect (DISCONNECT 11)');
cmp_ok(time - $t0, '>=', 0.9, '... after the drain time');
ok($a->wait_closed(T(3)), '... and closes its connection');

# the device comes back: only the new workers listen now
my $a2 = FcfhApf->connect($t->port(1));
$a2->handshake($G, 'admin', 'P@ssw0rd', [16992], 'upgrade.example.test');
ok($a2->{established}, 'device reconnects');
$doc = wait_status($t->port(2), sub { find_tunnel($_, $G) }, T(3));
$owner = (find_tunnel($doc, $G) // {})->{owner_pid} // 0;
ok($neww{$owner}, "held by a new worker ($owner)");
is(scalar @{ $doc->{tunnels} // [] }, 1, 'the new zone lists it once');

# a console reaches it through the new workers
my $s = socks5_begin($t->port(3), $G, 16992);
while ($m = $a2->read_msg(T(5))) { last if $m->{type} == CHANNEL_OPEN }
ok($m && $m->{type} == CHANNEL_OPEN, 'console channel open reaches the device');
$a2->send(channel_confirm($m->{sender}, 5, 65536)) if $m;
my ($rep) = socks5_finish($s);
is($rep, 0, 'SOCKS5 to the device after the upgrade');
send_all($s, 'ping');
my $data = '';
while (my $x = $a2->read_msg(T(3))) {
    if ($x->{type} == CHANNEL_DATA) { $data .= $x->{data}; last if length $data >= 4 }
}
is($data, 'ping', '... and carries data');
close $s;

# QUIT the old master: it goes, the new one stays
kill 'QUIT', $old;
ok(wait_for(sub { !FcfhTest::pid_alive($old) }, T(10)), 'old master exits on QUIT');
ok(!-e $t->prefix . '/nginx.pid.oldbin', '... removing nginx.pid.oldbin');
ok(FcfhTest::pid_alive($new), 'new master still runs');
$doc = wait_status($t->port(2), sub { find_tunnel($_, $G) }, T(3));
ok($doc, 'device still listed after the old master left');

$a2->close;
$t->done_testing;
