#!/usr/bin/perl
# Every configuration in conf-examples/ passes nginx -t as shipped, with
# only its paths pointed at a scratch tree (certificates, credentials,
# the module), and each TLS profile works when included.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);

my $t = FcfhTest->new;
my $p = $t->prefix;
my $repo = repo_dir();
my $certs = $t->certs;

mkdir "$p/etc";
mkdir "$p/logs";      # the default access_log of an upstream build
mkdir "$p/demo";
mkdir "$p/demo/logs";

sub copy_file {
    my ($from, $to, $mode) = @_;
    open my $in, '<', $from or die "$from: $!";
    local $/;
    my $data = <$in>;
    $t->write_file($to, $data);
    chmod $mode // 0600, $to =~ m{^/} ? $to : "$p/$to";
}

copy_file("$certs/server.crt", 'etc/server.crt', 0644);
copy_file("$certs/server.key", 'etc/server.key');
copy_file("$certs/ca.crt", 'etc/device-ca.crt', 0644);
copy_file("$certs/devices.htpasswd", "etc/$_") for
    qw(devices.htpasswd consoles.htpasswd operators.htpasswd);
copy_file("$repo/conf-examples/tls-modern.conf", 'etc/tls-modern.conf', 0644);
$t->write_file('etc/amt-accounts', "* admin P\@ssw0rd\n");
chmod 0600, "$p/etc/amt-accounts";

sub point {
    my ($text) = @_;
    my $module = $FcfhTest::MODULE eq 'none' ? '' : "load_module $FcfhTest::MODULE;";
    my $stream = $FcfhTest::STREAM eq 'none' ? '' : "load_module $FcfhTest::STREAM;";
    $text =~ s{^load_module\s+\S*ngx_stream_module\.so;.*$}{$stream}m;
    $text =~ s{^load_module\s+\S*ngx_fcfh_module\.so;.*$}{$module}m;
    $text =~ s{/etc/nginx/fcfh/}{$p/etc/}g;
    $text =~ s{/run/nginx-fcfh}{$p/relay}g;
    # nginx -t binds: every listener on a free loopback port
    $text =~ s{^(\s*listen\s+)[^\s;]+}{$1 . '127.0.0.1:' . $t->free_port}gme;
    # commented-out directives are shown enabled too
    $text =~ s{^(\s*)# (fcfh_amt_credentials\s)}{$1$2}m;
    $text = "user root root;\n$text" if $> == 0 && $text !~ /^user\s/m;
    return "error_log $p/nginx-t.err info;\n$text";
}

sub nginx_t_file {
    my ($conf, $prefix) = @_;
    my $own_pid = $t->read_file($conf) =~ /^pid\s/m;
    my $cmd = join ' ', map { FcfhTest::shell_quote($_) }
        $FcfhTest::NGINX, '-t', '-p', "$prefix/", '-c', $conf,
        '-e', "$p/nginx-t.err",
        $own_pid ? () : ('-g', "pid $p/nginx-t.pid;");
    my $out = qx{$cmd 2>&1};
    return ($out, $? >> 8);
}

# nginx -t of one whole configuration: passes, without emerg
sub check_conf {
    my ($name, $conf, $prefix) = @_;
    my ($out, $code) = nginx_t_file($conf, $prefix);
    is($code, 0, "$name: nginx -t passes") or diag $out;
    unlike($out, qr/\[(emerg|alert|crit)\]/, "$name: no emerg") or diag $out;
    unlink "$p/nginx-t.err";
}

opendir my $dh, "$repo/conf-examples" or die;
my @confs = sort grep { /\.conf$/ } readdir $dh;
closedir $dh;

for my $name (@confs) {
    open my $fh, '<', "$repo/conf-examples/$name" or die;
    local $/;
    my $text = <$fh>;
    close $fh;

    next unless $text =~ /^events\s*\{/m;     # a whole configuration

    # quickstart.conf names its files relative to its own directory and
    # the demo prefix; check it in place, as tools/quickstart.sh runs it
    if ($name eq 'quickstart.conf') {
      SKIP: {
            skip "$name: checked only with the module build of this tree", 2
                if $FcfhTest::MODULE ne "$repo/build/ngx_fcfh_module.so";
            # what tools/quickstart.sh prepares
            system("$repo/tools/mkcerts.sh", "$repo/demo/certs") == 0
                or BAIL_OUT('mkcerts.sh failed');
            mkdir "$repo/demo/logs";
            check_conf($name, "$repo/conf-examples/$name", "$repo/demo");
        }
        next;
    }

    check_conf($name, $t->write_file($name, point($text)), $p);
}

# the cluster example: the shared nginx.conf with each node's file
{
    my $cdir = "$repo/conf-examples/cluster";
    open my $fh, '<', "$cdir/nginx.conf" or die;
    local $/;
    my $text = <$fh>;
    close $fh;
    copy_file("$certs/cluster-ca.crt", 'etc/cluster-ca.crt', 0644);
    copy_file("$cdir/redis.auth.example", 'etc/redis.auth');
    copy_file("$certs/devices.htpasswd", 'etc/operators.htpasswd');
    for my $n (1 .. 3) {
        copy_file("$cdir/node$n.conf", 'etc/node.conf', 0644);
        copy_file("$certs/node$n.crt", 'etc/node.crt', 0644);
        copy_file("$certs/node$n.key", 'etc/node.key');
        my $conf = $t->write_file("cluster-node$n.conf", point($text));
        my ($out, $code) = nginx_t_file($conf, $p);
        is($code, 0, "cluster/nginx.conf with node$n.conf: nginx -t passes")
            or diag $out;
        unlike($out, qr/\[(emerg|alert|crit)\]/, '... no emerg') or diag $out;
        unlink "$p/nginx-t.err";
    }
  SKIP: {
        skip 'keepalived not installed', 3 unless -x '/usr/sbin/keepalived';
        for my $n (1 .. 3) {
            my $out = qx{/usr/sbin/keepalived -t -f $cdir/keepalived-node$n.conf 2>&1};
            is($? >> 8, 0, "cluster/keepalived-node$n.conf: keepalived -t passes")
                or diag $out;
        }
    }
}

# each TLS profile, included in a device listener
for my $profile (qw(tls-modern tls-compat)) {
    my $conf = $t->write_file("$profile-check.conf", point(<<"CONF"));
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
load_module /usr/lib/nginx/modules/ngx_fcfh_module.so;
worker_processes 1;
events { worker_connections 64; }
fcfh_zone 1m;
fcfh_relay_dir /run/nginx-fcfh;
stream {
    server {
        listen 127.0.0.1:4433 ssl;
        ssl_certificate /etc/nginx/fcfh/server.crt;
        ssl_certificate_key /etc/nginx/fcfh/server.key;
        include $repo/conf-examples/$profile.conf;
        fcfh_tunnel;
        fcfh_auth_file /etc/nginx/fcfh/devices.htpasswd;
    }
}
CONF
    my ($out, $code) = nginx_t_file($conf, $p);
    is($code, 0, "$profile.conf in a device listener: nginx -t passes") or diag $out;
}

$t->done_testing;
