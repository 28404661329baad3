#!/usr/bin/perl
# The module loads into Debian's nginx; nginx -t accepts a good config and
# rejects the configuration errors the module is responsible for.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);

my $t = FcfhTest->new;

# --- configuration errors, caught by nginx -t ------------------------------

my @bad = (
    [ 'missing fcfh_zone',
      sub { my $c = std_config(); $c =~ s/^fcfh_zone .*$//m; $c },
      qr/"fcfh_tunnel" requires "fcfh_zone"/ ],
    [ 'bad fcfh_zone size',
      sub { std_config(zone => 'lots') },
      qr/fcfh_zone|invalid/ ],
    [ 'fcfh_tunnel twice',
      sub { std_config(server => 'fcfh_tunnel;') },
      qr/"fcfh_tunnel" directive is duplicate/ ],
    [ 'bad fcfh_keepalive value',
      sub { std_config(keepalive => 'often') },
      qr/invalid value|fcfh_keepalive/ ],
    [ 'bad fcfh_idle_timeout value',
      sub { std_config(idle => '-5') },
      qr/invalid value|fcfh_idle_timeout/ ],
    [ 'fcfh_auth_file without a path',
      sub { my $c = std_config(); $c =~ s/fcfh_auth_file [^;]*;/fcfh_auth_file;/; $c },
      qr/invalid number of arguments in "fcfh_auth_file"/ ],
    [ 'fcfh_auth_file names a missing file',
      sub { std_config(auth => '%%PREFIX%%/no-such.htpasswd') },
      qr/no-such\.htpasswd/ ],
    [ 'fcfh_tunnel in http',
      sub { std_config(http => 'server { listen 127.0.0.1:%%PORT_3%%; fcfh_tunnel; }') },
      qr/"fcfh_tunnel" directive is not allowed here/ ],
    [ 'fcfh_max_forwards not a number',
      sub { std_config(server => 'fcfh_max_forwards many;') },
      qr/invalid (number|value)|fcfh_max_forwards/ ],
);

for my $case (@bad) {
    my ($name, $conf, $re) = @$case;
    $t->write_config($conf->());
    my ($out, $st) = $t->nginx_t;
    isnt($st, 0, "nginx -t fails: $name");
    like($out, $re, "nginx -t message: $name") or diag($out);
}

# --- a good config ---------------------------------------------------------

$t->write_config(std_config(keepalive => '30s', server => 'fcfh_max_forwards 8;'));
my ($out, $st) = $t->nginx_t;
is($st, 0, 'nginx -t passes with the module') or diag($out);
like($out, qr/test is successful/, 'nginx -t says successful');

$t->run;
ok(scalar($t->worker_pids) >= 1, 'nginx runs with the module loaded');

my $doc = status_json($t->port(2));
ok($doc, 'status endpoint returns JSON') or diag(explain [http_get($t->port(2), '/status')]);
is($doc->{version}, 2, 'status version 2 (API version 2: paging, snake_case)');
is($doc->{total}, 0, 'no tunnels yet');
is_deeply($doc->{tunnels}, [], 'empty tunnel list');
ok($doc->{zone} && $doc->{zone}{size} > 0, 'zone size reported');

my ($s, $h) = http_get($t->port(2), '/status');
like($h->{'content-type'} // '', qr{application/json}, 'status content type is JSON');

# the module survives a reload with an unchanged config
ok($t->reload, 'reload with the module');
ok(status_json($t->port(2)), 'status after reload');

$t->done_testing;
