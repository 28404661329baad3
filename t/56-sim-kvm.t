#!/usr/bin/perl
# The simulator's redirection services beyond SOL echo: KVM (RFB 3.x over
# 0x40/0x41 after the same digest as SOL), the SOL banner and the start
# of IDER, checked with the test's own console (t/lib/FcfhRedir.pm) that
# decodes every rectangle and compares every pixel with the picture the
# README documents.  First in the selftest mode (16994 and 16995 with TLS
# over plain TCP), bad input of each kind included; then through the
# gateway's SOCKS5 front door, where updates are made only as the channel
# window allows.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use IO::Socket::SSL;
use FcfhTest qw(:all);
use FcfhConsole qw(:all);
use FcfhRedir qw(FMT_332 FMT_888BE);

plan skip_all => 'simulator not built' unless have_sim();
my $simbin = $FcfhTest::SIM;
my ($W, $H) = (320, 200);
my $t = FcfhTest->new;
my @kvm = ('--kvm-size', "${W}x$H", '--kvm-interval', 300);

my @pids;
END { kill 'TERM', @pids if @pids; waitpid($_, 0) for @pids }

sub selftest {
    my ($service, @extra) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "listen: $!";
    my $port = $l->sockport;
    close $l;
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', $t->prefix . "/selftest-$port.log";
        open STDERR, '>&', \*STDOUT;
        exec $simbin, '--selftest-port', $port, '--selftest-service', $service,
             '--quiet', @kvm, @extra;
    }
    push @pids, $pid;
    wait_for(sub { IO::Socket::INET->new("127.0.0.1:$port") }, T(5))
        or BAIL_OUT("selftest simulator on $port did not start");
    return $port;
}

sub console {
    my ($port, $tls) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or return;
    if ($tls) {
        IO::Socket::SSL->start_SSL($s, SSL_verify_mode => SSL_VERIFY_NONE,
                                   Timeout => T(10)) or return;
    }
    return FcfhRedir->new($s, timeout => T(10));
}

sub kvm_session {
    my ($r) = @_;
    return unless defined $r;
    my $st = $r->start('KVMR');
    return unless defined $st && $st == 0;
    my $a = $r->auth('admin', 'P@ssw0rd');
    return unless defined $a && $a == 0;
    return $r->kvm_start;
}

sub rects_ok {
    my ($u, $x0, $y0, $x1, $y1) = @_;
    for (@$u) {
        return "rect $_->{x},$_->{y} $_->{w}x$_->{h}: larger than 64x64"
            if $_->{w} < 1 || $_->{w} > 64 || $_->{h} < 1 || $_->{h} > 64;
        return "rect $_->{x},$_->{y} $_->{w}x$_->{h}: outside the request"
            if $_->{x} < $x0 || $_->{y} < $y0 || $_->{x} + $_->{w} > $x1
               || $_->{y} + $_->{h} > $y1;
        return "encoding $_->{enc}" if $_->{enc} != 0;
    }
    return '';
}

# full screen, incremental updates, formats: the same checks on every path
sub kvm_checks {
    my ($r, $what) = @_;
    my $si = kvm_session($r);
    ok($si, "$what: KVM session: redirection start, digest, 0x40/0x41, RFB 3.8")
        or return diag($FcfhRedir::ERROR);
    is_deeply([$si->{w}, $si->{h}, $si->{fmt}{bpp}, $si->{fmt}{be}, $si->{fmt}{truecolour},
               $si->{fmt}{max}, $si->{fmt}{shift}],
              [$W, $H, 16, 0, 1, [31, 63, 31], [11, 5, 0]],
              "$what: ServerInit: ${W}x$H, RGB565 little-endian (AMT's default)");
    is_deeply($r->{sec_types}, [1], "$what: security types offered: None only");

    $r->set_encodings(16, 0, 1092, -223);
    $r->request(0, 0, 0, $W, $H);
    my $u = $r->read_update(T(15));
    ok($u, "$what: full update") or return diag($FcfhRedir::ERROR);
    is(rects_ok($u, 0, 0, $W, $H), '', "$what: raw rectangles of at most 64x64");
    my $area = 0;
    $area += $_->{w} * $_->{h} for @$u;
    is($area, $W * $H, "$what: the rectangles cover the screen once");
    my $n0 = $r->frame_shown;
    ok(defined $n0, "$what: counter cells decode") or return;
    is($r->mismatches($n0), 0, "$what: every pixel is frame ${n0}'s");

    # incremental: answered when the picture moves, with the changed tiles
    my $n = $n0;
    my ($inc_rects, $t0) = (0, time);
    for (1 .. 3) {
        $r->request(1, 0, 0, $W, $H);
        $u = $r->read_update(T(15)) or last;
        $inc_rects += @$u;
        $n = $r->frame_shown // -1;
    }
    ok($u, "$what: three incremental updates") or return diag($FcfhRedir::ERROR);
    cmp_ok($n, '>', $n0, "$what: the picture changes over time (frame $n0 -> $n)");
    cmp_ok($inc_rects, '<', 3 * 20, "$what: incremental updates send only changed tiles "
           . "($inc_rects rectangles)");
    is($r->mismatches($n), 0, "$what: after incremental updates every pixel is frame ${n}'s");

    # 8 bpp as the UI toolkit asks; the next update is whole, in RGB332
    $r->set_format(FMT_332);
    $r->request(1, 0, 0, $W, $H);
    $u = $r->read_update(T(15));
    ok($u && @$u == 20, "$what: after SetPixelFormat an incremental request gets the "
       . "whole screen again") or diag($u ? scalar @$u : $FcfhRedir::ERROR);
    $n = $r->frame_shown;
    ok(defined $n && $r->mismatches($n) == 0, "$what: RGB332 pixels match frame "
       . ($n // '?'));

    # 32 bpp big-endian, and a request for part of the screen
    $r->set_format(FMT_888BE);
    $r->request(0, 10, 20, 100, 50);
    $u = $r->read_update(T(15));
    ok($u, "$what: update of a part of the screen") or return diag($FcfhRedir::ERROR);
    is(rects_ok($u, 10, 20, 110, 70), '', "$what: rectangles clipped to the request");
    $area = 0;
    $area += $_->{w} * $_->{h} for @$u;
    is($area, 100 * 50, "$what: ... covering it once");
    my $fb = $r->{fb};
    my ($cx, $cy) = (50, 40);
    my $v = $fb->[$cy * $W + $cx];
    my $want = 0;
    my $ok = 0;
    # its frame: whichever recent one matches the rectangle wholly
    for my $k (0 .. $n + 20) {
        $r->{fb} = $fb;
        if ($r->mismatches($k, 10, 20, 110, 70) == 0) { $ok = 1; $want = $k; last }
    }
    ok($ok, "$what: 32 bpp big-endian pixels match a frame ($want)");

    # input events and the toolkit's keepalive (ClientCutText) are taken
    $r->send(pack('C C n N', 4, 1, 0, 0x61) . pack('C C n n', 5, 0, 10, 10)
             . pack('C4 N', 6, 0, 0, 0, 16) . "\0KvmDataChannel\0");
    $r->request(0, 0, 0, 64, 64);
    $u = $r->read_update(T(15));
    ok($u && @$u == 1, "$what: after key, pointer and cut-text messages the session "
       . "still answers") or diag($FcfhRedir::ERROR);
}

# ---- selftest mode -----------------------------------------------------------

my $p94 = selftest(16994);
kvm_checks(console($p94), 'selftest 16994');
my $p95 = selftest(16995);
kvm_checks(console($p95, 1), 'selftest 16995 (TLS)');

# RFB 3.3 and 3.7 handshakes
for my $minor (3, 7) {
    my $r = console($p94);
    $r->start('KVMR');
    $r->auth('admin', 'P@ssw0rd');
    $r->send(pack('C8', 0x40, 0, 0, 0, 0, 0, 0, 0));
    $r->take(8);
    my $si = $r->rfb_handshake(minor => $minor);
    ok($si && $si->{w} == $W, "RFB 3.$minor handshake") or diag($FcfhRedir::ERROR);
    $r->request(0, 0, 0, 128, 8);
    my $u = $r->read_update(T(10));
    ok($u && @$u == 2 && $r->mismatches($r->frame_shown // -1, 0, 0, 128, 8) == 0,
       "RFB 3.$minor: counter cells sent");
}

# authentication: the same digest as SOL
{
    my $r = console($p94);
    is($r->start('KVMR'), 0, 'KVMR session start accepted');
    isnt($r->auth('admin', 'wrong'), 0, 'KVM: a wrong password is refused');
    $r->send(pack('C8', 0x40, 0, 0, 0, 0, 0, 0, 0));
    ok($r->closed(T(5)), 'KVM: 0x40 without authentication closes the session');

    # a console that takes each refusal for a new challenge: closed at the third
    $r = console($p94);
    $r->start('KVMR');
    my @st = map { $r->auth('admin', "wrong$_") } 1 .. 2;
    is_deeply(\@st, [1, 1], 'two wrong answers refused, the session stays');
    $r->auth('admin', 'wrong3');
    ok($r->closed(T(5)), 'the third wrong answer closes the session');

    my $p = selftest(16994, '--redir-auth', '3');
    $r = console($p);
    $r->start('KVMR');
    is_deeply([$r->auth_query], [3], '--redir-auth 3: only RFC 2069 digest offered');
    $r = console($p);
    $r->start('KVMR');
    isnt($r->auth('admin', 'P@ssw0rd', method => 4), 0,
         '--redir-auth 3: method 4 refused');
    $r = console($p);
    $r->start('KVMR');
    is($r->auth('admin', 'P@ssw0rd', method => 3), 0, '--redir-auth 3: method 3 accepted');
    ok($r->kvm_start, '... and KVM starts');
}

# SOL: the host's banner, then the echo
{
    my $r = console($p94);
    $r->start('SOL ');
    $r->auth('admin', 'P@ssw0rd');
    ok($r->sol_start, 'SOL session started');
    my $text = $r->sol_read_until(qr/login: /, T(10));
    like($text, qr/^fcfh-sim serial console 00000000-0000-4000-8000-000000000001\r\nlogin: $/,
         'SOL: the banner names the device');
    $r->sol_send('hello sol');
    $text = $r->sol_read_until(qr/hello sol/, T(10));
    is($text, 'hello sol', 'SOL: typed text echoed');
}

# IDER: open the session, answer features, ping, end
{
    my $r = console($p94);
    is($r->start('IDER'), 0, 'IDER session start accepted');
    is($r->auth('admin', 'P@ssw0rd'), 0, 'IDER: digest');
    my $o = $r->ider_start;
    ok($o && $o->{seq} == 0 && $o->{major} == 1 && $o->{proto} == 0
       && $o->{readbfr} == 8192 && $o->{writebfr} == 8192 && $o->{iana} == 0x157,
       'IDER: OpenSession reply (sequence 0, 8 KiB buffers, protocol 0)')
        or diag(explain $o);
    $r->send(pack('C4 V C V', 0x48, 0, 0, 0, 1, 3, 9));
    my $x = $r->take(13);
    ok($x && ord($x) == 0x49 && unpack('V', substr($x, 4, 4)) == 1
       && ord(substr($x, 8, 1)) == 3 && unpack('V', substr($x, 9, 4)) == 9,
       'IDER: Disable/EnableFeatures answered (sequence 1)');
    $r->send(pack('C4 V', 0x44, 0, 0, 0, 2));
    $x = $r->take(8);
    ok($x && ord($x) == 0x45 && unpack('V', substr($x, 4, 4)) == 2, 'IDER: ping answered');
    $r->send(pack('C4 V', 0x4b, 0, 0, 0, 3) . pack('C4 V', 0x42, 0, 0, 0, 4));
    $x = $r->take(8);
    ok($x && ord($x) == 0x43, 'IDER: end answered');
    ok($r->closed(T(5)), 'IDER: ... and the session closed');
}

# bad input: each closes its own session, refused where the protocol says how
{
    my @bad = (
        ['a session type AMT does not have', sub {
            my $r = shift;
            my $st = $r->start('XYZW');
            is($st, 1, 'unknown session type: 0x11 with status 1');
        }],
        ['a non-RFB version', sub {
            my $r = shift;
            kvm_prelude($r) or return;
            $r->take(12);
            $r->send("HTTP/1.1 200\n");
        }],
        ['a security type not offered', sub {
            my $r = shift;
            kvm_prelude($r) or return;
            $r->take(12);
            $r->send("RFB 003.008\n");
            $r->take(2);
            $r->send("\x02");
            my $res = $r->take(8);
            ok($res && unpack('N', $res) == 1, 'security type 2: SecurityResult failed');
        }],
        ['a colour-map pixel format', sub {
            my $r = shift;
            kvm_session($r) or return;
            $r->set_format({ bpp => 8, be => 0, truecolour => 0, max => [7, 7, 3],
                             shift => [5, 2, 0] });
        }],
        ['a pixel format wider than its bits', sub {
            my $r = shift;
            kvm_session($r) or return;
            $r->set_format({ bpp => 8, be => 0, max => [255, 255, 255],
                             shift => [16, 8, 0] });
        }],
        ['1000 encodings', sub {
            my $r = shift;
            kvm_session($r) or return;
            $r->send(pack('C C n', 2, 0, 1000));
        }],
        ['cut text of 16 MiB', sub {
            my $r = shift;
            kvm_session($r) or return;
            $r->send(pack('C4 N', 6, 0, 0, 0, 16 << 20) . ('x' x 1000));
        }],
        ['an unknown RFB message', sub {
            my $r = shift;
            kvm_session($r) or return;
            $r->send("\x63" . ("\0" x 20));
        }],
        ['an unknown IDER message', sub {
            my $r = shift;
            $r->start('IDER');
            $r->auth('admin', 'P@ssw0rd');
            $r->ider_start or return;
            $r->send(pack('C4 V', 0x77, 0, 0, 0, 1) . ("\0" x 20));
        }],
    );
    for my $b (@bad) {
        my ($what, $code) = @$b;
        my $r = console($p94);
        $code->($r);
        ok($r->closed(T(5)), "bad input ($what): the session is closed");
    }
    my $si = kvm_session(console($p94));
    ok($si, 'after all that the simulator still serves KVM');
}

sub kvm_prelude {
    my ($r) = @_;
    return unless $r->start('KVMR') == 0 && $r->auth('admin', 'P@ssw0rd') == 0;
    $r->send(pack('C8', 0x40, 0, 0, 0, 0, 0, 0, 0));
    my $x = $r->take(8);
    return $x && ord($x) == 0x41;
}

# ---- through the gateway ---------------------------------------------------------

$t->write_config(std_config(stream => '
    server {
        listen 127.0.0.1:%%PORT_3%%;
        fcfh_proxy;
    }'));
$t->run;
my $sim = $t->run_sim('--connect', '127.0.0.1:' . $t->port(1), '--quiet', @kvm,
                      '--window', 16384);
my $guid = '00000000-0000-4000-8000-000000000001';
ok(wait_status($t->port(2), sub { ($_->{total} // 0) == 1 }, T(15)),
   'gateway: simulated device up');

for my $port (16994, 16995) {
    my ($s) = socks5_open($t->port(3), $guid, $port, timeout => T(10));
    ok($s, "gateway: SOCKS5 to $guid:$port") or next;
    my $r;
    if ($port == 16995) {
        IO::Socket::SSL->start_SSL($s, SSL_verify_mode => SSL_VERIFY_NONE,
                                   Timeout => T(10));
        ok(ref $s eq 'IO::Socket::SSL', "gateway $port: TLS with the device")
            or diag($IO::Socket::SSL::SSL_ERROR);
    }
    kvm_checks(FcfhRedir->new($s, timeout => T(15)), "gateway $port");
}

my $st = $t->stop_sim($sim) // {};
cmp_ok($st->{kvm_sessions} // 0, '==', 2, 'simulator counted the KVM sessions');
cmp_ok($st->{window_violations} // 0, '==', 0, 'no window violations');

# the simulators ran the bad input: a sanitizer build (FCFH_SIM) reports here
kill 'TERM', @pids;
waitpid($_, 0) for @pids;
@pids = ();
my @reports = grep { /AddressSanitizer|LeakSanitizer|runtime error:/ }
              map { $t->read_file($_) } glob($t->prefix . '/{selftest-,sim}*.log');
is(scalar @reports, 0, 'simulators: no sanitizer report') or diag(@reports);

$t->done_testing;
