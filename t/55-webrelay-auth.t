#!/usr/bin/perl
# Who opens which device through fcfh_webrelay, and AMT's redirection
# password: a token from fcfh_api (behind nginx's own auth_basic) opens
# the device it names, sent as Open AMT's toolkit does (the subprotocol)
# or as MeshCentral's scripts do (auth=); every bad token (none, garbage,
# expired, another device, alg none, HS512, RS256, a changed payload or
# signature, a name this node does not know) gets 401 before the upgrade,
# and no token reaches the logs. With fcfh_amt_credentials the gateway
# answers AMT's Digest: a console with empty credentials (Intel's
# toolkit) or "*" (MeshCentral's) gets SOL to the simulator's echo and
# never sees the password, the realm or the nonce; a wrong stored
# password ends in a clean failure. Without an account for the device,
# the console's own Digest passes through untouched.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha256 hmac_sha512);
use FcfhTest qw(:all);
use FcfhWs;

plan skip_all => 'no simulator (make sim)' unless have_sim();

my $t = FcfhTest->new;

my $G1 = '00000000-0000-4000-8000-000000000001';
my $G2 = '00000000-0000-4000-8000-000000000002';
my $NAME1 = 'dev0.example.test';
my $SECRET = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;
my $PASSWORD = 'P@ssw0rd';

$t->write_file('token.key', "$SECRET\n");
chmod 0640, $t->prefix . '/token.key';
# device 2's line has a wrong password on purpose
$t->write_file('amt.cred', "$G2 admin Wr0ng-Pass\n* admin $PASSWORD\n");
chmod 0600, $t->prefix . '/amt.cred';
$t->write_file('api.htpasswd',
               'operator:' . crypt('0per@tor', '$6$fcfhsalt$') . "\n");

$t->write_config(std_config(workers => 2, http => '
    server {
        listen 127.0.0.1:%%PORT_3%% reuseport;
        fcfh_token_secret %%PREFIX%%/token.key;

        location /mps/api/v1/ {
            auth_basic "operators";
            auth_basic_user_file %%PREFIX%%/api.htpasswd;
            fcfh_api;
        }
        location = /mps/ws/relay/webrelay.ashx {
            fcfh_webrelay;
            fcfh_amt_credentials %%PREFIX%%/amt.cred;
        }
        location = /plain/webrelay.ashx {
            fcfh_webrelay;
            fcfh_token_secret off;
        }
    }'));
$t->run;

my $sport = $t->port(2);
my $wport = $t->port(3);
my $RELAY = '/mps/ws/relay/webrelay.ashx';

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--quiet',
                      '--devices', 2, '--ports', '16992,16994');
ok(wait_status($sport, sub {
       my ($s) = @_;
       2 == grep { my $e = find_tunnel($s, $_); $e && @{$e->{ports} // []} == 2 }
                 $G1, $G2 }, T(10)),
   'two simulated devices up');

# ---- tokens ----------------------------------------------------------------

sub api_token {
    my ($device) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$wport", Timeout => T(5))
        or return;
    print $s "GET /mps/api/v1/authorize/redirection/$device HTTP/1.0\r\n"
           . "Host: localhost\r\nAuthorization: Basic "
           . encode_base64('operator:0per@tor', '') . "\r\n\r\n";
    local $/;
    my $raw = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return unless $head && $head =~ m{^HTTP/1\.\d 200};
    return eval { decode_json($body)->{token} };
}

sub b64url { my $s = encode_base64($_[0], ''); $s =~ tr{+/}{-_}; $s =~ s/=+$//; $s }

# a token made here, signed (or not) as a forger would
sub forged {
    my (%o) = @_;
    my $h = b64url(encode_json($o{header} // { alg => 'HS256', typ => 'JWT' }));
    my $p = b64url(encode_json($o{claims}));
    my $sig = $o{sign} ? b64url($o{sign}->("$h.$p")) : '';
    return "$h.$p.$sig";
}

my $tok1 = api_token($G1);
my $tok2 = api_token($G2);
ok($tok1 && $tok2, 'the API (behind auth_basic) issued a token per device');
my $tok1_by_name = api_token($NAME1);
ok($tok1_by_name, '... and one for a device named by name');

sub q2 {
    my (%q) = (p => 2, host => $G1, port => 16994, tls => 0, tls1only => 0, @_);
    return join '&', map { "$_=$q{$_}" } grep { defined $q{$_} } sort keys %q;
}

my @secrets = ($SECRET, $PASSWORD, grep { defined } $tok1, $tok2, $tok1_by_name);

# ---- 1. bad tokens: 401 before the upgrade ---------------------------------

my $now = time;
my $hs256 = sub { hmac_sha256($_[0], $SECRET) };
my %bad = (
    'no token'        => undef,
    'garbage'         => 'not-a-token',
    'three parts of nothing' => 'a.b.c',
    'expired'         => forged(claims => { deviceId => $G1, exp => $now - 600 },
                                sign => $hs256),
    'another device'  => $tok2,
    'alg none'        => forged(header => { alg => 'none' },
                                claims => { deviceId => $G1, exp => $now + 300 }),
    'HS512 with the secret' => forged(header => { alg => 'HS512', typ => 'JWT' },
                                claims => { deviceId => $G1, exp => $now + 300 },
                                sign => sub { hmac_sha512($_[0], $SECRET) }),
    'RS256 header'    => forged(header => { alg => 'RS256', typ => 'JWT' },
                                claims => { deviceId => $G1, exp => $now + 300 },
                                sign => $hs256),
    'another secret'  => forged(claims => { deviceId => $G1, exp => $now + 300 },
                                sign => sub { hmac_sha256($_[0], 'x' x 40) }),
    'no exp'          => forged(claims => { deviceId => $G1 }, sign => $hs256),
    'no deviceId'     => forged(claims => { exp => $now + 300 }, sign => $hs256),
);
{
    # the payload of device 1 under the signature of device 2's token
    my ($h2, undef, $s2) = split /\./, $tok2 // 'a.b.c';
    my (undef, $p1) = split /\./, forged(claims => { deviceId => $G1,
                                                    exp => $now + 300 });
    $bad{'payload swapped'} = "$h2.$p1.$s2";
    my $t1 = $tok1 // 'a.b.c';
    substr($t1, -3, 1) = substr($t1, -3, 1) eq 'A' ? 'B' : 'A';
    $bad{'signature changed'} = $t1;
}
push @secrets, grep { defined && length > 8 } values %bad;

for my $what (sort keys %bad) {
    my $tok = $bad{$what};
    for my $how ('subprotocol', 'auth=') {
        my ($path, %o) = ("$RELAY?" . q2(mode => 'sol'));
        if (defined $tok && $how eq 'auth=') { $path .= "&auth=$tok" }
        elsif (defined $tok) { $o{protocol} = $tok }
        elsif ($how eq 'auth=') { next }
        my ($ws, $st, $h, $body) = FcfhWs->connect($wport, $path, %o);
        ok(!$ws && $st == 401, "$what ($how): 401, not upgraded")
            or diag("status $st $body");
        like($body, qr/^\{"error":"[^"]+"\}/, "$what ($how): JSON reason");
        like($h->{'www-authenticate'} // '', qr/^Bearer/,
             "$what ($how): WWW-Authenticate: Bearer");
    }
}

{
    my ($ws, $st, $h, $body) = FcfhWs->connect($wport, "$RELAY?" . q2(),
                                               protocol => $bad{expired});
    like($body, qr/"error":"token expired"/, 'the reason is given: expired');
    ($ws, $st, $h, $body) = FcfhWs->connect($wport, "$RELAY?" . q2(),
                                            protocol => $tok2);
    like($body, qr/"error":"token is for another device"/,
         '... for another device');
    ($ws, $st, $h, $body) = FcfhWs->connect($wport, "$RELAY?" . q2(),
                                            protocol => $bad{'alg none'});
    like($body, qr/"error":"unsigned token \(alg none\)"/, '... alg none');
    ($ws, $st, $h, $body) = FcfhWs->connect(
        $wport, "$RELAY?" . q2(host => 'nobody.example.test'), protocol => $tok1);
    is($st, 401, 'a name this node does not know: 401');
    like($body, qr/by its GUID/, '... asking for the GUID');
}

ok($t->wait_for_log(qr/console token for \Q$G1\E refused: token expired/, T(3)),
   'refusals are logged with the device and the reason');

# ---- 2. a good token: the toolkit's empty credentials, gateway's Digest -----

# the console's side of the toolkit's flow; returns what it saw
sub toolkit_session {
    my ($ws, $user, $uri) = @_;
    my %r = (seen => '');
    my $read = sub { my $d = $ws->read_data($_[0], T(5)); $r{seen} .= $d; $d };
    $ws->send_binary("\x10\x00\x00\x00SOL ");
    $r{start} = $read->(13);
    $ws->send_binary("\x13\x00\x00\x00\x00" . pack('V', 0));
    my $h = $read->(9);
    $r{methods} = length $h == 9 ? $read->(unpack 'V', substr $h, 5, 4) : '';
    my $d = join '', map { chr(length $_) . $_ } $user, '', '', $uri, '', '', '', '';
    $ws->send_binary("\x13\x00\x00\x00\x04" . pack('V', length $d) . $d);
    $h = $read->(9);
    $r{auth} = $h;
    $r{auth} .= $read->(unpack 'V', substr $h, 5, 4) if length $h == 9;
    return \%r;
}

sub sol_up {
    my ($ws, $r) = @_;
    $ws->send_binary("\x20\x00\x00\x00" . pack('V', 1)
                     . pack('v6', 10000, 100, 0, 10000, 100, 0) . pack('V', 0));
    my $reply = $ws->read_data(23, T(5));
    $r->{seen} .= $reply;
    return length $reply == 23 && ord($reply) == 0x21 && ord(substr $reply, 1) == 0;
}

{
    my ($ws, $st, $h) = FcfhWs->connect($wport, "$RELAY?" . q2(mode => 'sol'),
                                        protocol => $tok1);
    ok($ws, 'a token for the device in the subprotocol: upgraded')
        or diag("status $st");
    is($h->{'sec-websocket-protocol'}, $tok1, '... the subprotocol echoed');

    my $r = toolkit_session($ws, '', '');
    is(length $r->{start}, 13, 'the start reply comes through');
    is($r->{methods}, "\x04", 'the console is offered digest (4) only');
    is($r->{auth}, "\x14\x00\x00\x00\x04\x00\x00\x00\x00",
       'empty credentials: the next answer is success, no challenge');
    ok(sol_up($ws, $r), 'SOL settings accepted: the gateway authenticated');
    $ws->sol_send("hi there\r");
    my $echo = $ws->sol_read(9, T(5));
    is($echo, "hi there\r", 'SOL reaches the simulator and its echo comes back');
    $r->{seen} .= $echo;
    unlike($r->{seen}, qr/\Q$PASSWORD\E/, 'the console never saw the password');
    unlike($r->{seen}, qr/Digest:|auth/, '... nor the realm or the qop');
    ok(!grep({ /^\x14\x01/ } $r->{auth}), '... nor a challenge');
    $ws->send_close(1000, 'bye');
    $ws->expect_close(T(5));
    $ws->wait_eof(T(5));
}

ok($t->wait_for_log(qr/redirection session "SOL " to "\Q$G1\E" authenticated by the gateway as AMT user "admin"/, T(3)),
   'the gateway logs that it authenticated, with the AMT user');
ok($t->wait_for_log(qr/console session opened: device \Q$G1\E .* via websocket from .*, user "operator"/, T(3)),
   'the audit names the token\'s user (its sub) as the console user');

# MeshCentral's way: the token as auth=, user "*", the URI, no mode; and the
# device named by name with a token issued for that name
{
    my ($ws, $st) = FcfhWs->connect($wport, "$RELAY?" . q2(host => $NAME1)
                                    . "&auth=$tok1_by_name");
    ok($ws, 'a token as auth=, the device by name: upgraded')
        or diag("status $st");
    my $r = $ws ? toolkit_session($ws, '*', '/RedirectionService') : {};
    is($r->{auth}, "\x14\x00\x00\x00\x04\x00\x00\x00\x00",
       'user "*": success from the gateway');
    ok($ws && sol_up($ws, $r), '... and SOL starts');
    $ws->close if $ws;
}

# a wrong stored password: the console gets a refusal it will not take
# for a challenge, then a close frame saying why
{
    my ($ws, $st) = FcfhWs->connect($wport, "$RELAY?" . q2(host => $G2, mode => 'sol'),
                                    protocol => $tok2);
    ok($ws, 'device 2 (wrong stored password): upgraded') or diag("status $st");
    my $r = $ws ? toolkit_session($ws, '', '') : {};
    is($r->{auth}, "\x14\x01\x00\x00\x00\x00\x00\x00\x00",
       'AMT refused: status 1 for method 0, no data');
    my ($code, $reason) = $ws ? $ws->expect_close(T(5)) : ();
    is($code, 1008, '... then close 1008');
    like($reason // '', qr/AMT refused the gateway's redirection credentials/,
         '... saying why');
    unlike($r->{seen} // '', qr/Wr0ng|\Q$PASSWORD\E/, '... and no password shown');
}

ok($t->wait_for_log(qr/redirection authentication with "\Q$G2\E" failed: AMT refused/, T(3)),
   'the failure is logged');

# ---- 3. no account for the device, no secret: the console's own Digest -----

{
    my ($ws, $st) = FcfhWs->connect($wport, '/plain/webrelay.ashx?' . q2(mode => 'sol'));
    ok($ws, 'no fcfh_token_secret: upgraded without a token') or diag("status $st");
    ok($ws && $ws->sol_login('admin', $PASSWORD, T(5)),
       "the console's own Digest passes through untouched")
        or diag($ws && $ws->{sol_error});
    $ws->sol_send("echo\r") if $ws;
    is($ws ? $ws->sol_read(5, T(5)) : '', "echo\r", '... SOL echo');
    $ws->close if $ws;

    # one SOL session per device (fcfh_webrelay_sessions): the one just
    # closed is released when the gateway has seen its close
    wait_for(sub {
        ($ws, $st) = FcfhWs->connect($wport, '/plain/webrelay.ashx?' . q2(mode => 'sol'));
        $ws || $st != 409;
    }, T(5));
    ok($ws && !$ws->sol_login('admin', 'not-the-password', T(5)),
       'a wrong password of the console is AMT\'s to refuse');
    is($ws && $ws->{sol_error}, 'digest refused', '... AMT refused it');
    $ws->close if $ws;
}

# ---- 4. logs ---------------------------------------------------------------

# a last request so that the access log has the auth= line
FcfhWs->connect($wport, "$RELAY?" . q2() . "&auth=$bad{expired}");

# the devices leave first: a tunnel is no session for a graceful stop
$t->stop_sim($sim);
ok(wait_status($sport, sub { $_[0]{total} == 0 }, T(5)),
   'the devices are gone');
$t->stop;
my $access = $t->read_file('access.log');
like($access, qr/"GET \Q$RELAY\E\?[^"]*auth=- HTTP\/1\.1" 401/,
     'the access log shows auth=-');
my $error = $t->error_log;
my $leaks = 0;
for my $s (@secrets) {
    for my $log ($error, $access) { $leaks++ if index($log, $s) >= 0 }
}
is($leaks, 0, 'no token, secret or password in the error or access log');

$t->done_testing;
