#!/usr/bin/perl
# MeshCentral's browser consoles (amt-redir-ws-0.1.0.js, amt-terminal-0.0.2.js,
# amt-desktop-0.0.2.js from the meshcentral 1.1.55 npm package) in headless
# Chromium, through the gateway's WebSocket relay (fcfh_webrelay at the
# path the scripts derive from their page: <page dir>/webrelay.ashx) to
# simulated devices.  The scripts do the redirection Digest themselves
# (RFC 2617, method 4) and break on text frames, so this also checks that
# the relay sends binary.  The serial console shows the device's banner and
# the echo of typed keys; the screen draws the simulator's picture in
# RGB565 (MeshCentral's default) and RGB332, read back from the canvas
# pixel by pixel, and follows it as it changes.
use strict;
use warnings;
use Test::More;
use FcfhTest qw(:all);
use FcfhBrowser;

plan skip_all => 'simulator not built' unless have_sim();
plan skip_all => FcfhBrowser::no_chromium() if FcfhBrowser::no_chromium();

unless (FcfhBrowser::deps(mesh => 1)) {
    fail("browser test packages: $FcfhBrowser::ERROR");
    done_testing;
    exit;
}

my $t = FcfhTest->new;
my $static = FcfhBrowser::static_locations();
$t->write_config(std_config(workers => 2, http => "
    server {
        listen 127.0.0.1:%%PORT_3%%;
$static
        # next to the page, where MeshCentral's scripts look for it
        location = /t/webrelay.ashx { fcfh_webrelay; }
    }"));
$t->run;

my ($W, $H) = (320, 200);
$t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--devices', 3, '--quiet',
            '--kvm-size', "${W}x$H", '--kvm-interval', 400);
ok(wait_status($t->port(2), sub { ($_->{total} // 0) == 3 }, T(20)),
   'three simulated devices up');

my $base = 'http://127.0.0.1:' . $t->port(3);
my $guid = sub { sprintf '00000000-0000-4000-8000-%012d', $_[0] };
sub uri { my $v = shift; $v =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge; $v }
sub url {
    my (%q) = (user => 'admin', pass => 'P@ssw0rd', @_);
    return "$base/t/mesh.html?" . join '&', map { "$_=" . uri($q{$_}) } sort keys %q;
}

# one device per scenario: the relay allows one session per device and mode
my @sc = (
    { name => 'MeshCentral SOL', kind => 'sol', url => url(mode => 'sol', host => $guid->(1)),
      banner => 'fcfh-sim serial console ' . $guid->(1), type => 'hello mesh' },
    { name => 'MeshCentral KVM RGB565', kind => 'kvm', width => $W, height => $H,
      url => url(mode => 'kvm', bpp => 2, host => $guid->(2)) },
    { name => 'MeshCentral KVM RGB332', kind => 'kvm', width => $W, height => $H,
      url => url(mode => 'kvm', bpp => 1, host => $guid->(3)) },
);
$_->{timeout} = T(25) for @sc;

my %res = map { $_->{name} => $_ } FcfhBrowser::run(\@sc, T(120));
FcfhBrowser::report($res{$_->{name}}, $_->{name}) for @sc;

my $st = $t->sim_stats // {};
cmp_ok($st->{kvm_sessions} // 0, '>=', 2, 'simulator: KVM sessions');
cmp_ok($st->{sol_sessions} // 0, '>=', 1, 'simulator: SOL sessions');

$t->done_testing;
