#!/usr/bin/perl
# Webhooks a receiver can trust:
# - every POST is signed as Standard Webhooks has it: the receiver example
#   (tools/fcfh-webhook-receiver.py) verifies the gateway's deliveries,
#   refuses a tampered body and a replay past its tolerance; a Perl check
#   here verifies them too, with a secret the gateway made;
# - the secret comes in a header or is made by the gateway and shown once:
#   never by GET webhooks, never in the log, kept in a 0600 state file
#   across a restart;
# - https URLs: TLS verified against fcfh_webhook_trusted_certificate and
#   the URL's host (an address, or a name sent as SNI); a receiver from
#   another CA, or one whose certificate names another host, gets nothing,
#   with why in last_error and the log;
# - host names resolved with fcfh_webhook_resolver (a DNS answerer on
#   loopback here) at every delivery, each address through the target
#   rules: a name that moves to a refused address is refused before any
#   connection, and without fcfh_webhook_allow a name that resolves to
#   loopback never gets a connection.
# Every address used is on loopback: the receivers, the DNS answerer, and
# every name it answers for.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Socket::SSL;
use IO::Select;
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use Digest::SHA qw(hmac_sha256);
use URI::Escape ();
use POSIX ();
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhDns;

my $t = FcfhTest->new;
my $dir = $t->prefix;
my $certs = $t->certs;

# ---- a CA of this test, and the receiver's certificate from it ------------

sub openssl {
    my $cmd = join ' ', 'openssl', @_, '>/dev/null 2>&1';
    system($cmd) == 0 or BAIL_OUT("openssl @_ failed");
}
openssl("req -x509 -newkey rsa:2048 -nodes -keyout $dir/hooks-ca.key -out $dir/hooks-ca.crt",
        "-days 2 -subj '/CN=fcfh hooks test CA' -addext basicConstraints=critical,CA:TRUE",
        "-addext keyUsage=critical,keyCertSign");
openssl("req -newkey rsa:2048 -nodes -keyout $dir/receiver.key -out $dir/receiver.csr",
        "-subj '/CN=hooks.fcfh.test'");
open my $ext, '>', "$dir/receiver.ext" or die;
print $ext "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
         . "subjectAltName=DNS:hooks.fcfh.test,IP:127.0.0.1\n";
close $ext;
openssl("x509 -req -in $dir/receiver.csr -CA $dir/hooks-ca.crt -CAkey $dir/hooks-ca.key",
        "-CAcreateserial -days 2 -extfile $dir/receiver.ext -out $dir/receiver.crt");

# ---- the receivers -----------------------------------------------------------

# the example receiver, over https, with a secret the operator chose
my $S1 = 'whsec_' . encode_base64(join('', map { chr(($_ * 37 + 11) % 256) } 1 .. 32), '');
my $K1 = decode_base64(substr $S1, 6);
my $TOLERANCE = int(T(4));

sub receiver {
    my ($name, $cert, $key) = @_;
    my $port = $t->free_port;
    open my $sf, '>', "$dir/$name.secret" or die;
    print $sf $S1;
    close $sf;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$dir/$name.out"; open STDERR, '>', "$dir/$name.err";
        { exec 'python3', repo_dir() . '/tools/fcfh-webhook-receiver.py',
             '--listen', "127.0.0.1:$port", '--secret-file', "$dir/$name.secret",
             '--cert', $cert, '--key', $key, '--tolerance', $TOLERANCE, '--sni' }
        POSIX::_exit(127);
    }
    wait_for(sub { -s "$dir/$name.out" }, T(10)) or BAIL_OUT("receiver $name did not start");
    return { pid => $pid, port => $port, out => "$dir/$name.out" };
}
my $r1 = receiver('r1', "$dir/receiver.crt", "$dir/receiver.key");
# another CA's certificate: the gateway must not trust it
my $r2 = receiver('r2', "$certs/server.crt", "$certs/server.key");
END { kill 'TERM', $_->{pid} for grep { $_ } $r1, $r2 }

sub lines {
    my ($r) = @_;
    open my $f, '<', $r->{out} or return ();
    return grep { $_ && !$_->{listening} } map { eval { decode_json($_) } } <$f>;
}

# plain-HTTP receivers in this process: every request kept
my %plain;     # port => { sock, got => [ { head => {}, body, req } ] }
sub plain {
    my ($addr) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => 0, Listen => 16,
                                  ReuseAddr => 1) or BAIL_OUT("listen $addr: $!");
    return $plain{"$addr:" . $s->sockport} = { sock => $s, got => [], port => $s->sockport };
}
sub serve {
    my ($secs, $until) = @_;
    my $deadline = time + $secs;
    my $sel = IO::Select->new(map { $_->{sock} } values %plain);
    while (time < $deadline) {
        return 1 if $until && $until->();
        for my $l ($sel->can_read(0.1)) {
            my ($p) = grep { $_->{sock} == $l } values %plain;
            my $c = $l->accept or next;
            my $req = '';
            my $cs = IO::Select->new($c);
            while ($cs->can_read(2)) {
                my $n = sysread($c, $req, 65536, length $req) or last;
                last if $req =~ /\r\n\r\n/ && $req =~ /Content-Length: (\d+)/i
                        && length($req) >= index($req, "\r\n\r\n") + 4 + $1;
            }
            my ($head, $body) = split /\r\n\r\n/, $req, 2;
            my %h;
            for (split /\r\n/, $head // '') { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
            push @{$p->{got}}, { head => \%h, body => $body // '', req => $req, at => time };
            # a webhook body is an Event of docs/openapi.yaml
            my $ev = eval { decode_json($body // '') };
            FcfhTest::api_record('event', ($ev && $ev->{event}) // 'webhook', '', 0, '', $body // '');
            print $c "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
            close $c;
        }
    }
    return $until ? $until->() : 1;
}

# what a receiver does with Standard Webhooks: HMAC over id.timestamp.body
sub signed_by {
    my ($key, $d) = @_;
    my $h = $d->{head};
    my $mac = encode_base64(hmac_sha256("$h->{'webhook-id'}.$h->{'webhook-timestamp'}.$d->{body}", $key), '');
    return grep { $_ eq "v1,$mac" } split / /, $h->{'webhook-signature'} // '';
}

my $p3 = plain('127.0.0.1');          # signed plain deliveries
my $p4 = plain('127.0.0.1');          # a name that moves
my $p4b = plain('127.0.0.2');         # ... to where it must not go

# ---- the DNS answerer ------------------------------------------------------

my $dns = FcfhDns->start($dir);
$dns->set('hooks.fcfh.test' => '127.0.0.1', 'other.fcfh.test' => '127.0.0.1',
          'moving.fcfh.test' => '127.0.0.1');
my $dport = $dns->port;

# ---- the gateway -----------------------------------------------------------

my $conf = std_config(idle => '120s',
    main => "fcfh_webhooks_state %%PREFIX%%/webhooks.state;
             fcfh_webhook_allow 127.0.0.1/32;
             fcfh_webhook_trusted_certificate %%PREFIX%%/hooks-ca.crt;
             fcfh_webhook_verify_depth 1;
             fcfh_webhook_resolver 127.0.0.1:$dport valid=1s ipv6=off;
             fcfh_webhook_resolver_timeout 2s;",
    http => 'server { listen 127.0.0.1:%%PORT_3%%; location /api/ { fcfh_api; } }');
$t->write_config($conf);
$t->run;
my $api = $t->port(3);

# the API, with an optional header
sub api {
    my ($method, $path, @hdr) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$api", Timeout => 5) or return (0);
    print $s "$method $path HTTP/1.0\r\nHost: localhost\r\n"
           . join('', map { "$_\r\n" } @hdr) . "\r\n";
    local $/;
    my $resp = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($st) = ($head // '') =~ m{^HTTP/\d\.\d (\d+)};
    my %h;
    for (split /\r\n/, $head // '') { $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/ }
    # checked against docs/openapi.yaml at the end, as every test's answers
    FcfhTest::api_record_http($api, $method, $path, $st // 0, \%h, $body) if $st;
    return ($st // 0, eval { decode_json($body // '') }, $head // '', $body // '');
}
sub add {
    my ($url, @hdr) = @_;
    return api('POST', '/api/webhooks?url=' . URI::Escape::uri_escape($url), @hdr);
}
sub hook_state {
    my ($id) = @_;
    my (undef, $doc) = api('GET', '/api/webhooks');
    my ($w) = grep { $_->{id} == $id } @{$doc->{webhooks} // []};
    return $w // {};
}

# ---- secrets ---------------------------------------------------------------

my ($st, $doc, $head, $body);
($st, $doc) = add("http://127.0.0.1:$p3->{port}/x", 'Fcfh-Webhook-Secret: whsec_c2hvcnQ=');
is($st, 400, 'a secret of 4 bytes: 400');
like($doc->{error} // '', qr/whsec_ and the base64 of 24 to 64 bytes/, '... saying what a secret is');
($st) = add("http://127.0.0.1:$p3->{port}/x", 'Fcfh-Webhook-Secret: whsec_!!!!' . ('A' x 40));
is($st, 400, 'a secret that is not base64: 400');
($st, $doc) = api('POST', '/api/webhooks?secret=' . URI::Escape::uri_escape($S1) . '&url='
                  . URI::Escape::uri_escape("http://127.0.0.1:$p3->{port}/x"));
is($st, 400, 'a secret in the query string: 400');
like($doc->{error} // '', qr/Fcfh-Webhook-Secret header, never in the url/, '... saying where it goes');

# the gateway makes one: shown once
($st, $doc, $head) = add("http://127.0.0.1:$p3->{port}/plain");
is($st, 201, 'a subscriber without a secret: 201');
my $w5 = $doc->{id};
my $gen = $doc->{secret} // '';
like($gen, qr{^whsec_[A-Za-z0-9+/]{43}=$}, '... answered with the secret it made: 32 bytes');
like($head, qr/^Cache-Control: no-store\r?$/mi, '... in an answer no cache keeps');
my $K5 = decode_base64(substr $gen, 6);

# https, by address and by name, to the example receiver: the operator's secret
($st, $doc) = add("https://127.0.0.1:$r1->{port}/hook", "Fcfh-Webhook-Secret: $S1");
is($st, 201, 'https to an address, with a secret given: 201');
ok(!exists $doc->{secret}, '... a given secret is not echoed');
my $w1 = $doc->{id};
($st, $doc) = add("https://hooks.fcfh.test:$r1->{port}/named", "Fcfh-Webhook-Secret: $S1");
is($st, 201, 'https to a host name: 201');
my $w2 = $doc->{id};
# the certificate names hooks.fcfh.test and 127.0.0.1, not this name
($st, $doc) = add("https://other.fcfh.test:$r1->{port}/x", "Fcfh-Webhook-Secret: $S1");
my $w3 = $doc->{id};
# a receiver whose certificate is from another CA
($st, $doc) = add("https://127.0.0.1:$r2->{port}/x", "Fcfh-Webhook-Secret: $S1");
my $w4 = $doc->{id};
# a name the DNS does not know
($st, $doc) = add("http://nx.fcfh.test:$p3->{port}/x");
is($st, 201, 'a name is taken when added: it is checked at each delivery');
my $w6 = $doc->{id};
($st, $doc) = add("http://moving.fcfh.test:$p4->{port}/m", "Fcfh-Webhook-Secret: $S1");
my $w7 = $doc->{id};
# deliveries the example receiver is then shown again, as an attacker would
($st, $doc) = add("http://127.0.0.1:$p3->{port}/capture", "Fcfh-Webhook-Secret: $S1");
my $w8 = $doc->{id};
ok($w1 && $w2 && $w3 && $w4 && $w6 && $w7 && $w8, 'all subscribers added');

($st, $doc, undef, $body) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 8, 'GET webhooks lists them');
unlike($body, qr/whsec_|secret|\Q$S1\E/, '... and shows no secret');
my $mode = sprintf '%o', (stat "$dir/webhooks.state")[2] & 07777;
is($mode, '600', 'the state file is mode 0600');
like($t->read_file('webhooks.state'), qr/^$w5 0 \Q$gen\E http:/m, '... and keeps the secret');

# ---- one event, to every subscriber ---------------------------------------

my $G = '00000000-0000-4000-8000-000000006801';
my $d = FcfhApf->connect($t->port(1));
$d->handshake($G, 'admin', 'P@ssw0rd', [16992], 'trust.example.test');

my $verified = sub {
    grep { $_->{verified} && ($_->{event}{guid} // '') eq $G } lines($r1);
};
ok(serve(T(10), sub { $verified->() >= 2 && @{$p3->{got}} >= 2 && @{$p4->{got}} >= 1 }),
   'the event arrived at the receivers');

my @v = $verified->();
is(scalar(grep { !$_->{verified} } lines($r1)), 0, 'the example receiver verified every delivery');
my ($by_addr) = grep { ($_->{host} // '') eq "127.0.0.1:$r1->{port}" } @v;
my ($by_name) = grep { ($_->{host} // '') eq "hooks.fcfh.test:$r1->{port}" } @v;
ok($by_addr, 'https to an address: delivered, signature verified');
is($by_addr->{sni}, undef, '... no SNI for an address');
ok($by_name, 'https to a name: delivered, signature verified');
is($by_name->{sni}, 'hooks.fcfh.test', '... the name sent as SNI');
like($by_addr->{id} // '', qr/^msg_[0-9a-f]{16}_${w1}_\d+$/, 'webhook-id: epoch, subscriber, event');
isnt($by_addr->{id}, $by_name->{id}, '... unique to each subscriber');
is($by_addr->{event}{event}, 'connected', '... the event itself as the body');

# ---- the example receiver refuses what was not signed for it -------------

my ($cap) = grep { $_->{req} =~ m{^POST /capture } } @{$p3->{got}};
ok($cap && signed_by($K1, $cap), 'a delivery captured on the way');
sub replay {
    my ($body) = @_;
    my $s = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$r1->{port}", SSL_verify_mode => SSL_VERIFY_NONE,
                                 Timeout => 5) or return 0;
    my $h = $cap->{head};
    print $s "POST /replay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           . "webhook-id: $h->{'webhook-id'}\r\nwebhook-timestamp: $h->{'webhook-timestamp'}\r\n"
           . "webhook-signature: $h->{'webhook-signature'}\r\nContent-Length: " . length($body)
           . "\r\nConnection: close\r\n\r\n$body";
    my $resp = join '', <$s>;
    return ($resp =~ m{^HTTP/1\.\d (\d+)})[0] // 0;
}
(my $tampered = $cap->{body}) =~ s/"connected"/"disconnected"/;
isnt($tampered, $cap->{body}, '(a body changed by one word)');
is(replay($tampered), 401, 'the example receiver refuses a tampered body');
like((lines($r1))[-1]{why} // '', qr/signature mismatch/, '... as a signature mismatch');
is(replay($cap->{body}), 204, '... and takes the same delivery untouched');
sleep $cap->{head}{'webhook-timestamp'} + $TOLERANCE + 1.2 - time;
is(replay($cap->{body}), 401, "after its tolerance (${TOLERANCE}s) it refuses the replay");
like((lines($r1))[-1]{why} // '', qr/timestamp out of tolerance/, '... for its timestamp');

# the gateway's own secret, checked here as any receiver would
my ($plain) = grep { $_->{req} =~ m{^POST /plain } } @{$p3->{got}};
ok($plain, 'delivered to the subscriber with the made secret');
ok(signed_by($K5, $plain), '... signed with it (HMAC-SHA256 over id.timestamp.body)');
ok(!signed_by($K1, $plain), '... and not with another');
cmp_ok(abs($plain->{head}{'webhook-timestamp'} - $plain->{at}), '<=', 2, '... timestamp: the attempt\'s');
is(decode_json($plain->{body})->{guid}, $G, '... the body is the event');

# the name, resolved through the DNS answerer
my ($moved) = @{$p4->{got}};
ok($moved && signed_by($K1, $moved), 'a name resolved with fcfh_webhook_resolver: delivered');
like($moved->{head}{host} // '', qr/^moving\.fcfh\.test:\d+$/, '... Host is the name');
ok((grep { $_ eq 'moving.fcfh.test A' } @{$dns->queries}), '... asked of the resolver');

# the ones that must fail
ok($t->wait_for_log(qr/webhook $w3 \(https:\/\/other\.fcfh\.test:\d+\/x at 127\.0\.0\.1:\d+\) delivery of event \d+ failed: certificate does not name the host/, T(5)),
   'a certificate that does not name the host: failed, logged');
is(hook_state($w3)->{last_error}, 'certificate does not name the host', '... last_error says so');
is(hook_state($w3)->{delivered}, 0, '... nothing delivered');
# (its receiver sends no chain: the leaf's issuer is unknown here)
my $unknown = qr/certificate not verified: unable to (?:get local issuer certificate|verify the first certificate)/;
ok($t->wait_for_log(qr/webhook $w4 .* failed: $unknown/, T(5)),
   'a receiver from another CA: failed, logged');
like(hook_state($w4)->{last_error} // '', qr/^$unknown$/, '... last_error says so');
is(scalar(lines($r2)), 0, '... and it received nothing');
ok($t->wait_for_log(qr/webhook $w6 \(http:\/\/nx\.fcfh\.test:\d+\/x\) delivery of event \d+ failed: cannot resolve: Host not found/, T(5)),
   'a name the DNS does not know: failed, logged');
is(hook_state($w6)->{last_error}, 'cannot resolve: Host not found', '... last_error says so');

# ---- a name that moves to a refused address (DNS rebinding) ---------------

$dns->set('hooks.fcfh.test' => '127.0.0.1', 'other.fcfh.test' => '127.0.0.1',
          'moving.fcfh.test' => '127.0.0.2');
sleep 1.5;      # past valid=1s
my $mark = $t->log_mark;
$d->send(disconnect(11));
ok($t->wait_for_log(qr/\[warn\].*webhook $w7 not delivered: "moving\.fcfh\.test" resolves to a refused address: webhook target 127\.0\.0\.2 is a loopback address; allow it with fcfh_webhook_allow/,
                    T(5), $mark), 'the name now resolves to 127.0.0.2: refused, logged');
serve(T(1));
is(scalar @{$p4b->{got}}, 0, '... and 127.0.0.2 never connected to');
is(hook_state($w7)->{last_error}, 'target not allowed', '... last_error says so');
is(hook_state($w7)->{delivered}, 1, '... after the one delivery it was allowed');

# ---- kept across a restart, secrets included --------------------------------

FcfhApf::close_all();
$t->stop;
unlike($t->error_log, qr/whsec_|\Q$gen\E|\Q@{[substr $S1, 6, 20]}\E|\Q@{[substr $gen, 6, 20]}\E/,
       'no secret in the error log');
open my $sf, '>>', "$dir/webhooks.state" or die;
print $sf "95 0 http://127.0.0.1:$p3->{port}/old\n";
close $sf;
chmod 0644, "$dir/webhooks.state";
$mark = $t->log_mark;
$t->run;
ok($t->wait_for_log(qr/\[warn\].*webhook state ".*" holds the subscribers' secrets and is readable by other users/, T(3), $mark),
   'a state file others can read: warned');
ok($t->wait_for_log(qr/\[warn\].*webhook state ".*" line 9 ignored: no secret \(written by an older version\): add the subscriber again/, T(3), $mark),
   'a line without a secret: ignored, warned');
($st, $doc) = api('GET', '/api/webhooks');
is(scalar @{$doc->{webhooks} // []}, 8, 'the subscribers survived a restart');

# each still signs with its own secret: the example receiver and the check here
my $G2 = '00000000-0000-4000-8000-000000006802';
my $d2 = FcfhApf->connect($t->port(1));
$d2->handshake($G2, 'admin', 'P@ssw0rd', [16992], 'again.example.test');
ok(serve(T(10), sub { (grep { $_->{verified} && ($_->{event}{guid} // '') eq $G2 } lines($r1)) >= 1
                      && (grep { $_->{req} =~ m{^POST /plain } && $_->{body} =~ /$G2/ } @{$p3->{got}}) }),
   'after the restart: delivered');
is(scalar(grep { !$_->{verified} && ($_->{id} // '') =~ /_${w1}_/ } lines($r1)), 0,
   '... verified by the example receiver with the secret given');
my ($again) = grep { $_->{req} =~ m{^POST /plain } && $_->{body} =~ /$G2/ } @{$p3->{got}};
ok(signed_by($K5, $again), '... and with the secret the gateway made');

FcfhApf::close_all();
$t->stop;
unlike($t->error_log, qr/whsec_|\Q@{[substr $gen, 6, 20]}\E/, 'still no secret in the error log');

# ---- without fcfh_webhook_allow and without a CA ----------------------------

my $t2 = FcfhTest->new;
my $p5 = plain('127.0.0.1');
$dns->set('lo.fcfh.test' => '127.0.0.1');
$t2->write_config(std_config(idle => '120s',
    main => "fcfh_webhook_resolver 127.0.0.1:$dport valid=1s ipv6=off;",
    http => 'server { listen 127.0.0.1:%%PORT_3%%; location /api/ { fcfh_api; } }'));
$t2->run;
$api = $t2->port(3);

($st, $doc) = add("https://127.0.0.1:$r1->{port}/hook");
is($st, 400, 'https without fcfh_webhook_trusted_certificate: 400');
is($doc->{error}, 'an https url needs fcfh_webhook_trusted_certificate', '... saying what it needs');
($st, $doc) = add("http://lo.fcfh.test:$p5->{port}/lo");
is($st, 201, 'a name that resolves to loopback: added');
my $wlo = $doc->{id};
$mark = $t2->log_mark;
my $d3 = FcfhApf->connect($t2->port(1));
$d3->handshake('00000000-0000-4000-8000-000000006803', 'admin', 'P@ssw0rd', [16992], 'lo.example.test');
ok($t2->wait_for_log(qr/\[warn\].*webhook $wlo not delivered: "lo\.fcfh\.test" resolves to a refused address: webhook target 127\.0\.0\.1 is a loopback address; allow it with fcfh_webhook_allow/,
                     T(5), $mark), 'default rules: the resolved loopback address refused, logged');
ok((grep { $_ eq 'lo.fcfh.test A' } @{$dns->queries}), '... after the name was resolved');
ok(!IO::Select->new($p5->{sock})->can_read(T(1)), '... and never connected to');
($st, $doc) = api('GET', '/api/webhooks');
is($doc->{webhooks}[0]{last_error}, 'target not allowed', '... last_error says so');
FcfhApf::close_all();
$t2->stop;

# ---- nginx -t ---------------------------------------------------------------

my $t3 = FcfhTest->new;
for my $c (
    [ 'fcfh_webhook_trusted_certificate %%PREFIX%%/none.crt;', qr/SSL_CTX_load_verify_locations\(".*none\.crt"\) failed/ ],
    [ 'fcfh_webhook_verify_depth many;',                     qr/"fcfh_webhook_verify_depth" directive invalid number/ ],
    [ 'fcfh_webhook_resolver;',                              qr/invalid number of arguments in "fcfh_webhook_resolver"/ ],
    [ 'fcfh_webhook_resolver 127.0.0.1:53 valid=x;',         qr/invalid parameter: valid=x/ ],
    [ 'fcfh_webhook_resolver 127.0.0.1; fcfh_webhook_resolver 127.0.0.2;', qr/"fcfh_webhook_resolver" directive is duplicate/ ],
    [ 'fcfh_webhook_resolver_timeout soon;',                 qr/"fcfh_webhook_resolver_timeout" directive invalid value/ ],
) {
    $t3->write_config(std_config(main => $c->[0]));
    my ($out, $code) = $t3->nginx_t;
    isnt($code, 0, "nginx -t fails: $c->[0]");
    like($out, $c->[1], '... saying why') or diag($out);
}
$t3->write_config(std_config(main => "fcfh_webhook_trusted_certificate $dir/hooks-ca.crt;
    fcfh_webhook_verify_depth 2; fcfh_webhook_resolver 127.0.0.1:$dport ipv6=off;
    fcfh_webhook_resolver_timeout 3s;"));
my ($out, $code) = $t3->nginx_t;
is($code, 0, 'nginx -t passes with good values') or diag($out);

$dns->stop;
$t->done_testing;
