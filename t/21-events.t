#!/usr/bin/perl
# Server-Sent Events (fcfh_events): connected, disconnected (with why) and
# auth_failed events from every worker, filters, Last-Event-ID resume, a
# subscriber leaving mid-stream, and a reload with subscribers attached.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use JSON::PP;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s',
    http => 'server {
        listen 127.0.0.1:%%PORT_3%%;
        location = /events { fcfh_events; }
        location /api/ { fcfh_api; }
    }'));
$t->run;
my $port = $t->port(3);

sub subscribe {
    my ($query, %h) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or return;
    my $hdr = join '', map { "$_: $h{$_}\r\n" } keys %h;
    print $s "GET /events$query HTTP/1.1\r\nHost: x\r\n$hdr\r\n";
    my $sub = { sock => $s, buf => '', events => [] };
    pump($sub, 0.5);
    $sub->{head} = $sub->{raw} // '';
    return $sub;
}

# reads whatever arrived; parses complete SSE events (chunked framing is
# stripped loosely: chunk-size lines are not "field: value")
sub pump {
    my ($sub, $wait) = @_;
    my $deadline = time + $wait;
    while (time < $deadline) {
        my $rin = ''; vec($rin, fileno($sub->{sock}), 1) = 1;
        select($rin, undef, undef, 0.05) or next;
        my $n = sysread($sub->{sock}, $sub->{buf}, 65536, length $sub->{buf});
        last unless $n;
        $sub->{raw} //= $sub->{buf};
    }
    while ($sub->{buf} =~ s/^(.*?)\r?\n\r?\n//s) {
        my $block = $1;
        my %f;
        for (split /\r?\n/, $block) { $f{$1} = $2 if /^(id|event|data): (.*)$/ }
        next unless $f{event};
        $f{json} = eval { decode_json($f{data}) } if $f{data};
        FcfhTest::api_record('event', $f{event}, '', 0, '', $f{data}) if defined $f{data};
        push @{$sub->{events}}, \%f;
    }
}

sub wait_event {
    my ($sub, $pred, $timeout) = @_;
    my $deadline = time + ($timeout // T(5));
    while (time < $deadline) {
        pump($sub, 0.2);
        for (@{$sub->{events}}) { return $_ if $pred->($_) }
    }
    return;
}

my $all = subscribe('');
ok($all, 'subscribed');
like($all->{head}, qr{^HTTP/1\.1 200 .*\r\nContent-Type: text/event-stream\r\n}s,
     'stream open: 200, text/event-stream');
my $G = '00000000-0000-4000-8000-0000000000c1';
my $mine = subscribe("?guid=$G");
my $conn = subscribe('?type=connected');
my ($st) = http_request($port, 'GET', '/events?type=bogus');
is($st, 400, 'unknown type: 400');

# a device connects (to whichever worker), another fails to authenticate
my $d = FcfhApf->connect($t->port(1));
$d->handshake($G, 'admin', 'P@ssw0rd', [16992, 16993], 'ev1.example.test', trigger => 2);
ok($d->{established}, 'device up');

my $e = wait_event($all, sub { $_[0]{event} eq 'connected' && $_[0]{json}{guid} eq $G });
ok($e, 'connected event');
is($e->{json}{fqdn}, 'ev1.example.test', '... with the FQDN');
is($e->{json}{trigger}, 'alert', '... and the trigger');
ok(grep({ $_ == ($e->{json}{worker} // 0) } $t->worker_pids), '... and the worker');
ok($e->{id} && $e->{id} == $e->{json}{id}, '... and an SSE id');

my $bad = FcfhApf->connect($t->port(1));
$bad->handshake('00000000-0000-4000-8000-0000000000c2', 'admin', 'nope', [], '');
$e = wait_event($all, sub { $_[0]{event} eq 'auth_failed' });
ok($e, 'auth_failed event');
is($e->{json}{reason}, 'invalid_credentials', '... with the reason');
is($e->{json}{user}, 'admin', '... the user');
like($e->{json}{peer} // '', qr/^127\.0\.0\.1:\d+$/, '... and the address');

# closed through the API: disconnected, reason api
my ($cs) = http_request($port, 'DELETE', "/api/tunnels/$G");
is($cs, 200, 'closed through the API');
$e = wait_event($all, sub { $_[0]{event} eq 'disconnected' && $_[0]{json}{guid} eq $G });
is($e && $e->{json}{reason}, 'api', 'disconnected event, reason api');

# the filtered subscribers saw only their part
$e = wait_event($mine, sub { $_[0]{event} eq 'disconnected' });
ok($e, 'guid subscriber got the disconnect');
ok(!(grep { ($_->{json}{guid} // '') ne $G } @{$mine->{events}}), 'guid subscriber saw only that device');
pump($conn, 0.3);
ok(@{$conn->{events}} && !(grep { $_->{event} ne 'connected' } @{$conn->{events}}),
   'type subscriber saw only connected events');

# replaced by a newer connection of the same device, and left by the device
my $d2 = FcfhApf->connect($t->port(1));
$d2->handshake($G, 'admin', 'P@ssw0rd', [16992], 'ev1.example.test');
my $d3 = FcfhApf->connect($t->port(1));
$d3->handshake($G, 'admin', 'P@ssw0rd', [16992], 'ev1.example.test');
$e = wait_event($all, sub { $_[0]{event} eq 'disconnected' && ($_[0]{json}{reason} // '') eq 'replaced' });
ok($e, 'disconnected event, reason replaced');
$d3->send(disconnect(11));
$e = wait_event($all, sub { $_[0]{event} eq 'disconnected' && ($_[0]{json}{reason} // '') eq 'device' });
ok($e, 'disconnected event, reason device');

# resume: a new subscriber with Last-Event-ID 0 gets the ring from the start
my $re = subscribe('', 'Last-Event-ID' => 0);
pump($re, 0.5);
my @ids = map { $_->{id} } grep { $_->{id} } @{$re->{events}};
ok(@ids >= 6, 'Last-Event-ID 0 replays the ring (' . scalar(@ids) . ' events)');
is_deeply(\@ids, [sort { $a <=> $b } @ids], '... in order');

# a subscriber that leaves mid-stream, then more events: nothing breaks
close $mine->{sock};
close $conn->{sock};
my $d4 = FcfhApf->connect($t->port(1));
$d4->handshake('00000000-0000-4000-8000-0000000000c4', 'admin', 'P@ssw0rd', [16992], 'ev4.example.test');
ok(wait_event($all, sub { $_[0]{event} eq 'connected' && $_[0]{json}{fqdn} eq 'ev4.example.test' }),
   'events still flow after subscribers left');

# reload with subscribers attached: old workers close them and exit
my @old = $t->worker_pids;
$t->reload;
$d4->close; $d2->close; $d->close; $bad->close;
ok(wait_for(sub { !grep { kill 0, $_ } @old }, T(10)), 'old workers exit despite subscribers');
my $after = subscribe('');
my $d5 = FcfhApf->connect($t->port(1));
$d5->handshake('00000000-0000-4000-8000-0000000000c5', 'admin', 'P@ssw0rd', [16992], 'ev5.example.test');
ok(wait_event($after, sub { $_[0]{event} eq 'connected' && $_[0]{json}{fqdn} eq 'ev5.example.test' }),
   'a subscriber after the reload gets events');
close $all->{sock};
close $after->{sock};
close $re->{sock};

$t->done_testing;
