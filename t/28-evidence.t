#!/usr/bin/perl
# Event-log evidence of why a device called (fcfh_api GET
# tunnels/<device>/evidence): the gateway reads the device's clock and its
# event log over WS-Management through the tunnel; a fresh entry just
# before the connection marks a user-initiated call
# ("event_log_entry_at_connect"), in the device's own clock whatever its
# offset, and the tunnel keeps that evidence.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use FcfhTest qw(:all);

plan skip_all => 'simulator not built' unless have_sim();

my $t = FcfhTest->new;
$t->write_file('amt.cred', "* admin P\@ssw0rd\n");
chmod 0600, $t->prefix . '/amt.cred';

$t->write_config(std_config(workers => 2, idle => '120s',
    http => 'server {
        listen 127.0.0.1:%%PORT_3%%;
        location /api/ {
            fcfh_api;
            fcfh_amt_credentials %%PREFIX%%/amt.cred;
        }
        location /plain/ { fcfh_api; }
    }'));
$t->run;

my $sport = $t->port(2);
my $aport = $t->port(3);
my $user = '00000000-0000-4000-8000-0000000000a1';
my $periodic = '00000000-0000-4000-8000-0000000000b1';

# a user-triggered device whose AMT clock runs an hour ahead, and a
# periodic one with a correct clock (its log has only old boot records)
my $s1 = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--guid', $user,
                     '--trigger', 1, '--amt-clock-offset', 3600, '--quiet');
my $s2 = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1),
                     '--guid', $periodic, '--trigger', 4, '--quiet');
ok(wait_status($sport, sub { $_->{total} == 2 }, T(10)),
   'two simulated devices up');

sub api {
    my ($method, $path) = @_;
    my ($st, $h, $body) = http_request($aport, $method, $path, T(20));
    my $json = eval { JSON::PP->new->decode($body // '') };
    return ($st // 0, $json, $body // '');
}

my ($st, $doc, $raw) = api('GET', "/api/tunnels/$user/evidence");
is($st, 200, 'evidence of the user-triggered device: 200') or diag $raw;
is($doc && $doc->{trigger}, 'user', '... trigger user');
ok($doc && abs($doc->{device_clock_offset} - 3600) <= 2,
   '... the device clock offset measured (an hour)');
is($doc && $doc->{event_log}{records}, 4, '... all four records read (two pages)');
my $age = $doc && $doc->{event_log}{newest}{seconds_before_connect};
ok(defined $age && $age >= -1 && $age <= 5,
   "... newest entry about a second before connecting ($age s)");
is($doc && $doc->{trigger_evidence}, 'event_log_entry_at_connect',
   '... is the evidence of a user-initiated connection');

(undef, $doc) = api('GET', "/api/tunnels/$user");
is($doc && $doc->{trigger_evidence}, 'event_log_entry_at_connect',
   'the tunnel keeps the evidence');

($st, $doc, $raw) = api('GET', "/api/tunnels/$periodic/evidence");
is($st, 200, 'evidence of the periodic device: 200') or diag $raw;
is($doc && $doc->{event_log}{records}, 3, '... three records');
ok($doc && $doc->{event_log}{newest}{seconds_before_connect} >= 3400,
   '... the newest an hour old');
is($doc && $doc->{trigger_evidence}, undef, '... no evidence');

(undef, $doc) = api('GET', "/api/tunnels/$periodic");
is($doc && $doc->{trigger_evidence}, undef, 'that tunnel has none either');

# errors

($st, $doc) = api('GET', '/plain/tunnels/' . $user . '/evidence');
is($st, 400, 'no credentials configured: 400');
like($doc && $doc->{error}, qr/fcfh_amt_credentials/, '... naming the directive');
($st) = api('POST', "/api/tunnels/$user/evidence");
is($st, 405, 'POST: 405');
($st) = api('GET', '/api/tunnels/00000000-0000-4000-8000-00000000ffff/evidence');
is($st, 404, 'unknown device: 404');

# the event evidence is information only: the devices still work
ok(wait_status($sport, sub { $_->{total} == 2 }, T(3)),
   'both devices still up');

$t->stop_sim($s1);
$t->stop_sim($s2);
$t->done_testing;
