#!/usr/bin/perl
# A console asking for a device whose owner worker died (SIGKILL): a clean
# "unreachable" (SOCKS5 REP 04, HTTP 404), never a hang, and the dead
# worker's registry entries swept; the device is reachable again once it
# reconnects to a live worker.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);
use IO::Socket::INET;
use Time::HiRes qw(time);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s',
    stream => 'server { listen 127.0.0.1:%%PORT_3%%; fcfh_proxy; }',
    http => 'server { listen 127.0.0.1:%%PORT_4%%; location / { fcfh_pass; }
                      location = /events { fcfh_events; } }'));
$t->allow_log(qr/worker process \d+ exited on signal 9/);
$t->run;
my $sport = $t->port(2);

# scripted devices do not reconnect: the dead worker's tunnels stay gone
my (%dev, %owner);
for my $i (1 .. 6) {
    my $g = sprintf '00000000-0000-4000-8000-0000000000e%d', $i;
    my $d = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
    $d->handshake($g, 'admin', 'P@ssw0rd', [16992], "dead$i.example.test");
    $dev{$g} = $d;
}
my $doc = wait_status($sport, sub { $_->{total} == 6 }, T(5));
ok($doc, 'six scripted devices up');
$owner{$_->{guid}} = $_->{owner_pid} for @{$doc->{tunnels} // []};

my %by_pid;
push @{$by_pid{$owner{$_}}}, $_ for keys %owner;
my ($victim) = sort { @{$by_pid{$b}} <=> @{$by_pid{$a}} } keys %by_pid;
my @gone = @{$by_pid{$victim}};
ok(@gone >= 1, scalar(@gone) . " devices owned by worker $victim");

kill 'KILL', $victim;

# ask for each of them right away, through both front doors; the console
# may land in the respawned worker or the survivor
for my $g (@gone) {
    my ($s, $rep) = socks5_open($t->port(3), $g, 16992);
    is($rep, 4, "SOCKS5 to $g after its owner died: REP 04");
    close $s if $s;

    my ($st, $h, $body) = http_request($t->port(4), 'GET', "http://$g:16992/wsman");
    is($st, 404, "HTTP proxy to $g after its owner died: 404");
    is($body, 'unknown device', '... "unknown device", as for any device not here');
}

$doc = wait_status($sport, sub {
    my $d = $_;
    !grep { find_tunnel($d, $_) } @gone }, T(5));
ok($doc, 'the dead worker\'s entries are swept');

# a subscriber could have been in the killed worker: read the ring instead
my $sse = IO::Socket::INET->new('127.0.0.1:' . $t->port(4));
print $sse "GET /events?type=disconnected HTTP/1.1\r\nHost: x\r\n"
         . "Last-Event-ID: 0\r\n\r\n";
my $events = '';
my $deadline = time + T(5);
while (time < $deadline) {
    my $rin = ''; vec($rin, fileno($sse), 1) = 1;
    select($rin, undef, undef, 0.2) or next;
    sysread($sse, $events, 65536, length $events) or last;
    last if (() = $events =~ /"reason":"worker_exit"/g) >= @gone;
}
my $n = () = $events =~ /"reason":"worker_exit"/g;
is($n, scalar @gone, 'a disconnected event (worker_exit) for each swept tunnel');
close $sse;
is($doc && $doc->{total}, 6 - @gone, 'the other tunnels stay listed');

# a surviving device still works
my ($alive) = grep { $owner{$_} != $victim } keys %owner;
SKIP: {
    skip 'all devices were on the killed worker', 2 unless $alive;
    my $s = socks5_begin($t->port(3), $alive, 16992);
    my $d = $dev{$alive};
    my $m;
    while ($m = $d->read_msg(T(5))) { last if $m->{type} == CHANNEL_OPEN }
    ok(defined $m, 'a device on the surviving worker still gets channel opens');
    $d->send(channel_failure($m->{sender}, 2)) if $m;
    my ($rep) = $s ? socks5_finish($s) : ();
    is($rep, 5, '... and its refusal reaches the console (REP 05)');
}

# the device comes back (reconnects) and is reachable again
my $g = $gone[0];
my $back = FcfhApf->connect($t->port(1));
$back->handshake($g, 'admin', 'P@ssw0rd', [16992], 'back.example.test');
ok($back->{established}, 'the device reconnects');
ok(wait_status($sport, sub { find_tunnel($_, $g) }, T(5)), 'and is listed again');

$t->done_testing;
