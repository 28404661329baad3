#!/usr/bin/perl
# The HTTP proxy for WS-Management (fcfh_pass): absolute-form requests into
# a channel, Digest end to end, keep-alive channel reuse, chunked device
# responses, each documented error, console access control (allow/deny,
# fcfh_pass_auth_file, auth_request), with 4 workers so routes cross.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 4,
    server => 'fcfh_max_channels 2;',
    http => '
    map $http_proxy_authorization $fcfh_console_ok {
        "Basic Y29uc29sZTpzM2NyZXQ="  1;
        default                        0;
    }
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location / { fcfh_pass; }
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        location / {
            fcfh_pass_auth_file %%CERTS%%/devices.htpasswd;
            fcfh_pass;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_5%%;
        location / {
            deny all;
            fcfh_pass;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        location / {
            auth_request /_console_auth;
            fcfh_pass;
        }
        location = /_console_auth {
            internal;
            if ($fcfh_console_ok = 0) { return 403; }
            return 204;
        }
    }'));
$t->run;

my $sport = $t->port(2);
my $px = '127.0.0.1:' . $t->port(3);
my $repo = repo_dir();
my $identify = "$repo/sim/identify.xml";
my $get = "$repo/sim/get-general-settings.xml";
my $ct = "-H 'Content-Type: application/soap+xml;charset=UTF-8'";

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 4,
                      '--quiet');
ok(wait_status($sport, sub { $_->{total} == 4 }, T(10)),
   'four simulated devices up');

sub curl {
    my $out = `curl -s -m 15 -w '\\n%{http_code}' @_ 2>&1`;
    my ($body, $code) = $out =~ /^(.*)\n(\d+)$/s;
    return ($code // 0, $body // '');
}

sub guid { sprintf '00000000-0000-4000-8000-%012x', $_[0] }

# --- WS-Management through the proxy, every device (most cross workers) ----

for my $i (1 .. 4) {
    my ($code, $body) = curl('-x', $px, $ct, '--data-binary', "\@$identify",
                             'http://' . guid($i) . ':16992/wsman');
    is($code, 200, "device $i by GUID: Identify 200");
    like($body, qr/IdentifyResponse/, "device $i: IdentifyResponse");

    ($code, $body) = curl('-x', $px, $ct, '--digest', '-u', "'admin:P\@ssw0rd'",
                          '--data-binary', "\@$get",
                          'http://dev' . ($i - 1) . '.example.test:16992/wsman');
    is($code, 200, "device $i by FQDN: digest Get 200");
    like($body, qr/HostName>dev${\($i - 1)}</, "device $i: its own GeneralSettings");
}

# --- keep-alive: one console connection, one channel ------------------------

my $before = $t->sim_stats($sim);
my $url = 'http://' . guid(2) . ':16992/wsman';
my $out = `curl -s -m 20 -x $px $ct --digest -u 'admin:P\@ssw0rd' --data-binary \@$get $url $url $url $url $url 2>&1`;
my @hosts = $out =~ /HostName>dev1</g;
is(scalar @hosts, 5, 'five digest requests on one keep-alive connection');
my $after = $t->sim_stats($sim);
is($after->{channels_opened} - $before->{channels_opened}, 1,
   'keep-alive console connection used one channel');
is($after->{http_requests} - $before->{http_requests}, 10,
   'ten HTTP requests (challenge + answer each) over it');

# Python requests, HTTP proxy and Digest
my $py = `/usr/bin/python3 - <<'PY' 2>&1
import requests
from requests.auth import HTTPDigestAuth
s = requests.Session()
s.proxies = {"http": "http://$px"}
r = s.post("http://${\ guid(3)}:16992/wsman", data=open("$get", "rb").read(),
           headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
           auth=HTTPDigestAuth("admin", "P\@ssw0rd"), timeout=15)
print(r.status_code, "dev2" in r.text)
PY`;
like($py, qr/^200 True/m, 'Python requests through the HTTP proxy with Digest')
    or diag($py);

# --- errors -----------------------------------------------------------------

sub raw {
    my ($port, $req) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or return;
    print $s $req;
    return $s;
}

sub response {
    my ($s, $timeout) = @_;
    my $buf = '';
    my $deadline = time + ($timeout // T(10));
    while (time < $deadline) {
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        select($rin, undef, undef, 0.1) or next;
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
        last if $buf =~ /\r\n\r\n/ && $buf =~ /Content-Length: (\d+)/i
                && length($buf) >= index($buf, "\r\n\r\n") + 4 + $1;
    }
    my ($st) = $buf =~ m{^HTTP/1\.\d (\d+)};
    return ($st // 0, $buf);
}

my ($st, $r);
($st, $r) = response(raw($t->port(3), "GET /wsman HTTP/1.1\r\nHost: x\r\n\r\n"));
is($st, 400, 'origin-form request: 400');
like($r, qr/absolute-form/, '... saying an absolute-form request is expected');

($st, $r) = response(raw($t->port(3), "GET http://nosuch.example.test:16992/wsman HTTP/1.1\r\nHost: x\r\n\r\n"));
is($st, 404, 'unknown device: 404');
like($r, qr/unknown device/, '... unknown device');

($st, $r) = response(raw($t->port(3), 'GET http://' . guid(1) . ":16994/ HTTP/1.1\r\nHost: x\r\n\r\n"));
is($st, 403, 'port outside fcfh_pass_ports: 403');
like($r, qr/port not allowed/, '... port not allowed');

($st, $r) = response(raw($t->port(3), "GET http://192.0.2.1:16992/ HTTP/1.1\r\nHost: x\r\n\r\n"));
is($st, 404, 'IP literal target: 404');

# a scripted device: forwards 16992 only, refuses channels, answers chunked
my $G = '00000000-0000-4000-8000-0000000000d1';
my $dev = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$dev->handshake($G, 'admin', 'P@ssw0rd', [16992, 16993], 'scripted.example.test');
ok($dev->{established}, 'scripted device up');
wait_status($sport, sub { find_tunnel($_, $G) }, T(5));

sub next_open {
    my ($d) = @_;
    while (my $m = $d->read_msg(T(10))) {
        return $m if $m->{type} == CHANNEL_OPEN;
    }
    return;
}

# device refuses
my $s = raw($t->port(3), "GET http://$G:16992/wsman HTTP/1.1\r\nHost: x\r\n\r\n");
my $m = next_open($dev);
ok($m, 'channel open reaches the device');
$dev->send(channel_failure($m->{sender}, 2)) if $m;
($st, $r) = response($s);
is($st, 502, 'device refused the channel: 502');
like($r, qr/device refused the channel/, '... saying so');

# chunked response, then the same connection again: one channel
$s = raw($t->port(3), "POST http://$G:16992/wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nAuthorization: Digest username=\"admin\"\r\n\r\nabcd");
$m = next_open($dev);
ok($m, 'second channel open');
my $ch = $m ? $m->{sender} : 0;
$dev->send(channel_confirm($ch, 77, 65536));
my $req = '';
while (my $x = $dev->read_msg(T(5))) {
    $req .= $x->{data} if $x->{type} == CHANNEL_DATA;
    last if $req =~ /\r\n\r\nabcd$/;
}
like($req, qr{^POST /wsman HTTP/1\.1\r\n}, 'device sees an origin-form request line');
like($req, qr{\r\nAuthorization: Digest username="admin"\r\n}, 'Authorization passed untouched');
like($req, qr{\r\nContent-Length: 4\r\n}, 'body framed by Content-Length');
unlike($req, qr{Proxy-Connection|Transfer-Encoding}i, 'hop-by-hop headers dropped');
$dev->send(channel_data($ch, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
           channel_data($ch, "6\r\n world\r\n0\r\n\r\n"));
($st, $r) = response($s, T(3));
is($st, 200, 'chunked device response: 200');
my ($body) = $r =~ /\r\n\r\n(.*)$/s;
like($body // '', qr/hello.* world/s, 'chunked body relayed');

print $s "GET http://$G:16992/again HTTP/1.1\r\nHost: x\r\n\r\n";
my $again = '';
my $opened_again = 0;
while (my $x = $dev->read_msg(T(5))) {
    $opened_again = 1 if $x->{type} == CHANNEL_OPEN;
    $again .= $x->{data} if $x->{type} == CHANNEL_DATA;
    last if $again =~ /\r\n\r\n/;
}
ok(!$opened_again, 'the next request reuses the channel');
like($again, qr{^GET /again HTTP/1\.1}, 'next request arrives on it');
$dev->send(channel_data($ch, "HTTP/1.1 204 No Content\r\n\r\n"));
($st, $r) = response($s, T(3));
is($st, 204, 'second response on the kept channel');
close $s;
my $closed = 0;
while (my $x = $dev->read_msg(T(5))) {
    if ($x->{type} == CHANNEL_CLOSE && $x->{recipient} == 77) { $closed = 1; last }
}
ok($closed, 'console gone: the kept channel is closed toward the device');
$dev->send(channel_close($ch)) if $closed;

# too many channels: fcfh_max_channels 2, two held open
my (@hold, %gw_id);
sub ch_of { $gw_id{$_[0]} }
for my $n (1 .. 2) {
    my $h = raw($t->port(3), "GET http://$G:16992/h$n HTTP/1.1\r\nHost: x\r\n\r\n");
    my $o = next_open($dev);
    if ($o) {
        $dev->send(channel_confirm($o->{sender}, 100 + $n, 65536));
        $gw_id{100 + $n} = $o->{sender};
    }
    push @hold, $h;
}
$s = raw($t->port(3), "GET http://$G:16992/third HTTP/1.1\r\nHost: x\r\n\r\n");
($st, $r) = response($s);
is($st, 503, 'too many channels to the device: 503');
close $_ for @hold, $s;

# the device acknowledges the closes: our channel ids are free again
my $acked = 0;
while ($acked < 2 and my $x = $dev->read_msg(T(5))) {
    next unless $x->{type} == CHANNEL_CLOSE;
    $dev->send(channel_close(ch_of($x->{recipient})));
    $acked++;
}
is($acked, 2, 'console hang-ups close both held channels');

# port registered by nobody: a device forwarding 16993 only is asked 16992
$s = raw($t->port(3), "GET http://$G:16992/x HTTP/1.1\r\nHost: x\r\n\r\n");
$dev->close;
($st, $r) = response($s);
ok($st == 404 || $st == 502 || $st == 0,
   "device gone while the request waits: $st, no hang");

# --- console access control ---------------------------------------------------

my $g1 = guid(1);
my ($code, $b2) = curl('-x', '127.0.0.1:' . $t->port(4), $ct, '--data-binary',
                       "\@$identify", "http://$g1:16992/wsman");
is($code, 407, 'fcfh_pass_auth_file without credentials: 407');
my $s0 = $t->sim_stats($sim);
($code, $b2) = curl('-x', '127.0.0.1:' . $t->port(4), '--proxy-user', "'admin:wrong'",
                    $ct, '--data-binary', "\@$identify", "http://$g1:16992/wsman");
is($code, 407, 'wrong console password: 407');
is($t->sim_stats($sim)->{channels_opened}, $s0->{channels_opened},
   'a refused console never reaches the device');
($code, $b2) = curl('-x', '127.0.0.1:' . $t->port(4), '--proxy-user', "'admin:P\@ssw0rd'",
                    $ct, '--digest', '-u', "'admin:P\@ssw0rd'", '--data-binary', "\@$get",
                    "http://$g1:16992/wsman");
is($code, 200, 'console credentials and device Digest together: 200');
like($b2, qr/HostName>dev0</, '... with the device answer');

($code) = curl('-x', '127.0.0.1:' . $t->port(5), "http://$g1:16992/wsman");
is($code, 403, 'deny all: 403');

($code) = curl('-x', '127.0.0.1:' . $t->port(6), $ct, '--data-binary', "\@$identify",
               "http://$g1:16992/wsman");
is($code, 403, 'auth_request without Proxy-Authorization: 403');
($code) = curl('-x', '127.0.0.1:' . $t->port(6), '--proxy-user', 'console:s3cret', $ct,
               '--data-binary', "\@$identify", "http://$g1:16992/wsman");
is($code, 200, 'auth_request with the console credential: 200');

$t->done_testing;
