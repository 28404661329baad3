#!/usr/bin/perl
# Front proxies: PROXY protocol before TLS, and a plain listener behind a
# TLS-terminating proxy.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
my $stream = <<'S';
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
    }
S
# no realip: the module itself reports the PROXY protocol source address
$t->write_config(std_config(listen => 'ssl proxy_protocol', stream => $stream));
$t->run;
my ($pp, $plain, $sport) = ($t->port(1), $t->port(3), $t->port(2));

# --- PROXY v1 then TLS ------------------------------------------------------------

my $G = '00000000-0000-4000-8000-0000000a0001';
my $c = FcfhApf->connect($pp, proxy => "PROXY TCP4 203.0.113.7 127.0.0.1 40123 $pp\r\n")
    or diag($FcfhApf::ERROR);
$c->handshake($G, 'admin', 'P@ssw0rd', [16993], 'pp.example.test') if $c;
ok($c && $c->{established}, 'PROXY protocol + TLS: established');
my $e = find_tunnel(wait_status($sport, sub { find_tunnel($_, $G) }, T(3)), $G) // {};
is($e->{peer}, '203.0.113.7:40123', 'status peer is the address from the PROXY header');
is($e->{tls_protocol}, 'TLSv1.3', 'TLS facts still reported');
$c->close if $c;

# without the PROXY header the listener does not take the connection
my $bad = FcfhApf->connect($pp, timeout => 3);
ok(!$bad || !$bad->ping(1, 1), 'no PROXY header: refused');

# --- plain listener (TLS terminated in front) --------------------------------------

my $G2 = '00000000-0000-4000-8000-0000000a0002';
my $p = FcfhApf->connect($plain, ssl => 0);
my $got = $p->handshake($G2, 'admin', 'P@ssw0rd', [16992, 16993], 'plain.example.test');
ok($p->{established}, 'plain listener: password handshake established') or diag(explain $got);
ok($p->ping(3, T(3)), 'plain listener: keepalive');
$e = find_tunnel(wait_status($sport, sub { find_tunnel($_, $G2) }, T(3)), $G2) // {};
ok(!defined $e->{tls_protocol} || $e->{tls_protocol} eq '', 'plain listener: tls_protocol null/empty');
ok(!defined $e->{tls_cipher} || $e->{tls_cipher} eq '', 'plain listener: tls_cipher null/empty');
is($e->{peer}, '127.0.0.1:' . $p->sock->sockport, 'plain listener: peer');
is($e->{auth}, 'password', 'plain listener: password auth');

# wrong password still refused on the plain listener
my $w = FcfhApf->connect($plain, ssl => 0);
$w->handshake('00000000-0000-4000-8000-0000000a0003', 'admin', 'nope', [16992], 'x');
is($w->expect_disconnect(T(3)), 15, 'plain listener: wrong password DISCONNECT(15)');
$p->close;

$t->done_testing;
