#!/usr/bin/perl
# Every configuration in conf-examples/ passes nginx -t as shipped, with
# only its paths pointed at a scratch tree (certificates, credentials,
# the module), without a warning (in particular none of the exposure
# warnings of t/61: every front door and operators' endpoint is
# protected), and each TLS profile works when included.  The examples
# also hold what an operator copying them needs: an error_log level that
# shows tunnel and authentication lines, access logs with the $fcfh_*
# variables, the modern TLS profile unless the file says why not, and no
# credentials written in them.
#
# nginx -t binds every listener: with root it runs in a network namespace
# of its own (FcfhTest::netns_cmd) where the examples' addresses exist on
# loopback, so their listen lines are checked as written; without, they
# are moved to free loopback ports and the warnings are not checked.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);

my $t = FcfhTest->new;
my $p = $t->prefix;
my $repo = repo_dir();
my $certs = $t->certs;

mkdir "$p/etc";
mkdir "$p/logs";      # the default access_log of an upstream build, and
                      # the examples' /var/log/nginx/
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
$t->write_file('etc/token.key', ('0123456789abcdef' x 4) . "\n");
chmod 0640, "$p/etc/token.key";

# the addresses of other hosts the examples listen on, present in the
# namespace
my @ADDRS = ('10.0.0.5/32', '10.1.0.5/32');
my $NETNS = netns_cmd(\@ADDRS, 'true') ? 1 : 0;
diag('no network namespace (needs root): listeners moved to loopback, '
     . 'warnings not checked') unless $NETNS;

sub point {
    my ($text) = @_;
    my $module = $FcfhTest::MODULE eq 'none' ? '' : "load_module $FcfhTest::MODULE;";
    my $stream = $FcfhTest::STREAM eq 'none' ? '' : "load_module $FcfhTest::STREAM;";
    $text =~ s{^load_module\s+\S*ngx_stream_module\.so;.*$}{$stream}m;
    $text =~ s{^load_module\s+\S*ngx_fcfh_module\.so;.*$}{$module}m;
    $text =~ s{/etc/nginx/fcfh/}{$p/etc/}g;
    $text =~ s{/run/nginx-fcfh}{$p/relay}g;
    $text =~ s{/var/log/nginx/}{$p/logs/}g;
    # nginx -t binds: without a namespace, every listener on a free
    # loopback port
    $text =~ s{^(\s*listen\s+)[^\s;]+}{$1 . '127.0.0.1:' . $t->free_port}gme
        unless $NETNS;
    # commented-out directives are shown enabled too
    $text =~ s{^(\s*)# (fcfh_amt_credentials\s)}{$1$2}m;
    $text = "user root root;\n$text" if $> == 0 && $text !~ /^user\s/m;
    return "error_log $p/nginx-t.err info;\n$text";
}

sub nginx_t_file {
    my ($conf, $prefix) = @_;
    my $own_pid = $t->read_file($conf) =~ /^pid\s/m;
    my @cmd = ($FcfhTest::NGINX, '-t', '-p', "$prefix/", '-c', $conf,
               '-e', "$p/nginx-t.err",
               $own_pid ? () : ('-g', "pid $p/nginx-t.pid;"));
    @cmd = netns_cmd(\@ADDRS, @cmd) if $NETNS;
    my $out = qx{@{[ join ' ', map { FcfhTest::shell_quote($_) } @cmd ]} 2>&1};
    return ($out, $? >> 8);
}

# nginx -t of one whole configuration: passes, without emerg, and (in a
# namespace, where its listeners are its own) without a warning
sub check_conf {
    my ($name, $conf, $prefix) = @_;
    my ($out, $code) = nginx_t_file($conf, $prefix);
    is($code, 0, "$name: nginx -t passes") or diag $out;
    unlike($out, qr/\[(emerg|alert|crit)\]|runtime error:|Sanitizer/,
           "$name: no emerg, no sanitizer report") or diag $out;
  SKIP: {
        skip "$name: listeners moved, warnings not checked", 1 unless $NETNS;
        unlike($out, qr/\[warn\]/, "$name: no warning") or diag $out;
    }
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
            skip "$name: checked only with the module build of this tree", 3
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
        check_conf("cluster/nginx.conf with node$n.conf", $conf, $p);
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

# ---- what an operator copying an example gets ------------------------------

# The statements of an nginx configuration with the blocks they are in:
# [ [ statement words ], [ enclosing block heads, outermost first ] ].
sub statements {
    my ($text) = @_;
    $text =~ s/#[^\n]*//g;
    my (@out, @stack, $cur);
    $cur = '';
    for my $tok (split /([{};])/, $text) {
        if ($tok eq '{') {
            push @stack, [ split ' ', $cur ];
            $cur = '';
        } elsif ($tok eq '}') {
            pop @stack;
            $cur = '';
        } elsif ($tok eq ';') {
            push @out, [ [ split ' ', $cur ], [ @stack ] ] if $cur =~ /\S/;
            $cur = '';
        } else {
            $cur .= $tok;
        }
    }
    return @out;
}

# the protection statements of a block, by the block's head
sub protected_in {
    my ($all, $head) = @_;
    return grep {
        my ($w, $in) = @$_;
        @$in && $in->[-1] == $head
            && (($w->[0] eq 'deny' && ($w->[1] // '') eq 'all')
                || ($w->[0] =~ /^auth_(basic|request)$/ && ($w->[1] // '') ne 'off')
                || $w->[0] =~ /^fcfh_(pass|proxy)_auth_file$/)
    } @$all;
}

my %whole;      # name => text of each whole nginx configuration
for my $name (@confs, 'cluster/nginx.conf') {
    my $text = $t->read_file("$repo/conf-examples/$name");
    $whole{$name} = $text if $text =~ /^events\s*\{/m;
}

for my $name (sort keys %whole) {
    my $text = $whole{$name};
    my @all = statements($text);

    # tunnel and authentication lines are at notice
    ok((grep { $_->[0][0] eq 'error_log' && !@{$_->[1]}
               && ($_->[0][2] // 'error') =~ /^(notice|info|debug)$/ } @all),
       "$name: a main error_log at notice or below");

    # devices are logged with the module's variables
    my %fcfh_formats = map { $_->[0][1] => 1 }
        grep { $_->[0][0] eq 'log_format' && "@{$_->[0]}" =~ /\$fcfh_guid/ } @all;
    ok((grep { $_->[0][0] eq 'access_log' && $fcfh_formats{$_->[0][2] // ''} } @all),
       "$name: a stream access_log with the \$fcfh_* variables");

    # the modern profile, or a comment saying why not
    for my $inc (grep { $_->[0][0] eq 'include' && $_->[0][1] =~ /tls-/ } @all) {
        next if $inc->[0][1] =~ /tls-modern\.conf$/;
        like($text, qr/#.*AMT 11.*\n(?:\s*#.*\n)*\s*include\s+\S*\Q$inc->[0][1]\E/,
             "$name: $inc->[0][1] with a comment saying why");
    }

    # every console front door and operators' endpoint has rules or
    # authentication, in its block or one around it, even on loopback
    for my $st (grep { $_->[0][0] =~ /^fcfh_(proxy|pass|status|api|events|metrics)$/ } @all) {
        my @heads = grep { $_->[0] =~ /^(server|location)$/ } @{$st->[1]};
        ok((grep { protected_in(\@all, $_) } @heads),
           "$name: $st->[0][0] in \"@{$heads[-1]}\" has access rules or authentication");
    }

    # no credentials written in the file
    unlike($text, qr/\b(Basic|Bearer)\s+[A-Za-z0-9+\/=._-]{8,}/,
           "$name: no literal Authorization value");
    unlike($text, qr/map\s+\$http_(proxy_)?authorization\b/,
           "$name: no map of Authorization headers");
}

{
    my $cdir = 'conf-examples/cluster';
    for my $n (1 .. 3) {
        my $text = $t->read_file("$repo/$cdir/keepalived-node$n.conf");
        (my $code = $text) =~ s/#[^\n]*//g;
        unlike($code, qr/\bauth_(type|pass)\b/,
               "keepalived-node$n.conf: no VRRP password");
        like($code, qr/script\s+"\S*curl -fsS[^"]*http:\/\/127\.0\.0\.1:8081\/fcfh\/health\//,
             "keepalived-node$n.conf: checks the gateway's health over HTTP");
    }
    # what keepalived asks is what the example gateway answers, read-only
    my @all = statements($whole{'cluster/nginx.conf'});
    my ($api) = grep { $_->[0][0] eq 'fcfh_api' && grep { "@$_" eq 'location /fcfh/health/' } @{$_->[1]} } @all;
    ok($api, 'cluster/nginx.conf: /fcfh/health/ is served by fcfh_api');
    ok((grep { "@{$_->[0]}" eq 'listen 127.0.0.1:8081' } @all),
       'cluster/nginx.conf: ... on 127.0.0.1:8081');
    ok((grep { "@{$_->[0]}" eq 'rewrite ^ /fcfh/health/health break' } @all),
       'cluster/nginx.conf: ... answering GET <api>/health only');

    # and it answers: the example's server, on a free loopback port
    my ($block) = $whole{'cluster/nginx.conf'}
        =~ /^(    server \{\n        listen  127\.0\.0\.1:8081;.*?^    \})/ms;
  SKIP: {
        skip 'no health server block found', 4 unless $block;
        $block =~ s/127\.0\.0\.1:8081/127.0.0.1:%%PORT_3%%/;
        my $h = FcfhTest->new;
        $h->write_config(std_config(http => $block));
        $h->run;
        my ($st, undef, $body) = http_get($h->port(3), '/fcfh/health/');
        is($st, 200, 'the health check of the cluster example answers 200');
        like($body // '', qr/^\{"status":"ok","reasons":\[\],/,
             '... with the health endpoint\'s answer');
        ($st) = http_request($h->port(3), 'DELETE', '/fcfh/health/tunnels/x');
        is($st, 405, '... and closes nothing (DELETE: 405)');
        ($st, undef, $body) = http_get($h->port(3), '/fcfh/health/tunnels');
        like($body // '', qr/"status":"ok"/, '... whatever the path asks');
    }

    unlike($t->read_file("$repo/$cdir/redis.conf") =~ s/#[^\n]*//gr,
           qr/^\s*(requirepass|masterauth)\b/m,
           'redis.conf: the password is in an included file');
    like($t->read_file("$repo/docs/cluster.md"), qr/plain text/i,
         'docs/cluster.md says Redis traffic is plain text');
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
