#!/usr/bin/perl
# When the gateway sends KEEPALIVE_OPTIONS_REQUEST (fcfh_keepalive_options):
#   - by default only after the forward for port 5900, which real AMT
#     registers last: a device modelled on MeshCentral's APF client (it
#     closes the connection on that message, registers only 16992 and
#     16993 with want_reply 0) is established, keeps its tunnel past the
#     idle timeout with its own keepalives, and is reachable by a console
#   - "off": never
#   - "after_forwards 1s": once no forward came for 1 s
#   - the quiet time must be shorter than fcfh_idle_timeout (nginx -t)
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FcfhTest qw(:all);
use FcfhApf qw(:all);
use FcfhConsole qw(:all);

my $tunnel = 'ssl_certificate %%CERTS%%/server.crt;
        ssl_certificate_key %%CERTS%%/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        fcfh_tunnel;
        fcfh_auth_file %%CERTS%%/devices.htpasswd;
        fcfh_idle_timeout 3s;
        fcfh_keepalive 1s;';

my $t = FcfhTest->new;
$t->write_config(std_config(idle => '3s', keepalive => '1s', stream => "
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }
    server {
        listen 127.0.0.1:%%PORT_4%% ssl;
        $tunnel
        fcfh_keepalive_options off;
    }
    server {
        listen 127.0.0.1:%%PORT_5%% ssl;
        $tunnel
        fcfh_keepalive_options after_forwards 1s;
    }"));
$t->run;
my ($sport, $px) = ($t->port(2), $t->port(3));

# what real AMT registers, in its order
my @AMT = (16993, 16992, 664, 623, 16995, 16994, 5900);

sub guid { sprintf '00000000-0000-4000-8000-%012x', 0x4300 + $_[0] }

# the next message of a type, answering the gateway's keepalives meanwhile
sub next_msg {
    my ($d, $type, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (my $m = $d->read_msg($deadline - time)) {
        return $m if $m->{type} == $type;
        $d->send(keepalive_reply($m->{cookie})) if $m->{type} == KEEPALIVE_REQUEST;
    }
    return;
}

sub types { [ map { $_->{type} } @{$_[0]} ] }

# --- default: MeshCentral's APF client --------------------------------------

my $mesh = FcfhApf->connect($t->port(1)) or BAIL_OUT("connect: $FcfhApf::ERROR");
my $got = $mesh->handshake(guid(1), 'admin', 'P@ssw0rd', [16992, 16993],
                           'mesh.example.test', want_reply => 0,
                           options_fatal => 1);
ok($mesh->{established}, 'client that closes on KEEPALIVE_OPTIONS_REQUEST: '
   . 'established') or diag(explain $got);
is_deeply(types($got), [SERVICE_ACCEPT, USERAUTH_SUCCESS, SERVICE_ACCEPT,
                        REQUEST_SUCCESS, REQUEST_SUCCESS],
          '... both forwards answered (want_reply 0), nothing else');

# its own keepalives, every second, past the idle timeout (3 s)
my ($start, $sent, $echoed) = (time, 0, 0);
while (time - $start < 4.5) {
    $sent++;
    $echoed++ if $mesh->ping($sent, T(2));
    last if $mesh->eof;
    sleep 1;
}
ok(!$mesh->{options_refused}, '... never sent KEEPALIVE_OPTIONS_REQUEST');
ok(!$mesh->eof, '... still connected after 4.5 s (idle timeout 3 s)');
is($echoed, $sent, "... all $sent keepalives answered");

my $e = find_tunnel(wait_status($sport, sub { find_tunnel($_, guid(1)) }, T(3)),
                    guid(1)) // {};
is_deeply($e->{ports}, [16992, 16993], '... listed with its two ports');
is($e->{keepalive_interval}, 0, '... keepalive_interval 0: none was asked');

# a console reaches it
my $cs = socks5_begin($px, guid(1), 16993) or diag($FcfhConsole::ERROR);
my $o = next_msg($mesh, CHANNEL_OPEN, T(3));
is($o && $o->{connected_port}, 16993, '... a console opens a channel to it');
$mesh->send(channel_confirm($o ? $o->{sender} : 0, 1, 32768));
my ($rep) = $cs ? socks5_finish($cs, T(3)) : ();
is($rep, 0, '... SOCKS5 success');
send_all($cs, 'ping from the console') if $cs;
my $d = next_msg($mesh, CHANNEL_DATA, T(3));
is($d && $d->{data}, 'ping from the console', '... console bytes reach the device');
$mesh->send(channel_data($o ? $o->{sender} : 0, 'pong from the device'));
is($cs ? read_exact($cs, 20, T(3)) : '', 'pong from the device',
   '... device bytes reach the console');
close $cs if $cs;
ok(next_msg($mesh, CHANNEL_CLOSE, T(3)), '... closed by the console');
ok(!$mesh->{options_refused} && !$mesh->eof, '... and the tunnel is still up');
$mesh->close;

# --- default: real AMT ----------------------------------------------------------

my $amt = FcfhApf->connect($t->port(1));
$got = $amt->handshake(guid(2), 'admin', 'P@ssw0rd', \@AMT, 'amt.example.test');
ok($amt->{established}, 'real AMT order: established with keepalive options')
    or diag(explain $got);
is_deeply(types($got), [SERVICE_ACCEPT, USERAUTH_SUCCESS, SERVICE_ACCEPT,
                        (REQUEST_SUCCESS) x 7, KEEPALIVE_OPTIONS_REQUEST],
          '... KEEPALIVE_OPTIONS_REQUEST follows the last forward') or diag(explain $got);
is($got->[-2] && $got->[-2]{port}, 5900, '... the one for 5900');
is($got->[-1] && $got->[-1]{interval}, 1, '... interval fcfh_keepalive (1s)');
$e = find_tunnel(wait_status($sport, sub {
    my $x = find_tunnel($_, guid(2)); $x && $x->{keepalive_interval} }, T(3)), guid(2)) // {};
is($e->{keepalive_interval}, 1, '... keepalive_interval 1 in status');
$amt->close;

# 5900 in the middle: the options come right after it, not at the end,
# and not for other ports however long the device waits
my $mid = FcfhApf->connect($t->port(1));
$got = $mid->handshake(guid(3), 'admin', 'P@ssw0rd', [16992], 'mid.example.test');
ok($mid->{established}, 'one forward (16992): established without options');
my $m = $mid->read_msg(1.5);
ok(!$m && $mid->{timed_out}, '... nothing more 1.5 s after it') or diag(explain $m);
$mid->send(global_forward('mid.example.test', 5900, 1));
$m = $mid->read_msg(T(3));
is($m && $m->{port}, 5900, '... forward 5900 answered');
$m = $mid->read_msg(T(3));
is($m && $m->{type}, KEEPALIVE_OPTIONS_REQUEST, '... then KEEPALIVE_OPTIONS_REQUEST');
$mid->send(keepalive_options_reply(1, 0), global_forward('mid.example.test', 16993, 1));
$m = $mid->read_msg(T(3));
is($m && $m->{port}, 16993, '... a later forward answered');
ok($mid->ping(3, T(3)), '... and no second options request before the keepalive reply');
$mid->close;

# --- off ------------------------------------------------------------------------

my $off = FcfhApf->connect($t->port(4));
$got = $off->handshake(guid(4), 'admin', 'P@ssw0rd', \@AMT, 'off.example.test',
                       options => 0, options_fatal => 1);
ok($off->{established}, 'off: established') or diag(explain $got);
($start, $sent, $echoed) = (time, 0, 0);
while (time - $start < 2) {
    $sent++;
    $echoed++ if $off->ping($sent, T(2));
    last if $off->eof;
    sleep 0.5;
}
ok(!$off->{options_refused} && !$off->eof,
   'off: no KEEPALIVE_OPTIONS_REQUEST, even after 5900');
is($echoed, $sent, "off: all $sent keepalives answered");
$off->close;

# --- after_forwards 1s ------------------------------------------------------------

my $q = FcfhApf->connect($t->port(5));
$got = $q->handshake(guid(5), 'admin', 'P@ssw0rd', [16992], 'quiet.example.test',
                     options => 0);
ok($q->{established}, 'after_forwards: established') or diag(explain $got);
# more forwards 0.5 s apart: each one restarts the quiet time
my $ok = 1;
for my $port (16993, 16994) {
    sleep 0.5;
    $q->send(global_forward('quiet.example.test', $port, 1));
    $m = $q->read_msg(T(2));
    $ok = 0 unless $m && $m->{type} == REQUEST_SUCCESS && $m->{port} == $port;
}
my $last = time;
ok($ok, 'after_forwards: two more forwards answered, nothing else')
    or diag(explain $m);
$m = $q->read_msg(T(3));
my $after = time - $last;
is($m && $m->{type}, KEEPALIVE_OPTIONS_REQUEST, 'after_forwards: KEEPALIVE_OPTIONS_REQUEST');
ok($after > 0.8 && $after < T(2),
   sprintf('... about 1 s after the last forward (%.2fs)', $after));
$q->send(keepalive_options_reply(1, 0));
ok($q->ping(4, T(2)), '... then keepalives');
$m = $q->read_msg(1.5);
ok(!$m && $q->{timed_out}, '... and it is sent once') or diag(explain $m);
$q->close;

# a device with no port at all gets none
my $none = FcfhApf->connect($t->port(5));
$none->handshake(guid(6), 'admin', 'P@ssw0rd', [], '');
ok($none->{established}, 'after_forwards, no forward: established');
$m = $none->read_msg(1.5);
ok(!$m && $none->{timed_out}, '... no options without a forward') or diag(explain $m);
$none->close;

# --- configuration ------------------------------------------------------------------

my $conf = $t->read_file('nginx.conf');
for my $case (
    [ 'after_forwards 3s', qr/"fcfh_keepalive_options" time 3000ms is not shorter than "fcfh_idle_timeout" 3000ms/ ],
    [ 'after_forwards 0', qr/invalid time "0"/ ],
    [ 'off 1s', qr/takes a time only with "after_forwards"/ ],
    [ 'on', qr/invalid value "on", expected "after_5900", "after_forwards" or "off"/ ],
) {
    my ($args, $re) = @$case;
    (my $bad = $conf) =~ s/fcfh_keepalive_options off;/fcfh_keepalive_options $args;/;
    $t->write_file('nginx.conf', $bad);
    my ($out, $code) = $t->nginx_t;
    isnt($code, 0, "fcfh_keepalive_options $args: nginx -t fails");
    like($out, $re, '... saying why');
}
(my $good = $conf) =~ s/fcfh_keepalive_options off;/fcfh_keepalive_options after_5900;/;
$t->write_file('nginx.conf', $good);
my ($out, $code) = $t->nginx_t;
is($code, 0, 'fcfh_keepalive_options after_5900: nginx -t passes') or diag($out);
$t->write_file('nginx.conf', $conf);

$t->done_testing;
