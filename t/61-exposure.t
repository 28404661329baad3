#!/usr/bin/perl
# nginx -t warns, naming the directive, its file and line and the
# listener, when a console front door (fcfh_proxy, fcfh_pass,
# fcfh_webrelay) or an operators' endpoint (fcfh_status, fcfh_api,
# fcfh_events, fcfh_metrics) is reachable beyond loopback with neither
# authentication nor access rules; protected ones (allow/deny ending in
# "deny all", auth_basic, auth_request, the front door's credentials, a
# required client certificate, loopback or unix listeners,
# fcfh_exposure_warning off) pass silently.  Each case is a server of its own on a port of its own.
#
# nginx -t binds every listener: it runs in a network namespace of its
# own (FcfhTest::netns_cmd), where wildcards and 192.0.2.10 exist on
# loopback only.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);

my $t = FcfhTest->new;
my $p = $t->prefix;
my $certs = $t->certs;

plan skip_all => 'needs root for a network namespace (unshare -n)'
    unless netns_cmd([], 'true');

my $OTHER = '192.0.2.10';       # an address of "another interface"

# name => [layer, directive block, listen, expect (open: listener text)]
my (@cases, $port);
$port = 20000 + $$ % 20000;     # in the namespace any port is free
sub case {
    my ($name, $layer, $body, %o) = @_;
    my $listen = $o{listen} // $port;
    (my $text = $listen) =~ s/\s.*//;
    $text =~ s/^(\d+)$/0.0.0.0:$1/;
    push @cases, { name => $name, layer => $layer, body => $body,
                   listen => $listen, open => $o{open} ? $text : undef,
                   extra => $o{extra} // '', directive => $o{directive} };
    $port++;
}

my $ssl = "ssl_certificate $certs/server.crt; "
        . "ssl_certificate_key $certs/server.key;";
my $verify = "ssl_verify_client on; ssl_client_certificate $certs/ca.crt;";
my $htpasswd = "$certs/devices.htpasswd";
# Debian's nginx has auth_request; an upstream build may not
my $auth_request = qx{$FcfhTest::NGINX -V 2>&1} =~ /http_auth_request_module/;

# ---- stream: fcfh_proxy ----------------------------------------------------
my $sp = 'fcfh_proxy;';
case('proxy, wildcard, nothing', 'stream', $sp, open => 1);
case('proxy, another address', 'stream', $sp, open => 1,
     listen => "$OTHER:$port");
case('proxy, IPv6 wildcard', 'stream', $sp, open => 1, listen => "[::]:$port");
case('proxy, only allow rules', 'stream', "allow 10.0.0.0/8; $sp", open => 1);
case('proxy, a deny that is no catch-all', 'stream',
     "deny 10.0.0.1; $sp", open => 1);
case('proxy, allow all before deny all', 'stream',
     "allow all; deny all; $sp", open => 1);
case('proxy, IPv4 rules only on IPv6', 'stream',
     "allow 10.0.0.0/8; deny 0.0.0.0/0; $sp", open => 1,
     listen => "[::]:$port");
case('proxy, optional client certificate', 'stream',
     "$ssl ssl_verify_client optional; ssl_client_certificate $certs/ca.crt; $sp",
     open => 1, listen => "$port ssl");
case('proxy, credentials off', 'stream',
     "fcfh_proxy_auth_file off; $sp", open => 1);

case('proxy, credentials', 'stream', "fcfh_proxy_auth_file $htpasswd; $sp");
case('proxy, allow/deny', 'stream', "allow 10.0.0.0/8; deny all; $sp");
case('proxy, deny all first', 'stream', "deny all; allow 10.0.0.0/8; $sp");
case('proxy, allow/deny on IPv6', 'stream', "allow 10.0.0.0/8; deny all; $sp",
     listen => "[::]:$port");
case('proxy, loopback', 'stream', $sp, listen => "127.0.0.1:$port");
case('proxy, IPv6 loopback', 'stream', $sp, listen => "[::1]:$port");
case('proxy, unix socket', 'stream', $sp, listen => "unix:$p/proxy.sock");
case('proxy, client certificate', 'stream', "$ssl $verify $sp",
     listen => "$port ssl");
case('proxy, acknowledged', 'stream', "fcfh_exposure_warning off; $sp");

# ---- http: fcfh_pass, fcfh_webrelay and the operators' endpoints ---------
for my $d (qw(fcfh_pass fcfh_webrelay fcfh_status fcfh_api fcfh_events
               fcfh_metrics fcfh_token_issue)) {
    my $loc = sub { "location /x/ { $_[0] $d; }" };
    case("$d, wildcard, nothing", 'http', $loc->(''), open => 1, directive => $d);
    case("$d, IPv6 wildcard", 'http', $loc->(''), open => 1,
         listen => "[::]:$port", directive => $d);
    case("$d, auth_basic off", 'http',
         $loc->("auth_basic off; auth_basic_user_file $htpasswd;"),
         open => 1, directive => $d);
    case("$d, allow only", 'http', $loc->('allow 10.0.0.0/8;'), open => 1,
         directive => $d);
    case("$d, rules in another location", 'http',
         "location /y/ { deny all; } " . $loc->(''), open => 1,
         directive => $d);

    case("$d, allow/deny", 'http', $loc->('allow 127.0.0.1; deny all;'));
    case("$d, allow/deny of the server", 'http',
         'allow 10.0.0.0/8; deny all; ' . $loc->(''));
    case("$d, nested in a protected location", 'http',
         "location /x/ { allow 10.0.0.0/8; deny all; location /x/y { $d; } }");
    case("$d, auth_basic", 'http',
         $loc->("auth_basic \"ops\"; auth_basic_user_file $htpasswd;"));
    case("$d, auth_request", 'http',
         "location = /auth { internal; return 204; } "
         . $loc->('auth_request /auth;')) if $auth_request;
    case("$d, loopback", 'http', $loc->(''), listen => "127.0.0.1:$port");
    case("$d, unix socket", 'http', $loc->(''),
         listen => "unix:$p/$d.sock");
    case("$d, client certificate", 'http', "$ssl $verify " . $loc->(''),
         listen => "$port ssl");
    case("$d, internal", 'http', "location /x/ { internal; $d; }");
    case("$d, acknowledged", 'http', $loc->('fcfh_exposure_warning off;'));
}
# the relay's consoles bring tokens where a secret is set
$t->write_file('token.key', ('0123456789abcdef' x 4) . "\n");
chmod 0640, "$p/token.key";
case('fcfh_webrelay, token secret', 'http',
     "location /x/ { fcfh_token_secret $p/token.key; fcfh_webrelay; }");
case('fcfh_webrelay, token secret of the server', 'http',
     "fcfh_token_secret $p/token.key; location /x/ { fcfh_webrelay; }");
case('fcfh_webrelay, token secret off', 'http',
     "fcfh_token_secret $p/token.key; "
     . "location /x/ { fcfh_token_secret off; fcfh_webrelay; }",
     open => 1, directive => 'fcfh_webrelay');
case('fcfh_pass, credentials', 'http',
     "location / { fcfh_pass_auth_file $htpasswd; fcfh_pass; }");
case('fcfh_pass, credentials of the server', 'http',
     "fcfh_pass_auth_file $htpasswd; location / { fcfh_pass; }");

# one server on loopback and on a wildcard: only the wildcard is named
my $lo = $port++;
case('fcfh_api, loopback and wildcard', 'http',
     "listen 127.0.0.1:$lo; location /x/ { fcfh_api; }", open => 1,
     directive => 'fcfh_api');

# ---- the configuration -----------------------------------------------------
my (%stream, %http);
my $conf = "worker_processes 1;
events { worker_connections 1024; }
fcfh_zone 1m;
fcfh_relay_dir $p/relay;
stream {
";
for my $c (grep { $_->{layer} eq 'stream' } @cases) {
    $conf .= "    # $c->{name}\n    server { listen $c->{listen};\n"
           . "        $c->{body}\n    }\n";
}
$conf .= "}\nhttp {\n    %%HTTP_PATHS%%\n";
for my $c (grep { $_->{layer} eq 'http' } @cases) {
    $conf .= "    # $c->{name}\n    server { listen $c->{listen};\n"
           . "        $c->{body}\n    }\n";
}
$conf .= "}\n";
my $text = $t->write_config($conf);

# the line of each case's front door: its comment is the line above
my @lines = split /\n/, $text;
for my $i (0 .. $#lines) {
    next unless $lines[$i] =~ /^    # (.*)$/;
    my ($c) = grep { $_->{name} eq $1 } @cases;
    $c->{line} = $i + 3;       # comment, "server {", the body
}

my @cmd = netns_cmd(["$OTHER/32"], $FcfhTest::NGINX, '-t', '-p', "$p/",
                    '-c', "$p/nginx.conf", '-e', "$p/nginx-t.err",
                    '-g', "pid $p/nginx-t.pid;");
my $out = qx{@{[ join ' ', map { FcfhTest::shell_quote($_) } @cmd ]} 2>&1};
is($? >> 8, 0, 'nginx -t passes: the warnings are warnings') or diag $out;
unlike($out, qr/\[(emerg|alert|crit)\]|runtime error:|Sanitizer/,
       'no emerg, no sanitizer report') or diag $out;

my @warn = grep { /\[warn\]/ } split /\n/, $out;
my $conf_file = "$p/nginx.conf";

for my $c (@cases) {
    my $d = $c->{directive} // ($c->{layer} eq 'stream' ? 'fcfh_proxy' : '');
    my @mine = grep { /\Q$conf_file\E:$c->{line} / } @warn;
    if ($c->{open}) {
        is(scalar @mine, 1, "$c->{name}: one warning") or diag $out;
        like($mine[0] // '',
             qr/"\Q$d\E" in \Q$conf_file\E:$c->{line} is reachable beyond loopback on \Q$c->{open}\E with neither/,
             "$c->{name}: names the directive, its line and $c->{open}");
    } else {
        is(scalar @mine, 0, "$c->{name}: no warning") or diag join "\n", @mine;
    }
}

# only the wildcard of the server with both
my ($both) = grep { /"fcfh_api" .* on 0\.0\.0\.0:\d+ with/ && !/127\.0\.0\.1/ } @warn;
ok($both, 'loopback and wildcard: the loopback listener is not named')
    or diag join "\n", grep { /127\.0\.0\.1/ } @warn;

# what to do, in the words of each kind
my ($w) = grep { /"fcfh_proxy"/ } @warn;
like($w // '', qr/set "fcfh_proxy_auth_file", add "allow <network>; deny all;" to its server, or listen on a loopback address or a unix socket \("fcfh_exposure_warning off;" there/,
     'fcfh_proxy: says what to do');
($w) = grep { /"fcfh_pass"/ } @warn;
like($w // '', qr/set "fcfh_pass_auth_file", add "allow <network>; deny all;", auth_basic or auth_request to its location/,
     'fcfh_pass: says what to do');
($w) = grep { /"fcfh_metrics"/ } @warn;
like($w // '', qr/with neither authentication nor access rules: add "allow <network>; deny all;", auth_basic or auth_request to its location, or listen on a loopback address or a unix socket/,
     'fcfh_metrics: says what to do');

is(scalar(@warn), scalar(grep { $_->{open} } @cases),
   'no other warning') or diag $out;

$t->done_testing;
