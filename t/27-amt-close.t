#!/usr/bin/perl
# The "amt" close mode of fcfh_api: with fcfh_amt_credentials the gateway
# asks the device over WS-Management (through the tunnel, Digest auth) to
# delete its remote access policy rules and its MPS entry, then closes
# the tunnel, so the device does not come back. A plain close lets the
# device reconnect. Failures leave the tunnel open and say why.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

plan skip_all => 'simulator not built' unless have_sim();

sub guid { sprintf '00000000-0000-4000-8000-%012x', $_[0] }

my $t = FcfhTest->new;

# device 2 has the wrong password on purpose; the rest use the wildcard
$t->write_file('amt.cred', join "\n",
    '# AMT accounts the gateway may use',
    guid(2) . ' admin Wr0ng-Pass',
    '*  admin  P@ssw0rd', '');
chmod 0600, $t->prefix . '/amt.cred';

$t->write_config(std_config(workers => 2, idle => '120s',
    http => 'server {
        listen 127.0.0.1:%%PORT_3%%;
        location /api/ {
            fcfh_api;
            fcfh_amt_credentials %%PREFIX%%/amt.cred;
        }
        location /plain/ { fcfh_api; }
    }'));
$t->run;

my $sport = $t->port(2);
my $aport = $t->port(3);

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 3,
                      '--reconnect', 200, '--verbose');
ok(wait_status($sport, sub { $_->{total} == 3 }, T(10)),
   'three simulated devices up');

sub api {
    my ($method, $path) = @_;
    my ($st, $h, $body) = http_request($aport, $method, $path, T(20));
    my $json = eval { JSON::PP->new->decode($body // '') };
    return ($st // 0, $json, $body // '');
}

sub listed {
    my ($g) = @_;
    my (undef, $doc) = api('GET', "/api/tunnels?guid=$g");
    return $doc && $doc->{total};
}

# 1. the amt mode: policy rules and the MPS entry deleted, tunnel closed,
#    the device stays away

my ($st, $doc, $raw) = api('DELETE', '/api/tunnels/' . guid(1) . '?mode=amt');
is($st, 200, 'mode=amt: 200') or diag $raw;
is($doc && $doc->{mode}, 'amt', '... mode amt');
is($doc && $doc->{policy_rules_deleted}, 3,
   '... three policy rules deleted (pulled in two pages)');
is($doc && $doc->{mps_entries_deleted}, 1, '... the MPS entry deleted');
ok(!listed(guid(1)), '... and the tunnel is gone from the registry');

my $s = $t->sim_stats($sim);
is($s && $s->{cira_deletes}, 4, 'the device saw four WS-Man Deletes');
ok(wait_for(sub { my $x = $t->sim_stats($sim); $x && $x->{cira_removed} == 1 },
            T(5)), 'the device dropped its CIRA configuration');
sleep 1;
ok(!listed(guid(1)), 'and does not reconnect');
ok($t->wait_for_log(qr/CIRA configuration of \Q${\guid(1)}\E removed \(3 policy rules, 1 MPS entries\), tunnel closed/, T(3)),
   'logged with the GUID');

# 2. wrong AMT password: 502 saying so, tunnel left open

($st, $doc, $raw) = api('DELETE', '/api/tunnels/' . guid(2) . '?mode=amt');
is($st, 502, 'wrong AMT password: 502');
is($doc && $doc->{error}, 'the device refused AMT user admin',
   '... saying the device refused the user');
ok(listed(guid(2)), '... and the tunnel stays');
ok($t->wait_for_log(qr/CIRA configuration of \Q${\guid(2)}\E not removed, tunnel left open/, T(3)),
   '... logged');
unlike($t->error_log, qr/P\@ssw0rd|Wr0ng-Pass/, 'no password in the log');

# 3. the plain close: the device comes back by itself

($st, $doc) = api('DELETE', '/api/tunnels/' . guid(3));
is($st, 200, 'plain close: 200');
ok(!defined($doc->{mode}) || $doc->{mode} ne 'amt', '... not the amt mode');
ok(wait_for(sub { listed(guid(3)) }, T(10)), '... and the device reconnects');

# 4. bad requests

($st, $doc) = api('DELETE', '/api/tunnels/' . guid(3) . '?mode=bogus');
is($st, 400, 'unknown mode: 400');
is($doc && $doc->{error}, 'mode is tunnel or amt', '... saying which exist');
($st, $doc) = api('DELETE', '/api/tunnels/' . guid(9) . '?mode=amt');
is($st, 404, 'mode=amt for an unknown device: 404');
($st, $doc) = api('POST', '/plain/tunnels/' . guid(3) . '/close?mode=amt');
is($st, 400, 'mode=amt where no credentials are configured: 400');
like($doc && $doc->{error}, qr/fcfh_amt_credentials/, '... naming the directive');
ok(listed(guid(3)), 'device 3 untouched by the refusals');

# 5. devices that cannot do it: no 16992 forward (409), and a device that
#    answers WS-Management with garbage (502); both tunnels stay

my $d = FcfhApf->connect($t->port(1));
$d->handshake(guid(20), 'admin', 'P@ssw0rd', [16993], 'tls-only.example.test');
($st, $doc) = api('DELETE', '/api/tunnels/' . guid(20) . '?mode=amt');
is($st, 404, 'no 16992 forward while the device registers its ports: 404');
sleep 2.2;
($st, $doc) = api('DELETE', '/api/tunnels/' . guid(20) . '?mode=amt');
is($st, 409, 'no 16992 forward once its forwards settled: 409');
like($doc && $doc->{error}, qr/16992/, '... saying so');

my $e = FcfhApf->connect($t->port(1));
$e->handshake(guid(21), 'admin', 'P@ssw0rd', [16992], 'garbage.example.test');
my $pid = fork // die;
if (!$pid) {
    my ($st2) = api('DELETE', '/api/tunnels/' . guid(21) . '?mode=amt');
    POSIX::_exit($st2 == 502 ? 0 : 1);
}
my $m = $e->read_msg(T(5));
is($m && $m->{type}, CHANNEL_OPEN, 'the gateway opens a channel to 16992');
is($m && $m->{connected_port}, 16992, '... port 16992');
my $gw = $m && $m->{sender};
$e->send(channel_confirm($gw, 5, 65536));
my $req = '';
while ($req !~ /<\/Envelope>/) {
    my $x = $e->read_msg(T(5)) or last;
    $req .= $x->{data} if $x->{type} == CHANNEL_DATA;
}
like($req, qr{^POST /wsman HTTP/1\.1\r\n}, 'a WS-Management POST');
like($req, qr{/enumeration/Enumerate</a:Action>.*AMT_RemoteAccessPolicyRule}s,
     '... Enumerate of the policy rules first');
$e->send(channel_data($gw, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n<x>"));
$e->send(channel_close($gw));
waitpid($pid, 0);
is($? >> 8, 0, 'an answer without an enumeration context: 502');
ok($t->wait_for_log(qr/\Q${\guid(21)}\E not removed, tunnel left open: no enumeration context/, T(3)),
   '... logged with the reason');
ok($e->ping(1, T(3)), '... and that tunnel is fine');

# a device that frames its answer two ways (Content-Length twice): read as
# strictly as fcfh_pass reads it, refused, saying why
$pid = fork // die;
if (!$pid) {
    my ($st2, $doc2) = api('DELETE', '/api/tunnels/' . guid(21) . '?mode=amt');
    POSIX::_exit($st2 == 502 && ($doc2 && $doc2->{error} // '')
                 =~ /^invalid answer to Enumerate AMT_RemoteAccessPolicyRule: more than one Content-Length$/
                 ? 0 : 1);
}
$m = $e->read_msg(T(5));
is($m && $m->{type}, CHANNEL_OPEN, 'again a channel to 16992');
$gw = $m && $m->{sender};
$e->send(channel_confirm($gw, 7, 65536));
$req = '';
while ($req !~ /<\/Envelope>/) {
    my $x = $e->read_msg(T(5)) or last;
    $req .= $x->{data} if $x->{type} == CHANNEL_DATA;
}
$e->send(channel_data($gw, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                         . "Content-Length: 3\r\n\r\n<x>"));
$e->send(channel_close($gw));
waitpid($pid, 0);
is($? >> 8, 0, 'an answer with two lengths: 502 naming the fault');
ok($t->wait_for_log(qr/\Q${\guid(21)}\E not removed, tunnel left open: invalid answer to Enumerate \S+: more than one Content-Length/, T(3)),
   '... logged');
ok($e->ping(3, T(3)), '... and the tunnel is fine');

# an API client that leaves mid-way: the gateway drops its channel, the
# tunnel stays
my $api = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$aport")
    or BAIL_OUT("api: $!");
print $api 'DELETE /api/tunnels/' . guid(21) . "?mode=amt HTTP/1.0\r\n"
         . "Host: x\r\n\r\n";
$m = $e->read_msg(T(5));
is($m && $m->{type}, CHANNEL_OPEN, 'another close: channel opened');
$gw = $m && $m->{sender};
$e->send(channel_confirm($gw, 6, 65536));
close $api;
my $closed;
while (my $x = $e->read_msg(T(5))) {
    if ($x->{type} == CHANNEL_CLOSE) { $closed = $x; last }
}
is($closed && $closed->{recipient}, 6,
   'the API client left: the gateway closes the channel to the device');
$e->send(channel_close($gw));
ok($d->ping(2, T(3)), 'so is the other');
ok(listed(guid(21)) && listed(guid(20)), 'both still listed');
$d->close;
$e->close;

# 6. the credentials file at nginx -t: a bad line is an error, a file
#    others can read a warning

$t->write_file('amt.cred', "* admin\n");
my ($out, $code) = $t->nginx_t;
isnt($code, 0, 'a line without a password: nginx -t fails');
like($out, qr/invalid line 1 in ".*amt\.cred": expected/, '... naming the line');

$t->write_file('amt.cred', "* admin P\@ssw0rd\n");
chmod 0644, $t->prefix . '/amt.cred';
($out, $code) = $t->nginx_t;
is($code, 0, 'a valid file: nginx -t passes');
like($out, qr/\[warn\].*amt\.cred" holds AMT passwords and others can read it/,
     '... with a warning for a file others can read');

# a device credentials file others can read: a warning too
$t->write_file('devices.htpasswd', "admin:\$apr1\$fcfhdumy\$JsQzsVnlPwTYNpQxePHkS/\n");
chmod 0644, $t->prefix . '/devices.htpasswd';
my $conf = $t->read_file('nginx.conf');
$conf =~ s{fcfh_auth_file \S+;}{fcfh_auth_file ${\$t->prefix}/devices.htpasswd;};
$t->write_file('nginx.conf', $conf);
($out, $code) = $t->nginx_t;
is($code, 0, 'nginx -t passes with a world-readable device credentials file');
like($out, qr/\[warn\].*credentials file ".*devices\.htpasswd" is readable by any user/,
     '... with a warning');

$t->stop_sim($sim);
$t->done_testing;
