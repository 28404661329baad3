#!/usr/bin/perl
# fcfh_handshake_timeout and fcfh_idle_timeout.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);

my $t = FcfhTest->new;
$t->write_config(std_config(handshake => '1s', idle => '2s'));
$t->run;
my ($port, $sport) = ($t->port(1), $t->port(2));

# --- handshake timeout ----------------------------------------------------------

for my $case (
    [ 'silent device',               sub { } ],
    [ 'stops after PROTOCOLVERSION', sub { $_[0]->send(protocolversion('00000000-0000-4000-8000-00000000e001')) } ],
    [ 'stops after authentication',  sub {
        my $c = shift;
        $c->send(protocolversion('00000000-0000-4000-8000-00000000e002'),
                 service_request(AUTH_SERVICE), userauth_password('admin', 'P@ssw0rd'));
      } ],
) {
    my ($name, $act) = @$case;
    my $c = FcfhApf->connect($port);
    my $start = time;
    $act->($c);
    my $reason = $c->expect_disconnect(T(5));
    my $took = time - $start;
    is($reason, 16, "handshake timeout, $name: DISCONNECT(16)");
    ok($took > 0.8, sprintf("$name: not before the timeout (%.2fs)", $took));
    ok($c->wait_closed(T(3)), "$name: closed");
}
ok(wait_status($sport, sub { $_->{total} == 0 }, T(3)),
   'a tunnel that timed out in the handshake is not listed');

# --- idle timeout ---------------------------------------------------------------

my $G = '00000000-0000-4000-8000-00000000e010';
my $c = FcfhApf->connect($port);
$c->handshake($G, 'admin', 'P@ssw0rd', [16992], 'idle.example.test');
ok($c->{established}, 'idle device established');
ok(wait_status($sport, sub { find_tunnel($_, $G) }, T(3)), 'idle device listed');
my $start = time;
my $reason = $c->expect_disconnect(T(6));
my $took = time - $start;
is($reason, 16, 'idle device gets DISCONNECT(16)');
ok($took > 1.7, sprintf('not before the idle timeout (%.2fs)', $took));
ok($c->wait_closed(T(3)), 'idle device closed');
ok(wait_status($sport, sub { !find_tunnel($_, $G) }, T(3)), 'idle device gone from status');

# --- a device sending keepalives stays up -----------------------------------------

my $G2 = '00000000-0000-4000-8000-00000000e011';
my $k = FcfhApf->connect($port);
$k->handshake($G2, 'admin', 'P@ssw0rd', [16992], 'busy.example.test');
ok($k->{established}, 'keepalive device established');
$start = time;
my ($sent, $echoed, $bad, $last) = (0, 0, undef, 0);
while (time - $start < 3.5) {
    $k->send(keepalive_request(++$sent));
    $last = time;
    my $m = $k->read_msg(T(2));
    if ($m && $m->{type} == KEEPALIVE_REPLY && $m->{cookie} == $sent) { $echoed++ }
    else { $bad = $m // 'eof/timeout'; last }
    sleep 0.5;
}
is($echoed, $sent, "all $sent keepalives over 3.5s (idle timeout 2s) answered")
    or diag(explain $bad);
ok(!$k->eof, 'keepalive device still connected past the idle timeout');
ok(find_tunnel(status_json($sport), $G2), 'keepalive device still listed');

# then silent: the idle timeout counts from its last message (the timer,
# set once, is re-armed for what is left when it fires)
$reason = $k->expect_disconnect(T(6));
$took = time - $last;
is($reason, 16, 'the same device, silent from then on, gets DISCONNECT(16)');
ok($took > 1.9 && $took < T(3),
   sprintf('... the idle timeout after its last keepalive (%.2fs)', $took));
$k->close;

$t->done_testing;
