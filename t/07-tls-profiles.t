#!/usr/bin/perl
# TLS profiles: a compat listener for old AMT (TLS 1.0/1.1, AES-CBC-SHA,
# @SECLEVEL=0) and a modern one (TLS 1.2/1.3) that refuses TLS 1.0.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
my $compat_ciphers = 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:'
    . 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA:@SECLEVEL=0';
my $server = "ssl_ciphers $compat_ciphers;";
my $stream = <<'S';
    server {
        listen 127.0.0.1:%%PORT_3%% ssl;
        ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
    }
    server {
        listen 127.0.0.1:%%PORT_4%% ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate %%CERTS%%/server-ecdsa.crt;
        ssl_certificate_key %%CERTS%%/server-ecdsa.key;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
    }
S
$t->write_config(std_config(server => $server, stream => $stream,
                            protocols => 'TLSv1 TLSv1.1 TLSv1.2'));
$t->run;
my ($compat, $modern, $ecdsa, $sport) = ($t->port(1), $t->port(3), $t->port(4), $t->port(2));
my %tls1 = (ssl_version => 'TLSv1', cipher_list => 'DEFAULT:@SECLEVEL=0');

sub tunnel_via {
    my ($port, $guid, %tls) = @_;
    my $c = FcfhApf->connect($port, %tls) or return;
    $c->handshake($guid, 'admin', 'P@ssw0rd', [16993], 'tls.example.test');
    return $c;
}

# --- compat profile ---------------------------------------------------------------

SKIP: {
    my $G = '00000000-0000-4000-8000-00000000f001';
    my $c = tunnel_via($compat, $G, %tls1);
    if (!$c && $FcfhApf::ERROR =~ /no protocols available|unsupported protocol|no ciphers available|version too low/i) {
        skip "local OpenSSL client refuses TLSv1: $FcfhApf::ERROR", 4;
    }
    ok($c && $c->{established}, 'compat: TLSv1 client established') or diag($FcfhApf::ERROR);
    my $doc = wait_status($sport, sub { find_tunnel($_, $G) }, T(3));
    my $e = find_tunnel($doc, $G) // {};
    is($e->{tls_protocol}, 'TLSv1', 'compat: status tls_protocol TLSv1');
    like($e->{tls_cipher} // '', qr/AES(128|256)-SHA$/, "compat: CBC-SHA suite ($e->{tls_cipher})");
    ok($c && $c->ping(1, T(3)), 'compat: keepalive over TLSv1');
    $c->close if $c;
}

my $G2 = '00000000-0000-4000-8000-00000000f002';
my $c12 = tunnel_via($compat, $G2, ssl_version => 'TLSv1_2');
ok($c12 && $c12->{established}, 'compat: TLSv1.2 client established');
my $e = find_tunnel(wait_status($sport, sub { find_tunnel($_, $G2) }, T(3)), $G2) // {};
is($e->{tls_protocol}, 'TLSv1.2', 'compat: status tls_protocol TLSv1.2');
$c12->close if $c12;

my $c13 = FcfhApf->connect($compat, ssl_version => 'TLSv1_3');
ok(!$c13, 'compat: TLSv1.3 not offered');

# --- modern profile ---------------------------------------------------------------

my $old = FcfhApf->connect($modern, %tls1);
ok(!$old, "modern: TLSv1 client refused ($FcfhApf::ERROR)");
$old = FcfhApf->connect($modern, ssl_version => 'TLSv1_1', cipher_list => 'DEFAULT:@SECLEVEL=0');
ok(!$old, 'modern: TLSv1.1 client refused');

my $G3 = '00000000-0000-4000-8000-00000000f003';
my $c3 = tunnel_via($modern, $G3);
ok($c3 && $c3->{established}, 'modern: default client established');
$e = find_tunnel(wait_status($sport, sub { find_tunnel($_, $G3) }, T(3)), $G3) // {};
is($e->{tls_protocol}, 'TLSv1.3', 'modern: status tls_protocol TLSv1.3');
like($e->{tls_cipher} // '', qr/^TLS_(AES|CHACHA)/, 'modern: TLS 1.3 suite');
$c3->close if $c3;

# --- ECDSA server certificate -----------------------------------------------------------

my $G4 = '00000000-0000-4000-8000-00000000f004';
my $c4 = tunnel_via($ecdsa, $G4, ssl_version => 'TLSv1_2', cipher_list => 'ECDHE-ECDSA-AES128-GCM-SHA256');
ok($c4 && $c4->{established}, 'ECDSA server certificate: TLSv1.2 client established');
$e = find_tunnel(wait_status($sport, sub { find_tunnel($_, $G4) }, T(3)), $G4) // {};
is($e->{tls_cipher}, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDSA: status tls_cipher');
$c4->close if $c4;

$t->done_testing;
