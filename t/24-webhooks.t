#!/usr/bin/perl
# Webhooks: subscribers added, listed and removed through fcfh_api while
# nginx runs, kept across a restart in fcfh_webhooks_state, events POSTed
# as JSON; a receiver that fails, hangs and recovers gets every event in
# order, with retries and backoff visible in the API, stats and log.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use URI::Escape ();
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $rx = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 16, ReuseAddr => 1) or BAIL_OUT("listen: $!");
my $rport = $rx->sockport;
my $mode = 200;          # 200, 500 or 'hang'
my (@got, @hung);

# serves the receiver for $secs seconds (or until $until->() is true)
sub serve {
    my ($secs, $until) = @_;
    my $deadline = time + $secs;
    my $sel = IO::Select->new($rx);
    while (time < $deadline) {
        return 1 if $until && $until->();
        next unless $sel->can_read(0.1);
        my $c = $rx->accept or next;
        my $req = '';
        my $cs = IO::Select->new($c);
        while ($cs->can_read(2)) {
            my $n = sysread($c, $req, 65536, length $req) or last;
            last if $req =~ /\r\n\r\n/ && $req =~ /Content-Length: (\d+)/i
                    && length($req) >= index($req, "\r\n\r\n") + 4 + $1;
        }
        my ($body) = $req =~ /\r\n\r\n(.*)$/s;
        if ($mode eq 'hang') { push @hung, $c; next }
        if ($mode == 200) {
            push @got, { req => $req, json => eval { decode_json($body // '') } };
        }
        print $c "HTTP/1.1 $mode X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        close $c;
    }
    return $until ? $until->() : 1;
}

my $t = FcfhTest->new;
my $conf = std_config(idle => '120s',
    main => 'fcfh_webhooks_state %%PREFIX%%/webhooks.state;',
    http => 'server { listen 127.0.0.1:%%PORT_3%%; location /api/ { fcfh_api; } }');
$t->write_config($conf);
$t->run;
my $api = $t->port(3);

sub api {
    my ($method, $path) = @_;
    my ($st, $h, $body) = http_request($api, $method, $path);
    return ($st // 0, eval { decode_json($body // '') });
}

my $url = URI::Escape::uri_escape("http://127.0.0.1:$rport/hook");
my ($st, $doc) = api('POST', "/api/webhooks?url=$url");
is($st, 201, 'webhook added: 201');
my $id = $doc->{id};
ok($id, "id $id");

($st, $doc) = api('POST', '/api/webhooks?url=' . URI::Escape::uri_escape('http://example.test/x'));
is($st, 400, 'a host name is refused (no resolver in a worker): 400');
like($doc->{error} // '', qr/IP address/, '... saying why');
($st, $doc) = api('POST', "/api/webhooks?url=$url&events=bogus");
is($st, 400, 'an unknown event type: 400');

($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 1, 'listed');
is($doc->{webhooks}[0]{url}, "http://127.0.0.1:$rport/hook", 'with its url');

# an event is delivered
my $G = '00000000-0000-4000-8000-0000000000b7';
my $d = FcfhApf->connect($t->port(1));
$d->handshake($G, 'admin', 'P@ssw0rd', [16992], 'hook.example.test');
ok(serve(T(5), sub { grep { ($_->{json}{event} // '') eq 'connected' } @got }),
   'connected event POSTed');
my ($ev) = grep { ($_->{json}{event} // '') eq 'connected' } @got;
is($ev->{json}{guid}, $G, '... with the device');
like($ev->{req}, qr{^POST /hook HTTP/1\.1\r\n}, '... as a POST to the path');
like($ev->{req}, qr{Content-Type: application/json}i, '... of JSON');

# the receiver fails, then recovers: the event comes again, nothing lost
$mode = 500;
$d->send(disconnect(11));
serve(T(2.5));
($st, $doc) = api('GET', '/api/webhooks');
cmp_ok($doc->{webhooks}[0]{failures}, '>=', 1, 'failures counted');
like($doc->{webhooks}[0]{last_error} // '', qr/status 500/, 'last error shown');
cmp_ok($doc->{webhooks}[0]{pending}, '>=', 1, 'the event still pending');
ok($t->wait_for_log(qr/webhook $id .* delivery of event \d+ failed: status 500, retry in \d+s/, T(3)),
   'failure logged with the retry delay');

$mode = 200;
ok(serve(T(8), sub { grep { ($_->{json}{event} // '') eq 'disconnected' } @got }),
   'after recovery the disconnected event arrives');
($st, $doc) = api('GET', '/api/webhooks');
is($doc->{webhooks}[0]{pending}, 0, 'nothing pending');

# a receiver that hangs: the delivery times out and is retried
$mode = 'hang';
my $d2 = FcfhApf->connect($t->port(1));
$d2->handshake('00000000-0000-4000-8000-0000000000b8', 'admin', 'P@ssw0rd', [16992], 'hang.example.test');
serve(T(7));
ok($t->wait_for_log(qr/webhook $id .* failed: timed out/, T(3)), 'a hanging receiver times out');
close $_ for @hung;
$mode = 200;
ok(serve(T(10), sub { grep { ($_->{json}{fqdn} // '') eq 'hang.example.test' } @got }),
   'and gets the event once it answers again');

my @ids = map { $_->{json}{id} } grep { $_->{json} } @got;
my %seen;
is(scalar(grep { $seen{$_}++ } @ids), 0, 'no event delivered twice');
is_deeply(\@ids, [sort { $a <=> $b } @ids], 'events in order');

my ($mst, $h, $metrics) = http_request($api, 'GET', '/api/stats');
my $stats = eval { decode_json($metrics) } // {};
cmp_ok($stats->{webhook_failures}, '>=', 2, 'stats: webhook failures');
cmp_ok($stats->{webhook_deliveries}, '>=', 3, 'stats: webhook deliveries');

# kept across a restart (devices leave first: a graceful stop waits for
# them with fcfh_drain off)
FcfhApf::close_all();
$t->stop;
$t->run;
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 1, 'the subscriber survived a restart');
is($doc->{webhooks}[0]{id}, $id, '... with its id');
my $d3 = FcfhApf->connect($t->port(1));
$d3->handshake('00000000-0000-4000-8000-0000000000b9', 'admin', 'P@ssw0rd', [16992], 'again.example.test');
ok(serve(T(5), sub { grep { ($_->{json}{fqdn} // '') eq 'again.example.test' } @got }),
   'and delivers after the restart');

# a burst: 20 devices come and go; every event arrives once, in order
my $before = scalar @got;
my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 20,
                      '--duration', 2, '--reconnect', 0, '--quiet');
ok(serve(T(30), sub { grep({ ($_->{json}{event} // '') eq 'disconnected'
                              && ($_->{json}{fqdn} // '') =~ /^dev\d+\.example\.test$/ } @got) >= 20 }),
   'a burst of 40 events delivered');
my @burst = map { $_->{json}{id} } @got[$before .. $#got];
my %once; $once{$_}++ for @burst;
is(scalar(grep { $once{$_} > 1 } keys %once), 0, 'burst: none twice');
is_deeply(\@burst, [sort { $a <=> $b } @burst], 'burst: in order');

($st) = api('DELETE', "/api/webhooks/$id");
is($st, 200, 'removed');
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 0, 'no subscribers left');
($st) = api('DELETE', "/api/webhooks/$id");
is($st, 404, 'removing again: 404');
FcfhApf::close_all();
$t->stop;
$t->run;
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 0, 'the removal survived a restart too');

$t->done_testing;
