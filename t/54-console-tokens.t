#!/usr/bin/perl
# Console tokens: fcfh_token_secret refused at "nginx -t" when it is
# missing, short or readable by others; GET <fcfh_api>/authorize/
# redirection/<device> (Open AMT's path) behind the API location's own
# nginx authentication answers {"token": ...}, an HS256 JWT for the
# device's GUID with exp = now + fcfh_token_lifetime and the user nginx
# authenticated as "sub"; unknown devices 404, no secret 503; the token
# never reaches a log, and "auth=" query values are masked in the request
# line that $request and the error log show.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use MIME::Base64 qw(decode_base64);
use Digest::SHA qw(hmac_sha256);
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;

my $GUID = '5a1e0000-0000-4000-8000-00000000c0de';
my $NAME = 'desk-7.example.test';
my $SECRET = join '', map { sprintf '%02x', int rand 256 } 1 .. 32;

sub secret_file {
    my ($name, $content, $mode) = @_;
    $t->write_file($name, $content);
    chmod $mode, $t->prefix . "/$name";
}

secret_file('token.key', "$SECRET\n", 0640);
secret_file('short.key', "0123456789abcdef\n", 0600);
secret_file('open.key', "$SECRET\n", 0644);

# the API's own authentication: an operator account for auth_basic
$t->write_file('api.htpasswd',
               'operator:' . crypt('0per@tor', '$6$fcfhsalt$') . "\n");

# ---- 1. configuration errors at nginx -t ----------------------------------

sub conf_with {
    my ($directives) = @_;
    return std_config(http => "server {
        listen 127.0.0.1:%%PORT_3%%;
        location /api/ { fcfh_api; $directives }
    }");
}

my @bad = (
    [ 'fcfh_token_secret %%PREFIX%%/missing.key;', qr/missing\.key.*failed/,
      'a missing secret file' ],
    [ 'fcfh_token_secret %%PREFIX%%/short.key;',
      qr/holds 16 bytes; an HS256 key needs 32/, 'a 16-byte secret' ],
    [ 'fcfh_token_secret %%PREFIX%%/open.key;',
      qr/readable or writable by any user/, 'a secret others can read' ],
    [ 'fcfh_token_secret %%PREFIX%%/token.key; fcfh_token_lifetime 0s;',
      qr/fcfh_token_lifetime must be 1s to 1d/, 'a lifetime of 0' ],
    [ 'fcfh_token_secret %%PREFIX%%/token.key; fcfh_token_lifetime 2d;',
      qr/fcfh_token_lifetime must be 1s to 1d/, 'a lifetime of 2 days' ],
    [ 'fcfh_token_secret %%PREFIX%%/token.key; '
      . 'fcfh_token_secret %%PREFIX%%/token.key;', qr/is duplicate/,
      'the secret twice' ],
);

for my $b (@bad) {
    my ($d, $re, $what) = @$b;
    $t->write_config(conf_with($d));
    my ($out, $st) = $t->nginx_t;
    isnt($st, 0, "nginx -t refuses $what");
    like($out, $re, '... saying why') or diag $out;
    unlike($out, qr/\Q$SECRET\E/, '... without the secret');
}

# ---- 2. the endpoint ------------------------------------------------------

$t->write_config(std_config(http => 'server {
        listen 127.0.0.1:%%PORT_3%%;
        location /api/ {
            auth_basic "operators";
            auth_basic_user_file %%PREFIX%%/api.htpasswd;
            fcfh_api;
            fcfh_token_secret %%PREFIX%%/token.key;
            fcfh_token_lifetime 2m;
        }
        location /fixed/ {
            fcfh_api;
            fcfh_token_secret %%PREFIX%%/token.key;
            fcfh_token_user "desk-$remote_addr";
        }
        location /nosecret/ { fcfh_api; }
        location /off/ {
            fcfh_api;
            fcfh_token_secret off;
        }
        location /issue/ {
            auth_basic "operators";
            auth_basic_user_file %%PREFIX%%/api.htpasswd;
            fcfh_token_issue;
        }
    }
    fcfh_token_secret %%PREFIX%%/token.key;'));
my ($out, $st) = $t->nginx_t;
is($st, 0, 'nginx -t accepts a 64-byte secret in a 0640 file') or diag $out;
$t->run;

my $d = FcfhApf->connect($t->port(1));
$d->handshake($GUID, 'admin', 'P@ssw0rd', [16992, 16994], $NAME);
ok(wait_status($t->port(2), sub { $_->{total} == 1 }, T(5)),
   'a device is up');

sub request {
    my ($method, $path, @headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port(3),
                                  Timeout => T(5)) or return;
    print $s join("\r\n", "$method $path HTTP/1.1", 'Host: localhost',
                  'Connection: close', @headers, '', '');
    local $/;
    my $raw = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return (0, {}, '') unless $head && $head =~ m{^HTTP/1\.1 (\d+)};
    my $code = $1;
    my %h;
    for (split /\r\n/, $head) { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    return ($code, \%h, $body // '');
}

my $operator = 'Authorization: Basic ' . MIME::Base64::encode_base64(
    'operator:0per@tor', '');

sub b64url_decode {
    my ($s) = @_;
    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}

# the token's parts, checked against the secret: header, payload or undef
sub decode_token {
    my ($tok) = @_;
    return unless defined $tok
        && $tok =~ /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
    my ($h, $p, $sig) = ($1, $2, $3);
    my $want = MIME::Base64::encode_base64(hmac_sha256("$h.$p", $SECRET), '');
    $want =~ tr{+/}{-_};
    $want =~ s/=+$//;
    return unless $want eq $sig;
    return (decode_json(b64url_decode($h)), decode_json(b64url_decode($p)));
}

# nginx's access phase comes first
my ($code, $h, $body) = request('GET', "/api/authorize/redirection/$GUID");
is($code, 401, 'no operator credentials: nginx answers 401');
unlike($body, qr/token/, '... and no token');

my $before = time;
($code, $h, $body) = request('GET', "/api/authorize/redirection/$GUID",
                             $operator);
is($code, 200, 'an operator gets a token') or diag $body;
like($h->{'content-type'} // '', qr{^application/json}, '... as JSON');
is($h->{'cache-control'}, 'no-store', '... that no cache keeps');
my $doc = eval { decode_json($body) } // {};
my $token = $doc->{token};
my ($hdr, $claims) = decode_token($token);
ok($claims, '... an HS256 JWT signed with the secret') or diag $body;
is($hdr && $hdr->{alg}, 'HS256', '... alg HS256');
is($claims && $claims->{deviceId}, $GUID, '... for the device');
is($claims && $claims->{sub}, 'operator',
   '... naming the user nginx authenticated');
ok($claims && $claims->{exp} >= $before + 120
   && $claims->{exp} <= time + 121, '... valid fcfh_token_lifetime (2m)');

# by name and in capitals: the token names the GUID, in canonical form
($code, $h, $body) = request('GET', "/api/authorize/redirection/$NAME",
                             $operator);
is($code, 200, 'a token for the device by name');
(undef, $claims) = decode_token(eval { decode_json($body)->{token} });
is($claims && $claims->{deviceId}, $GUID, '... names its GUID');

($code, $h, $body) = request('GET', '/api/authorize/redirection/' . uc $GUID,
                             $operator);
(undef, $claims) = decode_token(eval { decode_json($body)->{token} });
is($claims && $claims->{deviceId}, $GUID, 'a GUID in capitals: lower case');

# fcfh_token_user, and the secret inherited from http{}
($code, $h, $body) = request('GET', "/fixed/authorize/redirection/$GUID");
is($code, 200, 'the secret set in http{} is inherited');
(undef, $claims) = decode_token(eval { decode_json($body)->{token} });
is($claims && $claims->{sub}, 'desk-127.0.0.1', 'fcfh_token_user sets sub');
ok($claims && $claims->{exp} - $claims->{iat} == 300,
   '... and the lifetime is 5m by default');

# fcfh_token_issue: the endpoint alone, the rest of the API not there
($code, $h, $body) = request('GET', "/issue/$GUID");
is($code, 401, 'fcfh_token_issue: nginx\'s auth first');
($code, $h, $body) = request('GET', "/issue/$GUID", $operator);
is($code, 200, 'fcfh_token_issue: a token');
(undef, $claims) = decode_token(eval { decode_json($body)->{token} });
is($claims && $claims->{deviceId}, $GUID, '... for the device');
is($claims && $claims->{sub}, 'operator', '... naming the user');
($code, $h, $body) = request('GET', "/issue/$NAME", $operator);
is($code, 200, '... by name too');
($code, $h, $body) = request('GET', '/issue/tunnels', $operator);
is($code, 404, '... and no other part of the API ("tunnels" is no device)');
($code, $h, $body) = request('GET', "/issue/$GUID/close", $operator);
is($code, 404, '... nor a path below a device');
($code, $h, $body) = request('DELETE', "/issue/$GUID", $operator);
is($code, 405, '... nor another method');

# refusals
($code, $h, $body) = request('GET',
    '/api/authorize/redirection/00000000-0000-4000-8000-00000000beef',
    $operator);
is($code, 404, 'a device this gateway does not know: 404');
like($body, qr/"error":"no such device"/, '... JSON saying so');

($code, $h, $body) = request('GET', '/api/authorize/redirection/nobody.test',
                             $operator);
is($code, 404, 'an unknown name: 404');

($code, $h, $body) = request('POST', "/api/authorize/redirection/$GUID",
                             $operator, 'Content-Length: 0');
is($code, 405, 'POST: 405');

($code, $h, $body) = request('GET', "/off/authorize/redirection/$GUID");
is($code, 503, 'fcfh_token_secret off: 503');
like($body, qr/"error":"tokens need fcfh_token_secret/, '... naming it');

# ---- 3. tokens stay out of the logs ---------------------------------------

# MeshCentral's scripts put a token in the query: the request line logged
# has it masked, the arguments themselves are untouched
my $query_token = 'eyJhbGciOiJIUzI1NiJ9.eyJkZXZpY2VJZCI6InNlY3JldCJ9.c2VjcmV0c2lnbmF0dXJl';
($code, $h, $body) = request('GET',
    "/api/authorize/redirection/$GUID?p=2&auth=$query_token&x=1", $operator);
is($code, 200, 'a request with auth= in the query');

ok($t->wait_for_log(qr/console token for \Q$GUID\E issued to "operator", valid 120 s.*request: "GET \/api\/authorize\/redirection\/\Q$GUID\E\?p=2&auth=-&x=1 HTTP\/1\.1"/, T(3)),
   'the error log names device and user, the request line masked');

# the device leaves first: a tunnel is no session for a graceful stop
FcfhApf::close_all();
ok(wait_status($t->port(2), sub { $_->{total} == 0 }, T(5)),
   'the device is gone');
$t->stop;

my $access = $t->read_file('access.log');
like($access, qr/"GET \/api\/authorize\/redirection\/\Q$GUID\E\?p=2&auth=-&x=1 HTTP\/1\.1" 200/,
     'the access log ($request) has auth= masked');

for my $log ([ 'error.log', $t->error_log ], [ 'access.log', $access ]) {
    my ($name, $text) = @$log;
    unlike($text, qr/\Q$query_token\E/, "$name: no token from a query");
    unlike($text, qr/\Q$token\E/, "$name: no issued token") if $token;
    unlike($text, qr/eyJ[A-Za-z0-9_-]{10,}\./, "$name: nothing like a JWT");
    unlike($text, qr/\Q$SECRET\E/, "$name: no secret");
}

$t->done_testing;
