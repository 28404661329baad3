#!/usr/bin/perl
# Malformed SOCKS5 and HTTP CONNECT requests, each on a fresh connection,
# each refused as the console spec says (exact reply bytes / status line,
# then close), while a good device tunnel and good console sessions (a
# BULK transfer read in parts, an HTTP keep-alive WS-Man session) stay open
# across the whole table.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use Socket qw(SHUT_WR);
use FcfhTest qw(:all);
use FcfhConsole qw(:all);

plan skip_all => 'simulator not built' unless have_sim();
my $repo = repo_dir();

my $t = FcfhTest->new;
$t->write_config(std_config(workers => 2, idle => '120s', stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }
    server {
        listen 127.0.0.1:%%PORT_4%%;
        fcfh_proxy;
        fcfh_proxy_auth_file %%CERTS%%/devices.htpasswd;
    }
    server {
        listen 127.0.0.1:%%PORT_6%%;
        fcfh_proxy;
        fcfh_proxy_timeout 2s;
    }'));
$t->run;
my ($sport, $px, $pxa, $pxs) = ($t->port(2), $t->port(3), $t->port(4), $t->port(6));

my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--quiet');
my $G = '00000000-0000-4000-8000-000000000001';
my $F = 'dev0.example.test';
my $doc = wait_status($sport, sub { find_tunnel($_, $G) }, T(10));
ok($doc, 'simulated device up') or diag(explain $FcfhTest::LAST_STATUS);
my $serial = (find_tunnel($doc, $G) // {})->{serial};

# --- good sessions, opened before the table ------------------------------------

my $N = 3_000_000;
my ($bulk, $rep) = socks5_open($px, $G, 16992);
is($rep, 0, 'good session: SOCKS5 channel open');
send_all($bulk, "BULK $N\n") if $bulk;
my $part = $bulk ? read_exact($bulk, 1_000_000, T(10)) : '';
ok(length($part) == 1_000_000 && pattern_ok(0, $part), 'good session: first 1000000 BULK bytes');
my $got_bulk = length $part;

my $identify = $t->read_file("$repo/sim/identify.xml");
my $http_req = "POST /wsman HTTP/1.1\r\nHost: $F:16992\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n"
             . "Content-Length: " . length($identify) . "\r\n\r\n" . $identify;
my ($ka, $st) = connect_open($px, "$F:16992");
is($st, 200, 'good session: CONNECT channel for an HTTP keep-alive session');
sub ws_identify {
    my ($s) = @_;
    send_all($s, $http_req) or return '';
    my $resp = '';
    my $deadline = time + T(5);
    while (time < $deadline) {
        my $r = read_some($s, 65536, 0.2);
        return $resp unless defined $r;
        $resp .= $r;
        if ($resp =~ /\r\n\r\n/ && $resp =~ /Content-Length:\s*(\d+)/i) {
            my $need = index($resp, "\r\n\r\n") + 4 + $1;
            return $resp if length($resp) >= $need;
        }
    }
    return $resp;
}
like($ka ? ws_identify($ka) : '', qr/^HTTP\/1\.1 200 .*IdentifyResponse/s, 'good session: first Identify');

# --- the table --------------------------------------------------------------------

sub s5req { my ($host, $port, $cmd, $atyp) = @_;
    return pack('C4', 5, $cmd // 1, 0, $atyp // 3) . pack('C/a*', $host) . pack('n', $port) }
my $GREET = "\x05\x01\x00";
sub rep { "\x05\x00" . pack('C4', 5, $_[0], 0, 1) . "\0" x 6 }     # after 05 00

# [name, port, [steps: [bytes, bytes to read before the next step]], expect, %opt]
# expect: {bytes => exact reply then EOF} | {http => status, hv => version, hdr => re, body => text}
my @socks = (
    ['NMETHODS 0',                   $px,  [["\x05\x00"]], { bytes => '' }],
    ['only GSSAPI offered',          $px,  [["\x05\x01\x01"]], { bytes => "\x05\xff" }],
    ['only unknown methods offered', $px,  [["\x05\x02\x80\x03"]], { bytes => "\x05\xff" }],
    ['request version 04',           $px,  [[$GREET, 2], ["\x04" . substr(s5req($G, 16992), 1)]], { bytes => "\x05\x00" }],
    ['request RSV 01',               $px,  [[$GREET, 2], [pack('C4', 5, 1, 1, 3) . pack('C/a*', $G) . pack('n', 16992)]], { bytes => "\x05\x00" }],
    ['CMD BIND',                     $px,  [[$GREET, 2], [s5req($G, 16992, 2)]], { bytes => rep(7) }],
    ['CMD UDP ASSOCIATE',            $px,  [[$GREET, 2], [s5req($G, 16992, 3)]], { bytes => rep(7) }],
    ['CMD 09',                       $px,  [[$GREET, 2], [s5req($G, 16992, 9)]], { bytes => rep(7) }],
    ['ATYP IPv4',                    $px,  [[$GREET, 2], [pack('C4', 5, 1, 0, 1) . "\x7f\0\0\x01" . pack('n', 16992)]], { bytes => rep(8) }],
    ['ATYP IPv6',                    $px,  [[$GREET, 2], [pack('C4', 5, 1, 0, 4) . ("\0" x 15) . "\x01" . pack('n', 16992)]], { bytes => rep(8) }],
    ['ATYP 05',                      $px,  [[$GREET, 2], [pack('C4', 5, 1, 0, 5) . "\x04abcd" . pack('n', 16992)]], { bytes => rep(8) }],
    ['empty domain',                 $px,  [[$GREET, 2], [pack('C4', 5, 1, 0, 3) . "\x00" . pack('n', 16992)]], { bytes => "\x05\x00" }],
    ['NUL in the domain',            $px,  [[$GREET, 2], [s5req("dev0\0.example.test", 16992)]], { bytes => "\x05\x00" }],
    ['domain not a host name',       $px,  [[$GREET, 2], [s5req('bad name!', 16992)]], { bytes => rep(4) }, target => 'bad name!'],
    ['unknown device',               $px,  [[$GREET, 2], [s5req('00000000-0000-4000-8000-0000000000fe', 16992)]], { bytes => rep(4) }, target => '00000000-0000-4000-8000-0000000000fe'],
    ['port 0',                       $px,  [[$GREET, 2], [s5req($G, 0)]], { bytes => rep(2) }, target => $G],
    ['port 80',                      $px,  [[$GREET, 2], [s5req($F, 80)]], { bytes => rep(2) }, target => $F],
    ['request byte by byte, unknown device', $px, [["$GREET" . s5req('nosuch.example.test', 16992)]], { bytes => rep(4) }, bytewise => 1, target => 'nosuch.example.test'],
    ['auth required, only 00 offered', $pxa, [[$GREET]], { bytes => "\x05\xff" }],
    ['auth: wrong password',         $pxa, [["\x05\x01\x02", 2], ["\x01\x05admin\x05wrong"]], { bytes => "\x05\x02\x01\x01" }],
    ['auth: user with a newline',    $pxa, [["\x05\x01\x02", 2], ["\x01\x05ad\nmi\x05wrong"]], { bytes => "\x05\x02\x01\x01" }],
    ['auth: unknown user',           $pxa, [["\x05\x01\x02", 2], ["\x01\x05nobod\x08P\@ssw0rd"]], { bytes => "\x05\x02\x01\x01" }],
    ['auth: ULEN 0',                 $pxa, [["\x05\x01\x02", 2], ["\x01\x00\x08P\@ssw0rd"]], { bytes => "\x05\x02\x01\x01" }],
    ['auth: PLEN 0',                 $pxa, [["\x05\x02\x00\x02", 2], ["\x01\x05admin\x00"]], { bytes => "\x05\x02\x01\x01" }],
    ['auth: RFC 1929 version 05',    $pxa, [["\x05\x01\x02", 2], ["\x05\x05admin\x08P\@ssw0rd"]], { bytes => "\x05\x02" }],
    ['SOCKS4 request (neither)',     $px,  [["\x04\x01\x42\x70\x7f\x00\x00\x01root\x00"]], { http => 400, hv => '1.0' }],
);

my $L = sub { "CONNECT $_[0] HTTP/1.1\r\nHost: $_[0]\r\n" };
my @connect = (
    ['HTTP/2.0',                     $px,  [["CONNECT $G:16992 HTTP/2.0\r\n\r\n"]], { http => 505 }],
    ['HTTP/1.2',                     $px,  [["CONNECT $G:16992 HTTP/1.2\r\n\r\n"]], { http => 505 }],
    ['method COPY',                  $px,  [["COPY $G:16992 HTTP/1.1\r\n\r\n"]], { http => 405, hdr => qr/\r\nAllow: CONNECT\r\n/ }],
    ['method CONNECTX',              $px,  [["CONNECTX $G:16992 HTTP/1.1\r\n\r\n"]], { http => 405, hdr => qr/\r\nAllow: CONNECT\r\n/ }],
    ['GET (first byte not C)',       $px,  [["GET http://$G:16992/ HTTP/1.1\r\nHost: $G\r\n\r\n"]], { http => qr/^(400|405)$/ }],
    ['lower-case connect',           $px,  [["connect $G:16992 HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['head > 4096 bytes',            $px,  [[$L->("$G:16992") . "X-Long: " . ('a' x 5000) . "\r\n\r\n"]], { http => 431 }],
    ['33 header lines',              $px,  [[$L->("$G:16992") . join('', map { "X-H$_: v\r\n" } 1 .. 32) . "\r\n"]], { http => 431 }],
    ['port 0',                       $px,  [["CONNECT $G:0 HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['port 65536',                   $px,  [["CONNECT $G:65536 HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['no port',                      $px,  [["CONNECT $G HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['port not digits',              $px,  [["CONNECT $G:ab HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['space in a header name',       $px,  [[$L->("$G:16992") . "Bad Name: x\r\n\r\n"]], { http => 400 }],
    ['header without a colon',       $px,  [[$L->("$G:16992") . "NoColon\r\n\r\n"]], { http => 400 }],
    ['obs-fold',                     $px,  [[$L->("$G:16992") . "X-A: a\r\n  folded\r\n\r\n"]], { http => 400 }],
    ['NUL in a header value',        $px,  [[$L->("$G:16992") . "X-A: a\0b\r\n\r\n"]], { http => 400 }],
    ['NUL in the request line',      $px,  [["CONNECT $G:16992\0 HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['bare CR in the request line',  $px,  [["CONNECT $G:16992\r HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['two spaces in the request line', $px, [["CONNECT  $G:16992 HTTP/1.1\r\n\r\n"]], { http => 400 }],
    ['no HTTP version',              $px,  [["CONNECT $G:16992\r\n\r\n"]], { http => 400 }],
    ['two Proxy-Authorization',      $px,  [[$L->("$G:16992") . "Proxy-Authorization: Basic YWRtaW46UEBzc3cwcmQ=\r\n" x 2 . "\r\n"]], { http => 400 }],
    ['IPv4 literal',                 $px,  [[$L->('127.0.0.1:16992') . "\r\n"]], { http => 404 }, target => '127.0.0.1'],
    ['IPv6 literal',                 $px,  [[$L->('[::1]:16992') . "\r\n"]], { http => 404 }, target => '::1'],
    ['unknown device',               $px,  [[$L->('nosuch.example.test:16992') . "\r\n"]], { http => 404, body => 'unknown device' }, target => 'nosuch.example.test'],
    ['port not allowed',             $px,  [[$L->("$F:22") . "\r\n"]], { http => 403, body => 'port not allowed' }, target => $F],
    ['HTTP/1.0 request, unknown device', $px, [["CONNECT nosuch.example.test:16993 HTTP/1.0\r\n\r\n"]], { http => 404, hv => '1.0' }],
    ['auth: no Proxy-Authorization', $pxa, [[$L->("$G:16992") . "\r\n"]], { http => 407, hdr => qr/^Proxy-Authenticate: Basic realm="fcfh"\r$/m }],
    ['auth: wrong password',         $pxa, [[$L->("$G:16992") . "Proxy-Authorization: Basic YWRtaW46d3Jvbmc=\r\n\r\n"]], { http => 407, hdr => qr/^Proxy-Authenticate: Basic realm="fcfh"\r$/m }],
    ['auth: Digest scheme',          $pxa, [[$L->("$G:16992") . "Proxy-Authorization: Digest username=\"admin\"\r\n\r\n"]], { http => 407 }],
    ['auth: bad base64',             $pxa, [[$L->("$G:16992") . "Proxy-Authorization: Basic YWRtaW46UEBzc3cwcmQ\r\n\r\n"]], { http => 407 }],
    ['request line byte by byte, unknown device', $px, [["CONNECT nosuch.example.test:16992 HTTP/1.1\r\n\r\n"]], { http => 404 }, bytewise => 1],
);

sub run_case {
    my ($kind, $c) = @_;
    my ($name, $port, $steps, $exp, %o) = @$c;
    $name = "$kind $name";
    my $mark = $t->log_mark;
    my $s = tcp_connect($port) or return fail("$name: connect");
    my $got = '';
    for my $st (@$steps) {
        my ($bytes, $nread) = @$st;
        if ($o{bytewise}) {
            for my $ch (split //, $bytes) { send_all($s, $ch) or last; sleep 0.003 }
        } else {
            send_all($s, $bytes);
        }
        $got .= read_exact($s, $nread, T(5)) if $nread;
    }
    my ($rest, $eof) = read_to_eof($s, T(5), 1 << 16);
    $got .= $rest;
    close $s;
    if (exists $exp->{bytes}) {
        is(hexs($got), hexs($exp->{bytes}), "$name: reply " . (length $exp->{bytes} ? hexs($exp->{bytes}) : 'none'));
    } else {
        my ($v, $code) = $got =~ m{^HTTP/(1\.[01]) (\d{3}) };
        if (ref $exp->{http}) { like($code // '', $exp->{http}, "$name: HTTP status") or diag($got) }
        else { is($code, $exp->{http}, "$name: HTTP $exp->{http}") or diag($got) }
        is($v, $exp->{hv}, "$name: status line HTTP/$exp->{hv}") if $exp->{hv};
        like($got, qr/\A[^\r\n]+\r\n(?:[^\r\n]+\r\n)*\r\n/, "$name: well-formed head (CRLF lines, empty line)")
            or diag($got);
        my ($head, $body) = split /\r\n\r\n/, $got, 2;
        like($head // '', $exp->{hdr}, "$name: header") if $exp->{hdr};
        like($body // '', qr/\A[^\n]+\n\z/, "$name: body is one text line") or diag($got);
        is($body, "$exp->{body}\n", "$name: body \"$exp->{body}\"") if $exp->{body};
    }
    ok($eof, "$name: connection closed");
    diag("$name: closed with a reset (unread request bytes?), not a FIN") if $eof == 2;
    my $re = defined $o{target} ? qr/\[(?:info|notice)\](?!.*connected to).*client: 127\.0\.0\.1\b.*\Q$o{target}\E/
                                : qr/\[(?:info|notice)\](?!.*connected to).*client: 127\.0\.0\.1\b/;
    ok($t->wait_for_log($re, T(3), $mark), "$name: log line naming the console"
       . (defined $o{target} ? " and $o{target}" : '')) or diag(substr($t->error_log, $mark));
}

run_case('SOCKS5', $_) for @socks;
run_case('CONNECT', $_) for @connect;

# slow requests: fcfh_proxy_timeout 2s closes them without a reply
for my $c (['SOCKS5', "\x05\x01"], ['SOCKS5 request', undef], ['CONNECT', "CONNECT $G:16992 HTTP/1.1\r\n"]) {
    my ($kind, $bytes) = @$c;
    my $s = tcp_connect($pxs);
    my $start = time;
    my $got = '';
    if (defined $bytes) { send_all($s, $bytes) }
    else { send_all($s, $GREET); $got = read_exact($s, 2, T(3)); send_all($s, "\x05\x01\x00\x03") }
    my ($rest, $eof) = read_to_eof($s, T(8));
    my $el = time - $start;
    is(hexs($got . $rest), defined $bytes ? '' : '05 00', "$kind incomplete: no reply");
    ok($eof && $el >= 1.5 && $el < 6, sprintf("$kind incomplete: closed after fcfh_proxy_timeout 2s (%.1fs)", $el));
}

# --- the good sessions still work ---------------------------------------------------

like($ka ? ws_identify($ka) : '', qr/^HTTP\/1\.1 200 .*IdentifyResponse/s,
     'good session: second Identify on the same keep-alive channel after the table');
close $ka if $ka;

if ($bulk) {
    my ($rest, $eof) = read_to_eof($bulk, T(15), $N);
    is($got_bulk + length $rest, $N, "good session: the whole BULK $N arrived");
    ok(pattern_ok($got_bulk, $rest), 'good session: pattern intact');
    ok($eof, 'good session: EOF at the end');
    close $bulk;
}

my $out = `curl -s -m 10 --socks5-hostname 127.0.0.1:$px -H 'Content-Type: application/soap+xml;charset=UTF-8' --data-binary \@$repo/sim/identify.xml http://$G:16992/wsman 2>&1`;
like($out, qr/IdentifyResponse/, 'curl through the front door after the table');
$out = `curl -s -m 10 -p -x http://127.0.0.1:$pxa --proxy-user 'admin:P\@ssw0rd' -H 'Content-Type: application/soap+xml;charset=UTF-8' --data-binary \@$repo/sim/identify.xml http://$F:16992/wsman 2>&1`;
like($out, qr/IdentifyResponse/, 'curl through the authenticating front door after the table');

my $d = status_json($sport);
is((find_tunnel($d, $G) // {})->{serial}, $serial, 'the device tunnel is the same one (never dropped)');
my $stats = $t->sim_stats($sim) // {};
is($stats->{reconnects}, 0, 'simulator: no reconnects');
is($stats->{window_violations}, 0, 'simulator: no window violations');
is($stats->{protocol_errors}, 0, 'simulator: no protocol errors');

ok($t->error_log =~ /console authentication failed: user "ad\\x0ami"/,
   'a console user name is logged with control bytes as \\xHH');

my @err = grep { /\[(error|crit|alert|emerg)\]/ } split /\n/, $t->error_log;
ok(!@err, 'no [error] or worse in the error log') or diag(join "\n", @err[0 .. ($#err < 19 ? $#err : 19)]);

$t->done_testing;
