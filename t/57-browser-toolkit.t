#!/usr/bin/perl
# Intel's Open AMT UI toolkit (@device-management-toolkit/ui-toolkit, its
# UMD bundle) in headless Chromium, through the gateway's WebSocket relay
# (fcfh_webrelay) to simulated devices: the serial console shows the
# device's banner and the echo of keys typed into xterm.js; the screen
# (KVM) draws the simulator's picture, read back from the canvas pixel by
# pixel, in RGB332 (what the toolkit asks for) and RGB565 (AMT's own),
# and follows it as it changes.
#
# The toolkit sends the credentials its config holds; its own digest
# (method 4) carries a stray space and no AMT accepts it, so these
# devices offer RFC 2069 digest (method 3), which the toolkit gets right.
# Open AMT's web UI sends empty credentials and relies on the gateway's
# Digest (fcfh_amt_credentials in the relay location): the gateway
# answers AMT's challenge with its own account; and with
# fcfh_token_secret the page brings a token from Open AMT's API path,
# which the relay checks before the upgrade (and the browser aborts
# unless the relay echoes it as the subprotocol).
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhBrowser;

plan skip_all => 'simulator not built' unless have_sim();
plan skip_all => FcfhBrowser::no_chromium() if FcfhBrowser::no_chromium();

unless (FcfhBrowser::deps()) {
    fail("browser test packages: $FcfhBrowser::ERROR");
    done_testing;
    exit;
}

my $t = FcfhTest->new;
$t->write_file('amt-accounts', "* admin P\@ssw0rd\n");
chmod 0600, $t->prefix . '/amt-accounts';
$t->write_file('token.key', join('', map { sprintf '%02x', int rand 256 } 1 .. 32));
chmod 0640, $t->prefix . '/token.key';
my $static = FcfhBrowser::static_locations();
$t->write_config(std_config(workers => 2, http => "
    server {
        listen 127.0.0.1:%%PORT_3%%;
$static
        # Open AMT's path; the console authenticates itself
        location = /relay/webrelay.ashx { fcfh_webrelay; }
        # the gateway answers AMT's Digest with its own account
        location = /gw/relay/webrelay.ashx {
            fcfh_webrelay;
            fcfh_amt_credentials %%PREFIX%%/amt-accounts;
        }
        # Open AMT's whole flow: a token from its API path, checked by the
        # relay before the upgrade, then the gateway's Digest
        location /tok/api/v1/authorize/redirection/ {
            fcfh_token_secret %%PREFIX%%/token.key;
            fcfh_token_issue;
        }
        location = /tok/relay/webrelay.ashx {
            fcfh_webrelay;
            fcfh_token_secret %%PREFIX%%/token.key;
            fcfh_amt_credentials %%PREFIX%%/amt-accounts;
        }
    }"));
$t->run;

my ($W, $H) = (320, 200);
$t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 5, '--quiet',
            '--kvm-size', "${W}x$H", '--kvm-interval', 400, '--redir-auth', 3);
ok(wait_status($t->port(2), sub { ($_->{total} // 0) == 5 }, T(20)),
   'five simulated devices up');

my $base = 'http://127.0.0.1:' . $t->port(3);
my $ws = 'ws://127.0.0.1:' . $t->port(3);
my $guid = sub { sprintf '00000000-0000-4000-8000-%012d', $_[0] };

sub url {
    my (%q) = @_;
    my $s = join '&', map { "$_=" . uri($q{$_}) } sort keys %q;
    return "$base/t/toolkit.html?$s";
}
sub uri { my $v = shift; $v =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge; $v }

# one device per scenario: the relay allows one session per device and mode
my %creds = (user => 'admin', pass => 'P@ssw0rd', token => 'fcfh-test-token');
my @own = (
    { name => 'toolkit SOL', kind => 'sol',
      url => url(mode => 'sol', host => $guid->(1), server => "$ws/relay", %creds),
      banner => 'fcfh-sim serial console ' . $guid->(1), type => 'hello toolkit' },
    { name => 'toolkit KVM RGB332', kind => 'kvm', width => $W, height => $H,
      url => url(mode => 'kvm', bpp => 1, host => $guid->(2), server => "$ws/relay", %creds) },
    { name => 'toolkit KVM RGB565', kind => 'kvm', width => $W, height => $H,
      url => url(mode => 'kvm', bpp => 2, host => $guid->(3), server => "$ws/relay", %creds) },
);
$_->{timeout} = T(25) for @own;

my %res = map { $_->{name} => $_ } FcfhBrowser::run(\@own, T(120));
FcfhBrowser::report($res{$_->{name}}, $_->{name}) for @own;

# Open AMT's way: empty credentials, the gateway does the Digest
my %empty = (user => '', pass => '', token => 'fcfh-test-token');
my @gw = (
    { name => 'toolkit SOL, gateway Digest', kind => 'sol',
      url => url(mode => 'sol', host => $guid->(4), server => "$ws/gw/relay", %empty),
      banner => 'fcfh-sim serial console ' . $guid->(4), type => 'hello gateway' },
    { name => 'toolkit KVM, gateway Digest', kind => 'kvm', width => $W, height => $H,
      url => url(mode => 'kvm', bpp => 1, host => $guid->(5), server => "$ws/gw/relay",
                 %empty) },
);
$_->{timeout} = T(10) for @gw;
%res = map { $_->{name} => $_ } FcfhBrowser::run(\@gw, T(60));
FcfhBrowser::report($res{$_->{name}}, $_->{name}) for @gw;

# and with a real token, fetched as Open AMT's web UI does
sub token {
    my ($st, $h, $body) = http_get($t->port(3),
                                   '/tok/api/v1/authorize/redirection/' . $_[0]);
    return ($st // 0) == 200 && $body =~ /^\{"token":"([A-Za-z0-9_.-]+)"\}/ ? $1 : '';
}
my @tok = (
    { name => 'toolkit SOL, token and gateway Digest', kind => 'sol',
      url => url(mode => 'sol', host => $guid->(4), server => "$ws/tok/relay",
                 %empty, token => token($guid->(4))),
      banner => 'fcfh-sim serial console ' . $guid->(4), type => 'hello token' },
    { name => 'toolkit KVM, token and gateway Digest', kind => 'kvm',
      width => $W, height => $H,
      url => url(mode => 'kvm', bpp => 2, host => $guid->(5), server => "$ws/tok/relay",
                 %empty, token => token($guid->(5))) },
);
ok((grep { $_->{url} =~ /token=[^&]*\.[^&]*\./ } @tok) == 2,
   'tokens issued for both devices');
$_->{timeout} = T(10) for @tok;
%res = map { $_->{name} => $_ } FcfhBrowser::run(\@tok, T(60));
FcfhBrowser::report($res{$_->{name}}, $_->{name}) for @tok;

my $st = $t->sim_stats // {};
cmp_ok($st->{kvm_sessions} // 0, '>=', 2, 'simulator: KVM sessions');
cmp_ok($st->{sol_sessions} // 0, '>=', 1, 'simulator: SOL sessions');

$t->done_testing;
