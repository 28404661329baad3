#!/usr/bin/perl
# fcfh_drain: after a reload, old workers ask idle devices to reconnect
# once the drain time is up, keep tunnels that carry a console session
# (refusing new channels as "draining") until the session ends.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 1, idle => '120s',
    server => 'fcfh_drain 1s;',
    stream => 'server { listen 127.0.0.1:%%PORT_3%%; fcfh_proxy; }'));
$t->run;

my ($GA, $GB) = ('00000000-0000-4000-8000-0000000000d1',
                 '00000000-0000-4000-8000-0000000000d2');
my $a = FcfhApf->connect($t->port(1));
$a->handshake($GA, 'admin', 'P@ssw0rd', [16992], 'idle.example.test');
my $b = FcfhApf->connect($t->port(1));
$b->handshake($GB, 'admin', 'P@ssw0rd', [16992], 'busy.example.test');
ok($a->{established} && $b->{established}, 'two devices up');

# a console session on B
my $s = socks5_begin($t->port(3), $GB, 16992);
my $m;
while ($m = $b->read_msg(T(5))) { last if $m->{type} == CHANNEL_OPEN }
ok($m, 'channel open reaches B');
$b->send(channel_confirm($m->{sender}, 9, 65536));
my ($rep) = socks5_finish($s);
is($rep, 0, 'console session on B open');

my $t0 = time;
$t->reload;

is($a->expect_disconnect(T(6)), 11, 'idle device A asked to reconnect (DISCONNECT 11)');
my $took = time - $t0;
cmp_ok($took, '>=', 0.9, sprintf('... not before the drain time (%.1fs)', $took));
ok($a->wait_closed(T(3)), '... and its connection closed');

# B is kept while its session lasts; new channels to it are refused
send_all($s, "hello");
my $data = '';
while (my $x = $b->read_msg(T(3))) {
    if ($x->{type} == CHANNEL_DATA) { $data .= $x->{data}; last if length $data >= 5 }
}
is($data, 'hello', 'B still carries its console session');
$b->send(channel_data($m->{sender}, 'world'));
is(read_exact($s, 5, T(3)), 'world', '... both ways');

# B's old worker still owns it; a console now lands in the new worker and
# is relayed to the old one, which refuses: draining
my ($s2, $rep2) = socks5_open($t->port(3), $GB, 16992);
is($rep2, 3, 'a new channel to the draining tunnel: refused (REP 03)');

# the session ends: B is asked to reconnect
$b->send(channel_close($m->{sender}));
my $reason;
while (my $x = $b->read_msg(T(5))) {
    next if $x->{type} == CHANNEL_CLOSE;
    if ($x->{type} == DISCONNECT) { $reason = $x->{reason}; last }
}
is($reason, 11, 'B asked to reconnect once its session ended');

# A comes back to the new worker
my $a2 = FcfhApf->connect($t->port(1));
$a2->handshake($GA, 'admin', 'P@ssw0rd', [16992], 'idle.example.test');
ok($a2->{established}, 'A reconnects');
my $doc = wait_status($t->port(2), sub { find_tunnel($_, $GA) }, T(3));
my $owner = (find_tunnel($doc, $GA) // {})->{owner_pid} // 0;
ok(grep({ $_ == $owner } $t->worker_pids), 'A is now held by a new worker');
close $s;

$t->done_testing;
