#!/usr/bin/perl
# fcfh_webrelay: console sessions per device and mode (one by default, as
# Open AMT), counted in the zone so that the limit holds across workers,
# refused with 409 and a JSON reason before any upgrade, released however
# the session ends (close frame, dropped connection, device gone, missed
# pongs, a worker killed); and the gateway's pings: answered, the session
# stays; unanswered, it is closed with 1001.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP ();
use FcfhTest qw(:all);
use FcfhWs;

plan skip_all => 'no simulator (make sim)' unless have_sim();

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, http => '
    server {
        listen 127.0.0.1:%%PORT_3%% reuseport;
        location = /webrelay.ashx {
            fcfh_webrelay;
            fcfh_webrelay_ping 1s;
        }
        location = /two {
            fcfh_webrelay;
            fcfh_webrelay_sessions 2;
        }
        location = /unlimited {
            fcfh_webrelay;
            fcfh_webrelay_sessions off;
        }
        location = /noping {
            fcfh_webrelay;
            fcfh_webrelay_sessions off;
            fcfh_webrelay_ping 0;
        }
    }'));
$t->run;
$t->allow_log(qr/exited on signal 9/);

my $sport = $t->port(2);
my $wport = $t->port(3);
my $guid = '00000000-0000-4000-8000-000000000001';
my $fqdn = 'dev0.example.test';

sub start_sim {
    my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--quiet',
                          '--ports', '16992,16994', '--reconnect', 0);
    ok(wait_status($sport, sub { my $e = find_tunnel($_[0], $guid);
                                 $e && @{$e->{ports} // []} == 2 }, T(10)),
       'simulated device up');
    return $sim;
}

sub path {
    my ($loc, %q) = @_;
    %q = (p => 2, host => $guid, port => 16994, tls => 0, %q);
    "$loc?" . join '&', map { "$_=$q{$_}" } grep { defined $q{$_} } sort keys %q;
}

sub open_ok {
    my ($name, $p) = @_;
    my ($ws, $st, $h, $body) = FcfhWs->connect($wport, $p);
    ok($ws, "$name: upgraded") or diag("$st $body");
    return $ws;
}

sub busy {
    my ($name, $p, $n) = @_;
    my ($bad, $json) = (0, 0);
    for (1 .. ($n // 1)) {
        my ($ws, $st, $h, $body) = FcfhWs->connect($wport, $p);
        $bad++ unless !$ws && $st == 409;
        my $doc = eval { JSON::PP->new->decode($body) };
        $json++ if $doc && ($doc->{error} // '') =~ /already open/;
    }
    is($bad, 0, "$name: 409 every time" . ($n ? " ($n tries, both workers)" : ''));
    is($json, $n // 1, "$name: JSON reason every time");
}

# a new session opens as soon as the old one is released
sub reopens {
    my ($name, $p) = @_;
    my $ws;
    wait_for(sub { ($ws) = FcfhWs->connect($wport, $p); $ws }, T(5), 0.1);
    ok($ws, "$name: the session was released");
    return $ws;
}

# a session served by a worker that does not hold the device's tunnel:
# (ws, its worker's pid, the owner's pid)
sub away_from_tunnel {
    my ($loc, $mode) = @_;
    my $owner = find_tunnel(status_json($sport), $guid)->{owner_pid} // 0;
    for (1 .. 30) {
        my ($ws) = FcfhWs->connect($wport, path($loc, mode => $mode)) or next;
        my $port = $ws->sock->sockport;
        my $line = $t->wait_for_log(qr/console session opened: .* from 127\.0\.0\.1:$port,/, T(5));
        my ($pid) = ($line // '') =~ /\] (\d+)#/;
        return ($ws, $pid, $owner) if $pid && $pid != $owner;
        $ws->close;
    }
    return (undef, undef, $owner);
}

my $sim = start_sim();

# --- one session per device and mode --------------------------------------------

my $sol = '/webrelay.ashx';
my $first = open_ok('first SOL session', path($sol, mode => 'sol'));
ok($first && $first->sol_login('admin', 'P@ssw0rd', T(5)), 'first SOL session: logged in');
busy('second SOL session', path($sol, mode => 'sol'), 8);
busy('second SOL session by name', path($sol, mode => 'sol', host => $fqdn));
# the same count, another location's limit (2): one more, not two
my $two = open_ok('a second SOL session where the limit is 2', path('/two', mode => 'sol'));
busy('a third SOL session where the limit is 2', path('/two', mode => 'sol'));
$two->close if $two;
my $k = open_ok('a KVM session beside it', path($sol, mode => 'kvm'));
busy('a second KVM session', path($sol, mode => 'kvm'));
my $m = open_ok('a session naming no mode (MeshCentral)', path($sol));
busy('a second one naming no mode', path($sol));
my @wsman = map { open_ok("WS-Management session $_ (not limited)",
                          path($sol, p => 1, port => 16992)) } 1 .. 3;
$_ && $_->close for $k, $m, @wsman;

# ended by a close frame
$first->send_close(1000);
$first->expect_close(T(5));
my $second = reopens('after a close frame', path($sol, mode => 'sol'));

# ended by a dropped connection
$second->close if $second;
my $c = reopens('after a dropped connection', path($sol, mode => 'sol'));

# ended by the device leaving (killed: no channel closed first)
kill 'KILL', $sim->{pid};
$t->stop_sim($sim);
my ($code, $reason) = $c ? $c->expect_close(T(10)) : ();
is($code, 1001, 'device gone: close 1001');
is($reason, 'device disconnected', 'device gone: "device disconnected"');
$sim = start_sim();
my $d = reopens('after the device left and came back', path($sol, mode => 'sol'));

# ended by a worker's death: the sweep frees what it held
{
    # a session served by the worker that does not hold the tunnel
    my ($d2, $pid, $owner) = away_from_tunnel('/unlimited', 'ider');
    ok($pid, "an IDER session served by worker $pid, not the tunnel's ($owner)");
    # its own location counts the same key: a second is refused
    busy('a second IDER session, limit 1', path($sol, mode => 'ider'));
    kill 'KILL', $pid if $pid;
    ok(wait_for(sub { $t->worker_pids == 2 && !grep { $_ == $pid } $t->worker_pids }, T(10)),
       'the worker was replaced');
    my $e = reopens('after the worker serving it was killed', path($sol, mode => 'ider'));
    $e->close if $e;
    $d2->close if $d2;
}

# limits of 2 and none
{
    my @two = map { open_ok("limit 2: session $_", path('/two', mode => 'kvm')) } 1 .. 2;
    busy('limit 2: a third', path('/two', mode => 'kvm'));
    $_ && $_->close for @two;
    my @any = map { open_ok("no limit: session $_", path('/unlimited', mode => 'sol')) } 1 .. 3;
    $_ && $_->close for @any;
}

# --- the gateway's pings ------------------------------------------------------

$d->close if $d;
{
    # answered (the client library does, as browsers do): the session stays
    my $ws = reopens('ping: session', path($sol, mode => 'sol'));
    my $got = $ws ? $ws->read_data(1, T(3.5)) : undef;
    ok($ws && !$ws->{close} && !$ws->eof, 'pings answered: the session stays open');
    cmp_ok($ws ? $ws->{seen}{9} // 0 : 0, '>=', 2, 'pings answered: two or more pings seen');
    ok($ws && $ws->sol_login('admin', 'P@ssw0rd', T(5)), 'pings answered: the session works');
    $ws->send_close(1000) if $ws;
    $ws->expect_close(T(5)) if $ws;

    # not answered: 1001 after the next interval
    $ws = reopens('missed pong: session', path($sol, mode => 'sol'));
    if ($ws) {
        $ws->{auto_pong} = 0;
        my $start = time;
        my $f = $ws->read_frame(T(3));
        is($f && $f->{opcode}, 9, 'missed pong: a ping came');
        my ($code, $reason) = $ws->expect_close(T(5));
        is($code, 1001, 'missed pong: close 1001');
        like($reason, qr/pong/, "missed pong: the reason says why ($reason)");
        ok($ws->wait_eof(T(5)), 'missed pong: connection closed');
        my $cport = $ws->sock ? $ws->sock->sockport : 0;
        ok($t->wait_for_log(qr/console session closed \(timeout\): .*via websocket from 127\.0\.0\.1:$cport,/, T(5)),
           'missed pong: audited as a timeout');
    }
    reopens('missed pong: the session was released', path($sol, mode => 'sol'));
}

# --- a reload: sessions stay with the old worker until they end ------------

{
    # one served by the worker that does not hold the tunnel, without
    # pings: nothing but the session keeps that worker
    my ($ws, $pid, $owner) = away_from_tunnel('/noping', 'sol');
    ok($pid, "a session in worker $pid, not the tunnel's ($owner)");
    ok($ws && $ws->sol_login('admin', 'P@ssw0rd', T(5)), 'reload: SOL session up');
    ok($t->reload(T(10)), 'reloaded');
    sleep T(1);
    ok(FcfhTest::pid_alive($pid), 'the old worker stays while it serves the session');
    if ($ws) {
        $ws->sol_send('after reload');
        is($ws->sol_read(12, T(5)), 'after reload', 'reload: the session goes on');
        $ws->send_close(1000);
        my ($code) = $ws->expect_close(T(5));
        is($code, 1000, 'reload: closed normally');
    }
    ok(wait_for(sub { !FcfhTest::pid_alive($pid) }, T(10)),
       'the old worker exits once its session ended');
}

$t->done_testing;
