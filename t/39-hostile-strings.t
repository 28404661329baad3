#!/usr/bin/perl
# Hostile strings: devices and consoles put CR, LF, ESC, NUL, quotes,
# backslashes, invalid UTF-8 and 4-byte UTF-8 into every string field they
# have; afterwards the error log holds no raw control byte and no forged
# line, and status, API, SSE, webhook and metrics output all pass strict
# parsers (Python's json with UTF-8 decoding, prometheus_client's text
# parser).
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use URI::Escape qw(uri_escape);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $PY = '/usr/bin/python3';
plan skip_all => 'Debian python3 with prometheus_client needed'
    unless system($PY, '-c', 'import prometheus_client.parser') == 0;

# a webhook receiver on loopback, allowed by fcfh_webhook_allow
my $rx = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                               Listen => 16, ReuseAddr => 1) or BAIL_OUT("listen: $!");
my $rport = $rx->sockport;

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s',
    main => "fcfh_webhook_allow 127.0.0.1 $rport;", stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        fcfh_proxy;
        fcfh_proxy_auth_file %%CERTS%%/devices.htpasswd;
    }',
    server => 'fcfh_alert_receivers 127.0.0.1:9;',
    http => 'server {
        listen 127.0.0.1:%%PORT_5%%;
        location /api/ { fcfh_api; }
        location = /events { fcfh_events; }
        location = /metrics { fcfh_metrics; }
        location = /status { fcfh_status; }
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        location / { fcfh_pass; }
    }'));
$t->run;
# the payload holds "[emerg] forged": a line that merely quotes it is fine
$t->allow_log(qr/forged/);
my ($port, $px, $pxa, $ops, $pass) = map { $t->port($_) } 1, 3, 4, 5, 6;

my $H = "\r\n2026/01/01 00:00:00 [emerg] forged\x1b[2J\x00\"\\\xff\xfe\xc3\xf0\x9f\x98\x80";
my $events = sse_subscribe($ops, '/events');
my ($wst) = http_request($ops, 'POST', "/api/webhooks?url=http://127.0.0.1:$rport/hook");
is($wst, 201, 'a webhook subscriber on loopback');
my $mark = $t->log_mark;

# --- devices -------------------------------------------------------------------

my $g = 0;
sub guid { sprintf '00000000-0000-4000-8000-0000000e%04x', ++$g }

my $u = FcfhApf->connect($port);
$u->handshake(guid(), "adm$H", "pw$H", [16992]);
is($u->expect_disconnect(T(3)), 15, 'a hostile user name is refused');

my $s = FcfhApf->connect($port);
$s->send(protocolversion(guid()), service_request("svc$H"));
ok(defined $s->expect_disconnect(T(3)), 'a hostile service name is refused');

my $d = FcfhApf->connect($port);
$d->handshake(guid(), 'admin', 'P@ssw0rd', [16992, 16993], "name$H");
ok($d->{established}, 'a device naming itself with hostile bytes is served');
$d->send(global_udp("to$H", 162, "from$H", 1, "data$H", 1));
my $m = $d->read_msg(T(3));
is($m && $m->{type}, REQUEST_FAILURE, 'a datagram to a hostile address is refused');
$d->send(channel_open("type$H", 7, 4096, "addr$H", 162, "orig$H", 1));
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_FAILURE, 'a channel of a hostile type is refused');
$d->send(channel_open('direct-tcpip', 8, 4096, "addr$H", 162, "orig$H", 1));
$m = $d->read_msg(T(3));
is($m && $m->{type}, CHANNEL_OPEN_FAILURE, 'a channel to a hostile address is refused');
ok($d->ping(1, T(3)), 'the device is still served');

my $x = FcfhApf->connect($port);
$x->handshake(guid(), 'admin', 'P@ssw0rd', [16992], 'ok.example.test');
$x->send(global_request("req$H", 1, ''));
ok(defined $x->read_msg(T(3)), 'an unknown hostile global request is answered');

# --- consoles --------------------------------------------------------------------

my ($c, $rep, $bytes) = socks5_open($px, "host$H", 16992);
ok(!$c, 'SOCKS5 to a hostile host name is refused')
    or diag(FcfhConsole::hexs($bytes));
($c, $rep) = socks5_open($pxa, 'ok.example.test', 16992, user => "u$H", pass => "p$H");
ok(!$c, 'SOCKS5 with a hostile user is refused');
my ($cc, $st) = connect_open($px, "host$H:16992");
ok(!$cc && defined $st && $st >= 400, "CONNECT to a hostile authority is refused ($st)");
my $raw = IO::Socket::INET->new("127.0.0.1:$pass");
print $raw "GET http://h\xff\xfe.example.test:16992/wsman HTTP/1.1\r\nHost: x\r\n\r\n";
my ($ans) = read_to_eof($raw, T(3), 65536);
like($ans // '', qr{^HTTP/1\.1 [45]\d\d }, 'the HTTP proxy refuses a hostile host');

# nginx itself refuses an encoded NUL in a path before us (in HTML): the
# same without it reaches the API
my $json = 0;
for my $enc (uri_escape("dev$H"), uri_escape("dev\r\n\e[2J\"\\\xff\xfe\xc3\xf0\x9f\x98\x80")) {
    for my $req (['GET', "/api/tunnels/$enc"], ['DELETE', "/api/tunnels/$enc"],
                 ['GET', "/api/tunnels?identity=$enc&fqdn_prefix=$enc"],
                 ['GET', "/status?device=$enc"], ['GET', "/events?fqdn=$enc"]) {
        my ($code, $h, $body) = http_request($ops, @$req, 1);
        ok(defined $code && $code < 500, "$req->[0] $req->[1]: answered ($code)");
        next unless ($h->{'content-type'} // '') =~ /json/;
        strict_json($body, "$req->[0] $req->[1]");
        $json++;
    }
}
ok($json >= 4, "the API answered hostile requests in JSON ($json)");

# --- every output parses -----------------------------------------------------------

sse_wait($events, sub { $_[0]{event} eq 'auth_failed' }, T(3));
sse_pump($events, 1);

sub py_check {
    my ($what, $data, $code) = @_;
    my $f = $t->prefix . "/check.bin";
    open my $fh, '>:raw', $f or die $!;
    print $fh $data;
    close $fh;
    my $out = qx{$PY -c '$code' '$f' 2>&1};
    is($? >> 8, 0, $what) or diag($out);
}

sub strict_json {
    my ($body, $what) = @_;
    py_check("$what: strict UTF-8 JSON", $body // '', <<'PY');
import json, sys
json.loads(open(sys.argv[1], "rb").read().decode("utf-8", "strict"))
PY
}

my ($code, undef, $body) = http_request($ops, 'GET', '/status');
strict_json($body, 'fcfh_status');
($code, undef, $body) = http_request($ops, 'GET', '/api/tunnels');
strict_json($body, 'fcfh_api tunnels');
($code, undef, $body) = http_request($ops, 'GET', '/api/stats');
strict_json($body, 'fcfh_api stats');

ok(scalar @{$events->{events}} >= 2, 'events arrived: ' . scalar @{$events->{events}});
py_check('fcfh_events: every data line is strict UTF-8 JSON', $events->{raw}, <<'PY');
import json, sys
text = open(sys.argv[1], "rb").read().decode("utf-8", "strict")
n = 0
for line in text.split("\n"):
    if line.startswith("data: "):
        json.loads(line[6:])
        n += 1
assert n > 0, "no data lines"
PY

# the webhook bodies: one POST per event
my @hooks;
my $sel = IO::Select->new($rx);
my $deadline = time + T(5);
while (time < $deadline && @hooks < @{$events->{events}}) {
    next unless $sel->can_read(0.2);
    my $c = $rx->accept or next;
    my $req = '';
    while (IO::Select->new($c)->can_read(2)) {
        sysread($c, $req, 65536, length $req) or last;
        last if $req =~ /\r\n\r\n/ && $req =~ /Content-Length: (\d+)/i
                && length($req) >= index($req, "\r\n\r\n") + 4 + $1;
    }
    print $c "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    close $c;
    push @hooks, ($req =~ /\r\n\r\n(.*)$/s)[0] // '';
}
ok(scalar @hooks >= 2, 'webhook POSTs arrived: ' . scalar @hooks);
py_check('webhook bodies: each is strict UTF-8 JSON', join("\n", @hooks), <<'PY');
import json, sys
for line in open(sys.argv[1], "rb").read().decode("utf-8", "strict").split("\n"):
    json.loads(line)
PY

($code, undef, $body) = http_request($ops, 'GET', '/metrics');
is($code, 200, 'metrics: 200');
py_check('fcfh_metrics: the Prometheus text parser takes it', $body, <<'PY');
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(open(sys.argv[1], "rb").read().decode("utf-8", "strict")))
assert len(fams) > 10, len(fams)
PY

my $log = substr($t->error_log, $mark);
ok($log =~ /user "adm\\x0d\\x0a2026/, 'the hostile user was logged, escaped') or diag($log);
ok($log !~ /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control byte in the error log')
    or diag(join "\n", grep { /[\x00-\x08\x0b-\x1f\x7f]/ } split /\n/, $log);
ok(!grep({ !m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[} } split /\n/, $log),
   'every error log line is one nginx began')
    or diag(join "\n", grep { !m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[} } split /\n/, $log);
ok($log !~ /^\S+ \S+ \[emerg\] forged/m, 'no forged line');

close $events->{sock};
$t->done_testing;
