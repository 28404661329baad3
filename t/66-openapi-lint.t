#!/usr/bin/perl
# docs/openapi.yaml is a valid OpenAPI 3.1 description: Redocly's linter
# (npm @redocly/cli, installed into build/redocly by tools/install-deps.sh)
# with its recommended rules (redocly.yaml) finds neither an error nor a
# warning; and the checker the other tests use (t/lib/api_validate.py, the
# spec's schemas with python3-jsonschema) refuses answers that break the
# contract, so a test that validates cannot pass by accident.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempfile);
use JSON::PP;
use FcfhTest qw(repo_dir);

my $top = repo_dir();
my $spec = "$top/docs/openapi.yaml";
my $redocly = "$top/build/redocly/node_modules/.bin/redocly";

ok(-x $redocly, 'the linter is installed (tools/install-deps.sh)')
    or BAIL_OUT("no $redocly: run tools/install-deps.sh");

my $out = `'$redocly' lint --config '$top/redocly.yaml' --format=stylish '$spec' 2>&1`;
is($? >> 8, 0, 'redocly lint: no error') or diag($out);
like($out, qr/is valid/, 'redocly lint: the description is valid');
unlike($out, qr/\bwarning\b(?!.*Node\.js)/i, 'redocly lint: no warning') or diag($out);

# --- the answer checker can fail --------------------------------------------------

sub check {
    my (@answers) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh JSON::PP->new->canonical->encode($_), "\n" for @answers;
    close $fh;
    my $o = `/usr/bin/python3 '$top/t/lib/api_validate.py' '$spec' '$file' 2>&1`;
    return ($? >> 8, $o);
}

sub answer {
    my ($kind, $method, $path, $status, $body, $type) = @_;
    return { kind => $kind, method => $method, path => $path, status => $status,
             type => $type // 'application/json', body => $body };
}

my $tunnel = '{"guid":"00000000-0000-4000-8000-000000000001","fqdn":null,"ports":[16992],'
    . '"owner_pid":10,"serial":1,"peer":"127.0.0.1:5000","identity":"admin","auth":"password",'
    . '"user":"admin","tls_protocol":"TLSv1.3","tls_cipher":"TLS_AES_256_GCM_SHA384",'
    . '"trigger":"user","trigger_code":1,"protocol_version":"1.0",'
    . '"connected_at":"2026-01-01T00:00:00Z","last_keepalive":null,"bytes_in":10,'
    . '"bytes_out":20,"keepalive_interval":0,"channels":0,"keepalive_age":null,"alerts":0,'
    . '"trigger_evidence":null}';

my ($rc, $o) = check(
    answer('api', 'GET', 'tunnels', 200,
           qq({"total":1,"limit":100,"next_cursor":null,"tunnels":[$tunnel]})),
    answer('api', 'GET', 'tunnels/00000000-0000-4000-8000-000000000001', 200, $tunnel),
    answer('status', 'GET', '', 200, $tunnel),
    answer('api', 'POST', 'stats', 405, '{"error":"use GET"}'),
    answer('api', 'GET', 'no/such/path', 404, '{"error":"unknown API path"}'),
    answer('api', 'HEAD', 'health', 200, ''),
    answer('api', 'GET', 'tunnels/x', 403, '<html>403</html>', 'text/html'),
    answer('event', 'dropped', '', 0, '{"dropped":3}'));
is($rc, 0, 'the checker takes answers that keep the contract') or diag($o);

for my $bad (
    [answer('api', 'GET', 'stats', 200, '{"version":1,"tunnels":3}'),
     qr/required property/, 'stats of API version 1'],
    [answer('status', 'GET', '', 200,
            '{"version":1,"module_version":"0","pid":1,"tunnels_total":0,'
            . '"zone":{"size":1,"used":1},"tunnels":[]}'),
     qr/valid under/, 'a status page without paging, tunnels_total'],
    [answer('status', 'POST', '', 405, '<html>405 Not Allowed</html>', 'text/html'),
     qr/not JSON/, 'an HTML 405'],
    [answer('api', 'GET', 'tunnels', 200,
            qq({"total":1,"offset":0,"limit":100,"tunnels":[$tunnel]})),
     qr/next_cursor|Unevaluated/, 'offset paging'],
    [answer('api', 'POST', 'webhooks', 200, '{"id":1,"persisted":true}'),
     qr/status 200 not in the spec/, 'a status the spec does not have'],
    [answer('api', 'GET', 'tunnels', 200, '{"total":'), qr/not JSON/, 'a body cut short'],
    [answer('event', 'auth_failed', '', 0,
            '{"id":1,"event":"auth_failed","time":null,"guid":"00000000-0000-4000-8000-000000000001",'
            . '"worker":1,"fqdn":null,"identity":null,"user":null,"peer":null,"trigger":"user",'
            . '"reason":"invalid credentials"}'),
     qr/event auth_failed/, 'an event reason with a space'],
    [answer('status', 'DELETE', '', 200, '{}'), qr/has no DELETE/, 'a method the spec does not have'],
) {
    my ($a, $re, $what) = @$bad;
    ($rc, $o) = check($a);
    is($rc, 1, "the checker refuses $what");
    like($o, $re, "... saying why") or diag($o);
}

done_testing;
