#!/usr/bin/perl
# The module linked statically into upstream nginx (make static,
# --add-module): no load_module lines, the same handshake and status.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $bin = repo_dir() . '/build/static/nginx';
plan skip_all => 'no static build (make static)' unless -x $bin;

$FcfhTest::NGINX = $bin;
$FcfhTest::STREAM = 'none';
$FcfhTest::MODULE = 'none';

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2));
my ($out) = $t->nginx_t;
like($out, qr/syntax is ok/, 'static nginx accepts the fcfh directives');
$t->run;

my $guid = '00000000-0000-4000-8000-00000000005a';
my $c = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
$c->handshake($guid, 'admin', 'P@ssw0rd', [16992, 16993], 'static.example.test');
ok($c->{established}, 'handshake with the statically linked module');
my $doc = wait_status($t->port(2), sub { find_tunnel($_, $guid) }, T(3));
is_deeply((find_tunnel($doc, $guid) // {})->{ports}, [16992, 16993],
          'tunnel listed with its ports');
ok($c->ping(5), 'keepalive answered');

$t->done_testing;
