#!/usr/bin/perl
# nginx -t leaves nothing of the module's on disk: in a fresh prefix it
# creates exactly what the same nginx creates for the same configuration
# without the module (its pid file, logs and temporary directories) --
# no fcfh_relay_dir.  Starting nginx does create the relay directory,
# mode 0700.
use strict;
use warnings;
use Test::More;
use File::Find;
use FcfhTest qw(:all);

# every path under a prefix, relative to it
sub tree {
    my ($root) = @_;
    my @all;
    find({ no_chdir => 1, wanted => sub {
        push @all, substr($File::Find::name, length $root) if $_ ne $root;
    } }, $root);
    return sort @all;
}

sub nginx_t {
    my ($t) = @_;
    my $p = $t->prefix;
    my @cmd = ($FcfhTest::NGINX, '-t', '-p', "$p/", '-c', "$p/nginx.conf",
               '-e', "$p/nginx-t.err", '-g', "pid $p/nginx-t.pid;");
    my $out = qx{@{[ join ' ', map { FcfhTest::shell_quote($_) } @cmd ]} 2>&1};
    is($? >> 8, 0, 'nginx -t passes') or diag $out;
    unlike($out, qr/runtime error:|Sanitizer/, '... no sanitizer report')
        or diag $out;
    return $out;
}

# the same servers with and without the module
my $servers = '
stream {
    server {
        listen 127.0.0.1:%%PORT_1%%;
        %%STREAM%%
    }
}
http {
    %%HTTP_PATHS%%
    server {
        listen 127.0.0.1:%%PORT_2%%;
        location / { %%HTTP%% }
    }
}
';

my $with = FcfhTest->new;
my $conf = "worker_processes 1;
events { worker_connections 64; }
fcfh_zone 1m;
fcfh_relay_dir relay;
$servers";
$conf =~ s/%%STREAM%%/fcfh_tunnel; fcfh_auth_file %%CERTS%%\/devices.htpasswd;/;
$conf =~ s/%%HTTP%%/fcfh_status;/;
$with->write_config($conf);

# the module-less twin: no load_module line of ours
my $without = FcfhTest->new;
my $plain = "worker_processes 1;
events { worker_connections 64; }
$servers";
$plain =~ s/%%STREAM%%/return "x";/;
$plain =~ s/%%HTTP%%/return 204;/;
my $text = $without->expand(($FcfhTest::STREAM eq 'none' ? ''
                             : "load_module $FcfhTest::STREAM;\n")
                            . ($> == 0 ? "user root root;\n" : '')
                            . "error_log %%PREFIX%%/error.log info;\n"
                            . $plain);
$without->write_file('nginx.conf', $text);

my %made;
for my $t ($with, $without) {
    my @before = tree($t->prefix);
    nginx_t($t);
    my %old = map { $_ => 1 } @before;
    $made{$t} = [ grep { !$old{$_} } tree($t->prefix) ];
}

ok(!-e $with->prefix . '/relay', 'nginx -t made no relay directory');
is_deeply($made{$with}, $made{$without},
          'nginx -t with the module made what nginx makes without it')
    or diag explain { with => $made{$with}, without => $made{$without} };

# the running gateway has it
unlink $with->prefix . "/$_" for qw(nginx-t.pid nginx-t.err);
$with->run;
my $dir = $with->prefix . '/relay';
ok(-d $dir, 'nginx started: relay directory made');
is((stat $dir)[2] & 07777, 0700, '... mode 0700');

$with->done_testing;
