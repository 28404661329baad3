#!/usr/bin/perl
# Authentication: passwords, GUID binding, client-certificate identities,
# TLS rejection of a rogue certificate, htpasswd reload, log hygiene.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
my $C = $t->certs;

# the password file is a per-test copy, rewritten below
my $htpasswd = $t->read_file("$C/devices.htpasswd");
$t->write_file('devices.htpasswd', $htpasswd);

my $stream = <<'S';
    map $ssl_client_s_dn $dev_identity {
        "~CN=amt-device-(?<devno>[0-9]+)"  "device-$devno";
        default                             "";
    }
    map $dev_identity $dev_guids {
        device-1  "00000000-0000-4000-8000-00000000d001";
        device-2  "00000000-0000-4000-8000-00000000d002, 00000000-0000-4000-8000-00000000d003";
        default   "";
    }
    server {
        listen 127.0.0.1:%%PORT_3%% ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_verify_client on;
        ssl_client_certificate %%CERTS%%/ca.crt;
        fcfh_tunnel;
        fcfh_auth_file %%PREFIX%%/devices.htpasswd;
        fcfh_cert_identity $dev_identity;
        fcfh_device_guids $dev_guids;
        fcfh_handshake_timeout 5s;
    }
S
$t->write_config(std_config(auth => '%%PREFIX%%/devices.htpasswd', stream => $stream,
    http => 'server { listen 127.0.0.1:%%PORT_4%%; location = /metrics { fcfh_metrics; } }'));
$t->run;
my ($pw, $mtls, $sport) = ($t->port(1), $t->port(3), $t->port(2));

my $n = 0;
sub guid { sprintf '00000000-0000-4000-8000-%012x', 0xa000 + ++$n }

# Full handshake; returns the client and the messages.
sub attempt {
    my ($port, $guid, $user, $pass, %o) = @_;
    my $c = FcfhApf->connect($port, %{$o{tls} // {}}) or return (undef, []);
    my $got = $c->handshake($guid, $user, $pass, [16992], "$user.example.test", %o);
    return ($c, $got);
}

# Check an auth refusal: USERAUTH_FAILURE("password", 0), DISCONNECT(reason), close.
sub refused {
    my ($name, $reason, $port, $guid, $user, $pass, %o) = @_;
    my ($c, $got) = attempt($port, $guid, $user, $pass, %o);
    ok($c && !$c->{established}, "$name: not established");
    return unless $c;
    my ($f) = grep { $_->{type} == USERAUTH_FAILURE } @$got;
    ok($f, "$name: USERAUTH_FAILURE") or diag(explain $got);
    is($f && $f->{methods}, 'password', "$name: failure lists method password");
    is($f && $f->{partial}, 0, "$name: partial_success 0");
    ok(!grep({ $_->{type} == USERAUTH_SUCCESS } @$got), "$name: no USERAUTH_SUCCESS");
    is($c->expect_disconnect(T(3)), $reason, "$name: DISCONNECT($reason)");
    ok($c->wait_closed(T(3)), "$name: connection closed");
}

# --- passwords -------------------------------------------------------------

my ($c, $got) = attempt($pw, guid(), 'admin', 'P@ssw0rd');
ok($c->{established}, 'admin (apr1 hash) accepted');
$c->close;

my $mark = $t->log_mark;
refused('wrong password', 15, $pw, guid(), 'admin', 'wrong-password');
refused('unknown user', 15, $pw, guid(), 'nobody-here', 'P@ssw0rd');
refused('method none without a certificate', 15, $pw, guid(), 'admin', undef, method => 'none');

# failed-auth log: user and peer, never the password
my $secret = 'S3cr3t-Never-Logged';
my $mc = FcfhApf->connect($pw);
my $mport = $mc->sock->sockport;
$mc->handshake(guid(), 'mallory', $secret, [16992], 'x');
is($mc->expect_disconnect(T(3)), 15, 'mallory refused');
my $line = $t->wait_for_log(qr/mallory/, T(3), $mark);
ok($line, 'failed authentication logged') or diag(substr($t->error_log, $mark));
like($line // '', qr/127\.0\.0\.1/, 'log line names the peer address');
like($line // '', qr/\[(info|notice)\]/, 'logged at info/notice');
unlike($t->error_log, qr/\Q$secret\E/, 'password never logged');
unlike($t->error_log, qr/wrong-password/, 'wrong password never logged');

# --- GUID binding ----------------------------------------------------------

($c, $got) = attempt($pw, '00000000-0000-4000-8000-0000000de001', 'dev1', 'dev1-secret');
ok($c->{established}, 'dev1 ($6$ hash) with its bound GUID accepted');
$c->close;
refused('dev1 with a GUID bound to dev2', 1, $pw,
        '00000000-0000-4000-8000-0000000de002', 'dev1', 'dev1-secret');
refused('dev2 with an unbound GUID', 1, $pw, guid(), 'dev2', 'dev2-secret');

# --- client certificates ---------------------------------------------------

my %dev1 = (cert => "$C/device1.crt", key => "$C/device1.key");
my %dev2 = (cert => "$C/device2.crt", key => "$C/device2.key");

($c, $got) = attempt($mtls, '00000000-0000-4000-8000-00000000d001', 'amt', undef,
                     method => 'none', tls => \%dev1);
ok($c && $c->{established}, 'device1 certificate, method none: accepted')
    or diag(explain $got);
my $doc = wait_status($sport, sub { find_tunnel($_, '00000000-0000-4000-8000-00000000d001') }, T(3));
my $e = find_tunnel($doc, '00000000-0000-4000-8000-00000000d001') // {};
is($e->{identity}, 'device-1', 'identity from the certificate map');
is($e->{auth}, 'certificate', 'auth certificate');

my ($c2, $got2) = attempt($mtls, '00000000-0000-4000-8000-00000000d003', 'amt', 'anything',
                          tls => \%dev2);
ok($c2 && $c2->{established}, 'device2 certificate, method password (unchecked): accepted');
ok(wait_status($sport, sub { my $x = find_tunnel($_, '00000000-0000-4000-8000-00000000d003');
                             $x && $x->{identity} eq 'device-2' }, T(3)),
   'device2 listed with its identity');

refused('device1 certificate with a GUID of device2', 1, $mtls,
        '00000000-0000-4000-8000-00000000d002', 'amt', undef, method => 'none', tls => \%dev1);

# A certificate from outside the CA never reaches APF. With TLS 1.3 the
# client may finish its side before the server's verdict, so accept either
# a failed TLS handshake or a connection closed without any APF reply --
# but only for nginx's reason, the client certificate verification it
# logs: a closed port or a listener that is not this one fails here.
for my $case ([rogue => { cert => "$C/rogue.crt", key => "$C/rogue.key" },
               qr/client SSL certificate verify error: \(\d+:[^)]+\)/],
              ['no certificate' => {},
               qr/client sent no required SSL certificate/]) {
    my ($name, $tls, $why) = @$case;
    my $from = $t->log_mark;
    my $r = FcfhApf->connect($mtls, %$tls);
    if (!$r) {
        like($FcfhApf::ERROR, qr/^tls: /, "$name: TLS handshake refused");
    } else {
        # (sending APF here would make stock nginx 1.22 log SSL_shutdown()
        # "application data after close notify" at [crit]; just wait for
        # the close)
        my $m = $r->read_msg(T(3));
        ok(!$m && $r->eof, "$name: closed right after TLS")
            or diag(explain $m);
    }
    ok($t->wait_for_log($why, T(3), $from),
       "$name: nginx refused the client certificate")
        or diag("connect: $FcfhApf::ERROR\n" . substr($t->error_log, $from));
}

$c->close;
$c2->close;

# --- verification cache -----------------------------------------------------
# A password that passed is known afterwards by its HMAC under a key of
# the worker: no hash function for the next login with it. A wrong
# password always pays the hash and is never a hit.

sub cache_hits {
    my (undef, undef, $b) = http_request($t->port(4), 'GET', '/metrics');
    return $b && $b =~ /^fcfh_auth_cache_hits_total (\d+)$/m ? $1 : -1;
}

my $h0 = cache_hits();
for my $i (1 .. 3) {
    ($c, $got) = attempt($pw, guid(), 'admin', 'P@ssw0rd');
    ok($c && $c->{established}, "login $i of the same user");
    $c->close if $c;
}
my $h1 = cache_hits();
cmp_ok($h1 - $h0, '>=', 2, 'the later logins were known without the hash');
refused('wrong password after good ones', 15, $pw, guid(), 'admin', 'P@ssw0rX');
is(cache_hits(), $h1, 'a wrong password is no cache hit');

# --- htpasswd reload -------------------------------------------------------

my $hash = `openssl passwd -apr1 'N3w-pass'`;
chomp $hash;
(my $new = $htpasswd) =~ s/^admin:[^\n]*/admin:$hash/m;
$t->write_file('devices.htpasswd', $new);
ok($t->reload, 'reload after htpasswd change');

($c, $got) = attempt($pw, guid(), 'admin', 'N3w-pass');
ok($c->{established}, 'new password works after reload') or diag(explain $got);
$c->close;
my $h2 = cache_hits();
refused('old password after reload (its cached success is gone)', 15, $pw,
        guid(), 'admin', 'P@ssw0rd');
is(cache_hits(), $h2, '... and it was no cache hit');
($c, $got) = attempt($pw, '00000000-0000-4000-8000-0000000de002', 'dev2', 'dev2-secret');
ok($c->{established}, 'other users unaffected by the reload');
$c->close;

$t->done_testing;
