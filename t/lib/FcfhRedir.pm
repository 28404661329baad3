package FcfhRedir;

# A console for AMT's redirection protocol (16994/16995) written for the
# tests: StartRedirectionSession, AuthenticateSession (query, RFC 2617
# digest), SOL, the start of IDER and KVM with an RFB 3.x client that
# keeps a local framebuffer; and the simulator's KVM picture (the rules in
# sim/README.md), so a test can check every pixel it was sent.
#
#   my $r = FcfhRedir->new($sock);            # plain or IO::Socket::SSL
#   $r->start('KVMR') == 0 or die;
#   $r->auth('admin', 'P@ssw0rd') == 0 or die;
#   my $si = $r->kvm_start;                    # 0x40/0x41 + RFB handshake
#   $r->request(0, 0, 0, $si->{w}, $si->{h});
#   my $u = $r->read_update;                   # applied to $r->{fb}
#   my $n = $r->frame_shown;                   # from the counter cells
#   is($r->mismatches($n), 0);
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(time);
use Exporter 'import';

our @EXPORT_OK = qw(sim_rgb fmt_pixel FMT_565 FMT_332 FMT_888BE);
our $ERROR = '';

use constant FMT_565 => { bpp => 16, be => 0, max => [31, 63, 31],
                          shift => [11, 5, 0] };
use constant FMT_332 => { bpp => 8, be => 0, max => [7, 7, 3],
                          shift => [5, 2, 0] };
use constant FMT_888BE => { bpp => 32, be => 1, max => [255, 255, 255],
                            shift => [16, 8, 0] };

# ---- the simulator's picture ------------------------------------------------

# (r, g, b) of pixel (x, y) in frame $n of a $w x $h screen
sub sim_rgb {
    my ($n, $x, $y, $w, $h) = @_;
    if ($y < 8 && $x < 128) {
        my $v = (($n >> (15 - int($x / 8))) & 1) ? 255 : 0;
        return ($v, $v, $v);
    }
    my $bar = ($n * 8) % $w;
    return (255, 255, 0) if ($x + $w - $bar) % $w < 16;
    return (int($x * 255 / ($w - 1)), int($y * 255 / ($h - 1)),
            ((($x >> 4) + ($y >> 4)) & 1) ? 192 : 64);
}

# the pixel value of (r, g, b) in a true-colour format
sub fmt_pixel {
    my ($f, @rgb) = @_;
    my $v = 0;
    for my $i (0 .. 2) {
        $v |= int(($rgb[$i] * $f->{max}[$i] + 127) / 255) << $f->{shift}[$i];
    }
    return $v;
}

# ---- transport ---------------------------------------------------------------

sub new {
    my ($class, $sock, %o) = @_;
    return bless { s => $sock, buf => '', timeout => $o{timeout} // 10,
                   seq => 0 }, $class;
}

sub send { my ($self, $d) = @_; _send_all($self->{s}, $d) }

sub _send_all {
    my ($s, $d) = @_;
    my $off = 0;
    while ($off < length $d) {
        my $n = syswrite($s, $d, length($d) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# more bytes into the buffer; 0 on timeout, undef on EOF
sub _fill {
    my ($self, $deadline) = @_;
    my $s = $self->{s};
    my $pending = $s->can('pending') ? $s->pending : 0;
    if (!$pending) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        return 0 unless select(my $rout = $rin, undef, undef,
                               $left < 0.2 ? $left : 0.2);
    }
    my $r = sysread($s, $self->{buf}, 65536, length $self->{buf});
    return 0 if !defined $r && ($!{EAGAIN} || $!{EWOULDBLOCK});
    return $r ? $r : undef;
}

# exactly $n bytes, or undef (with $ERROR) on EOF or timeout
sub take {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    while (length($self->{buf}) < $n) {
        my $r = $self->_fill($deadline);
        if (!defined $r) {
            $ERROR = "EOF after " . length($self->{buf}) . " of $n bytes";
            return;
        }
        if (!$r && time >= $deadline) {
            $ERROR = "timeout: " . length($self->{buf}) . " of $n bytes";
            return;
        }
    }
    return substr($self->{buf}, 0, $n, '');
}

# true once the peer closed (anything it sent before is dropped)
sub closed {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    $self->{buf} = '';
    while (time < $deadline) {
        my $r = $self->_fill($deadline);
        return 1 unless defined $r;
        $self->{buf} = '' if length $self->{buf} > (1 << 20);
    }
    return 0;
}

# ---- redirection --------------------------------------------------------------

# StartRedirectionSession ('SOL ', 'KVMR', 'IDER'): the reply's status
sub start {
    my ($self, $type) = @_;
    $self->send(pack('C4', 0x10, $type eq 'KVMR' ? 1 : 0, 0, 0) . $type);
    my $h = $self->take(13) // return;
    return -1 unless ord($h) == 0x11;
    my $oem = ord substr($h, 12, 1);
    $self->take($oem) if $oem;
    return ord substr($h, 1, 1);
}

# (status, type, data) of an AuthenticateSessionReply
sub _auth_reply {
    my ($self) = @_;
    my $h = $self->take(9) // return;
    return (-1) unless ord($h) == 0x14;
    my $len = unpack('V', substr($h, 5, 4));
    my $data = $len ? ($self->take($len) // return) : '';
    return (ord(substr($h, 1, 1)), ord(substr($h, 4, 1)), $data);
}

sub _lp { join '', map { pack('C/a*', $_ // '') } @_ }

# the methods AMT offers (list of numbers)
sub auth_query {
    my ($self) = @_;
    $self->send(pack('C5 V', 0x13, 0, 0, 0, 0, 0));
    my ($st, $type, $data) = $self->_auth_reply;
    return unless defined $st && $st == 0;
    return unpack('C*', $data);
}

# query + digest (method 4, or 3); the final status (0 = authenticated)
sub auth {
    my ($self, $user, $pass, %o) = @_;
    my $method = $o{method} // 4;
    my $uri = $o{uri} // '/RedirectionService';
    my @m = $self->auth_query;
    $self->{methods} = \@m;
    my $body = _lp($user) . "\0\0" . _lp($uri) . "\0\0\0" . ($method == 4 ? "\0" : '');
    $self->send(pack('C5 V', 0x13, 0, 0, 0, $method, length $body) . $body);
    my ($st, $type, $data) = $self->_auth_reply;
    return $st unless defined $st && $st == 1 && length $data;
    my @el;
    while (length $data) {
        my $n = ord $data;
        push @el, substr($data, 1, $n);
        substr($data, 0, 1 + $n, '');
    }
    my ($realm, $nonce, $qop) = @el;
    my ($cnonce, $nc) = ('0a4f113b0a4f113b', '00000001');
    my $ha1 = md5_hex("$user:$realm:$pass");
    my $ha2 = md5_hex("POST:$uri");
    my $resp = $method == 4 ? md5_hex("$ha1:$nonce:$nc:$cnonce:$qop:$ha2")
                            : md5_hex("$ha1:$nonce:$ha2");
    $body = _lp($user, $realm, $nonce, $uri, $cnonce, $nc, $resp)
            . ($method == 4 ? _lp($qop) : '');
    $self->send(pack('C5 V', 0x13, 0, 0, 0, $method, length $body) . $body);
    ($st) = $self->_auth_reply;
    return $st;
}

# ---- SOL -------------------------------------------------------------------------

sub sol_start {
    my ($self) = @_;
    $self->send(pack('C4 V v6 V', 0x20, 0, 0, 0, $self->{seq}++, 10000, 100,
                     0, 10000, 100, 0, 0));
    my $r = $self->take(23) // return;
    return unless ord($r) == 0x21 && ord(substr($r, 1, 1)) == 0;
    # control lines, as the browser consoles send them
    $self->send(pack('C4 V C6', 0x27, 0, 0, 0, $self->{seq}++, 0, 0, 0x1b, 0, 0, 0));
    return 1;
}

sub sol_send {
    my ($self, $text) = @_;
    $self->send(pack('C4 V v', 0x28, 0, 0, 0, $self->{seq}++, length $text) . $text);
}

# SOL text from the host until $re matches (or timeout): the text
sub sol_read_until {
    my ($self, $re, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    my $text = '';
    while ($text !~ $re && time < $deadline) {
        my $h = $self->take(1, $deadline - time) // last;
        my $t = ord $h;
        if ($t == 0x2a) {
            my $rest = $self->take(9, $deadline - time) // last;
            my $len = unpack('v', substr($rest, 7, 2));
            $text .= $self->take($len, $deadline - time) // last;
        } elsif ($t == 0x2b || $t == 0x24 || $t == 0x25) {
            $self->take(7, $deadline - time) // last;
        } else {
            $ERROR = sprintf 'unexpected SOL message 0x%02x', $t;
            last;
        }
    }
    return $text;
}

# ---- KVM / RFB -------------------------------------------------------------------

# 0x40/0x41 then the RFB handshake; ServerInit as a hash (w, h, fmt, name)
sub kvm_start {
    my ($self, %o) = @_;
    $self->send(pack('C8', 0x40, 0, 0, 0, 0, 0, 0, 0));
    my $r = $self->take(8) // return;
    if (ord($r) != 0x41) { $ERROR = 'no 0x41'; return }
    return $self->rfb_handshake(%o);
}

sub rfb_handshake {
    my ($self, %o) = @_;
    my $minor = $o{minor} // 8;
    my $v = $self->take(12) // return;
    if ($v !~ /^RFB 003\.00\d\n$/) { $ERROR = "server version '$v'"; return }
    $self->send(sprintf "RFB 003.%03d\n", $minor);
    if ($minor == 3) {
        my $t = $self->take(4) // return;
        if (unpack('N', $t) != 1) { $ERROR = 'security not None'; return }
    } else {
        my $n = ord($self->take(1) // return);
        my @types = unpack('C*', $self->take($n) // return);
        $self->{sec_types} = \@types;
        $self->send(chr($o{security} // 1));
        if ($minor == 8) {
            my $res = $self->take(4) // return;
            if (unpack('N', $res) != 0) { $ERROR = 'security result failed'; return }
        }
    }
    $self->send("\x01");
    my $si = $self->take(24) // return;
    my ($w, $h, $bpp, $depth, $be, $tc, @rest) = unpack('n n C C C C n3 C3', $si);
    my $nl = unpack('N', substr($si, 20, 4));
    my $name = $self->take($nl) // return;
    my $fmt = { bpp => $bpp, be => $be, max => [@rest[0 .. 2]],
                shift => [@rest[3 .. 5]], truecolour => $tc, depth => $depth };
    @$self{qw(w h fmt)} = ($w, $h, $fmt);
    $self->{fb} = [];
    return { w => $w, h => $h, fmt => $fmt, name => $name };
}

sub set_format {
    my ($self, $f) = @_;
    $self->send(pack('C4 C4 n3 C3 C3', 0, 0, 0, 0, $f->{bpp}, $f->{bpp},
                     $f->{be} ? 1 : 0, $f->{truecolour} // 1, @{$f->{max}},
                     @{$f->{shift}}, 0, 0, 0));
    $self->{fmt} = $f;
    $self->{fb} = [];       # what we hold is in the old format
}

sub set_encodings {
    my ($self, @enc) = @_;
    $self->send(pack('C C n', 2, 0, scalar @enc) . pack('l>*', @enc));
}

sub request {
    my ($self, $inc, $x, $y, $w, $h) = @_;
    $self->send(pack('C C n4', 3, $inc ? 1 : 0, $x, $y, $w, $h));
}

# one FramebufferUpdate, applied to the local framebuffer: list of rects
# ({x, y, w, h, enc}), or undef (with $ERROR)
sub read_update {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $self->{timeout});
    my $h = $self->take(4, $deadline - time) // return;
    if (ord($h) != 0) { $ERROR = 'not a FramebufferUpdate: ' . ord($h); return }
    my $n = unpack('n', substr($h, 2, 2));
    my $bytes = $self->{fmt}{bpp} / 8;
    my $pk = $bytes == 1 ? 'C*' : $bytes == 2 ? ($self->{fmt}{be} ? 'n*' : 'v*')
                                              : ($self->{fmt}{be} ? 'N*' : 'V*');
    my @rects;
    for (1 .. $n) {
        my $rh = $self->take(12, $deadline - time) // return;
        my ($x, $y, $w, $hh, $enc) = unpack('n4 N', $rh);
        push @rects, { x => $x, y => $y, w => $w, h => $hh, enc => $enc };
        if ($enc != 0) { $ERROR = "encoding $enc"; return }
        my $data = $self->take($w * $hh * $bytes, $deadline - time) // return;
        my @px = unpack($pk, $data);
        my $fb = $self->{fb};
        for my $j (0 .. $hh - 1) {
            my $row = ($y + $j) * $self->{w};
            @$fb[$row + $x .. $row + $x + $w - 1] = @px[$j * $w .. $j * $w + $w - 1];
        }
    }
    return \@rects;
}

# the frame number the counter cells of the local framebuffer show, or
# undef when a cell is neither black nor white
sub frame_shown {
    my ($self) = @_;
    my $white = fmt_pixel($self->{fmt}, 255, 255, 255);
    my $n = 0;
    for my $i (0 .. 15) {
        my $v = $self->{fb}[4 * $self->{w} + 8 * $i + 4];
        return unless defined $v && ($v == $white || $v == 0);
        $n = ($n << 1) | ($v == $white ? 1 : 0);
    }
    return $n;
}

# pixels of the local framebuffer that differ from frame $n (all of it,
# or the rectangle given)
sub mismatches {
    my ($self, $n, $x0, $y0, $x1, $y1) = @_;
    my ($w, $h, $f, $fb) = @$self{qw(w h fmt fb)};
    ($x0, $y0, $x1, $y1) = (0, 0, $w, $h) unless defined $x0;
    my $bad = 0;
    for my $y ($y0 .. $y1 - 1) {
        for my $x ($x0 .. $x1 - 1) {
            my $v = $fb->[$y * $w + $x];
            $bad++ unless defined $v && $v == fmt_pixel($f, sim_rgb($n, $x, $y, $w, $h));
        }
    }
    return $bad;
}

# ---- IDER --------------------------------------------------------------------------

# StartIDERRedirection: the OpenSession reply as a hash, or undef
sub ider_start {
    my ($self) = @_;
    $self->send(pack('C4 V v3 V', 0x40, 0, 0, 0, 0, 30000, 0, 20000, 1));
    my $r = $self->take(30) // return;
    return unless ord($r) == 0x41;
    my $oem = ord substr($r, 29, 1);
    $self->take($oem) if $oem;
    return { seq => unpack('V', substr($r, 4, 4)), major => ord(substr($r, 8, 1)),
             readbfr => unpack('v', substr($r, 16, 2)),
             writebfr => unpack('v', substr($r, 18, 2)),
             proto => ord(substr($r, 21, 1)), iana => unpack('V', substr($r, 25, 4)) };
}

1;
