package FcfhWs;

# A small WebSocket client (RFC 6455) for the tests of fcfh_webrelay, Perl
# core only, written to be able to send what browsers never do (unmasked
# frames, bad handshakes, odd fragmentation) and to see every frame the
# gateway sends.
#
#   my ($ws, $status, $h, $body) = FcfhWs->connect($port, "/webrelay.ashx?p=2&...",
#                                                  protocol => 'token');
#   $ws or die "refused: $status $body";          # $h: lower-cased headers
#   $ws->send_binary($bytes);  $ws->send_text($string);  $ws->ping('x');
#   $ws->send_frame(opcode => 2, payload => $p, fin => 0, mask => 0, rsv => 0);
#   my $f = $ws->read_frame($timeout);             # {fin, opcode, payload, masked}
#   my $data = $ws->read_data($n, $timeout);       # binary payload as a stream
#   my ($code, $reason) = $ws->expect_close($timeout);
#
# read_data() answers pings (unless auto_pong => 0) and counts the frames
# it saw by opcode in $ws->{seen}{opcode}.  Every read has a deadline.

use strict;
use warnings;

use IO::Socket::INET;
use MIME::Base64 ();
use Digest::SHA ();
use Time::HiRes qw(time sleep);
use Socket qw(SOL_SOCKET SO_RCVBUF);

our $ERROR = '';

$SIG{PIPE} = 'IGNORE';

use constant GUID => '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

# connect($port, $path, %o): o = protocol (Sec-WebSocket-Protocol), key,
# version, method, http ('HTTP/1.1'), headers ({name => value}, undef to
# leave one out: Upgrade, Connection, Sec-WebSocket-Key,
# Sec-WebSocket-Version), body, rcvbuf (bytes, set before connecting),
# timeout.  Returns ($ws or undef, status, headers, body).
sub connect {
    my ($class, $port, $path, %o) = @_;
    my $self = $class->begin($port, $path, %o) or return (undef, 0, {}, '');
    return $self->finish($o{timeout});
}

# the handshake sent, its answer not read yet (the relay answers once the
# device's channel is open): finish() reads it
sub begin {
    my ($class, $port, $path, %o) = @_;
    $ERROR = '';
    my $s;
    if ($o{rcvbuf}) {
        $s = IO::Socket::INET->new(Proto => 'tcp') or return;
        setsockopt($s, SOL_SOCKET, SO_RCVBUF, $o{rcvbuf});
        CORE::connect($s, Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')))
            or do { $ERROR = "connect: $!"; return };
    } else {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                   Proto => 'tcp', Timeout => $o{timeout} // 5)
            or do { $ERROR = "connect: $!"; return };
    }
    $s->autoflush(1);
    if ($o{ssl}) {
        # wss: the gateway's certificate is not checked (test PKI)
        require IO::Socket::SSL;
        IO::Socket::SSL->start_SSL($s, SSL_verify_mode => 0, SSL_hostname => '',
                                   Timeout => $o{timeout} // 5)
            or do { $ERROR = "tls: $IO::Socket::SSL::SSL_ERROR"; return };
    }
    my $key = $o{key} // MIME::Base64::encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my %h = ('Host' => "127.0.0.1:$port", 'Upgrade' => 'websocket', 'Connection' => 'Upgrade',
             'Sec-WebSocket-Key' => $key, 'Sec-WebSocket-Version' => $o{version} // 13,
             'Origin' => 'http://127.0.0.1');
    $h{'Sec-WebSocket-Protocol'} = $o{protocol} if defined $o{protocol};
    my $extra = $o{headers} // {};
    $h{$_} = $extra->{$_} for keys %$extra;
    my $req = ($o{method} // 'GET') . " $path " . ($o{http} // 'HTTP/1.1') . "\r\n"
            . join('', map { "$_: $h{$_}\r\n" } grep { defined $h{$_} } sort keys %h)
            . "\r\n" . ($o{body} // '');
    my $self = bless { sock => $s, buf => '', key => $key, seen => {},
                       auto_pong => 1, eof => 0, ssl => $o{ssl} }, $class;
    $self->write_raw($req) or return;
    return $self;
}

# the answer to begin(): ($ws or undef, status, headers, body)
sub finish {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while ($self->{buf} !~ /\r\n\r\n/) {
        $self->fill($deadline) or last;
    }
    my ($head, $rest) = split /\r\n\r\n/, $self->{buf}, 2;
    return (undef, 0, {}, '') unless defined $head && $head =~ m{^HTTP/1\.[01] (\d+)};
    my $status = $1;
    my %rh;
    for (split /\r\n/, $head) { $rh{lc $1} = $2 if /^([^:]+):\s*(.*?)\s*$/ }
    $self->{buf} = $rest // '';
    $self->{status} = $status;
    $self->{headers} = \%rh;
    if ($status != 101) {
        # the refusal's body: by Content-Length, else until EOF
        my $len = $rh{'content-length'};
        while (!defined $len || length($self->{buf}) < $len) {
            $self->fill($deadline) or last;
        }
        my $body = defined $len ? substr($self->{buf}, 0, $len) : $self->{buf};
        $self->close;
        return (undef, $status, \%rh, $body);
    }
    my $want = MIME::Base64::encode_base64(Digest::SHA::sha1($self->{key} . GUID), '');
    $self->{accept_ok} = (($rh{'sec-websocket-accept'} // '') eq $want) ? 1 : 0;
    return ($self, $status, \%rh, '');
}

sub sock { $_[0]{sock} }
sub eof { $_[0]{eof} }

sub close {
    my ($self) = @_;
    if (my $s = delete $self->{sock}) { close $s }
}

sub write_raw {
    my ($self, $data) = @_;
    my $s = $self->{sock} or return 0;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        unless ($n) {
            next if $!{EAGAIN};
            $ERROR = "write: $!";
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# a frame's bytes: opcode, payload, fin (1), mask (1), rsv (0),
# len16/len64 (force a longer length form)
sub frame_bytes {
    my (%o) = @_;
    my $p = $o{payload} // '';
    my $len = length $p;
    my $b0 = (($o{fin} // 1) ? 0x80 : 0) | (($o{rsv} // 0) << 4) | $o{opcode};
    my $mask = $o{mask} // 1;
    my $m = $mask ? 0x80 : 0;
    my $h = chr $b0;
    if ($len < 126 && !$o{len16} && !$o{len64}) { $h .= chr($m | $len) }
    elsif ($len <= 0xffff && !$o{len64}) { $h .= chr($m | 126) . pack('n', $len) }
    else { $h .= chr($m | 127) . pack('NN', int($len / 2**32), $len % 2**32) }
    return $h . $p unless $mask;
    my $key = $o{key} // join('', map { chr int rand 256 } 1 .. 4);
    my $mk = substr($key x (int($len / 4) + 1), 0, $len);
    return $h . $key . ($p ^ $mk);
}

sub send_frame { my ($self, %o) = @_; $self->write_raw(frame_bytes(%o)) }
sub send_binary { $_[0]->send_frame(opcode => 2, payload => $_[1]) }
sub send_text { $_[0]->send_frame(opcode => 1, payload => $_[1]) }
sub ping { $_[0]->send_frame(opcode => 9, payload => $_[1] // '') }
sub pong { $_[0]->send_frame(opcode => 10, payload => $_[1] // '') }

sub send_close {
    my ($self, $code, $reason) = @_;
    $self->send_frame(opcode => 8, payload => defined $code ? pack('n', $code) . ($reason // '') : '');
}

sub fill {
    my ($self, $deadline) = @_;
    my $s = $self->{sock} or do { $self->{eof} = 1; return 0 };
    while (1) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        unless ($self->{ssl} && $s->pending) {
            my $rin = ''; vec($rin, fileno($s), 1) = 1;
            next unless select(my $rout = $rin, undef, undef, $left < 0.2 ? $left : 0.2);
        }
        my $n = sysread($s, $self->{buf}, 262144, length $self->{buf});
        if (!$n && $self->{ssl} && !defined $n
            && ($IO::Socket::SSL::SSL_ERROR == IO::Socket::SSL::SSL_WANT_READ()
                || $IO::Socket::SSL::SSL_ERROR == IO::Socket::SSL::SSL_WANT_WRITE()))
        {
            next;
        }
        if (!$n) {
            $self->{eof} = 1;
            $self->{reset} = 1 unless defined $n;
            return 0;
        }
        return 1;
    }
}

# one frame already in the buffer, or undef
sub parse_frame {
    my ($self) = @_;
    my $b = \$self->{buf};
    return if length $$b < 2;
    my ($b0, $b1) = unpack 'C C', $$b;
    my $len = $b1 & 0x7f;
    my $off = 2;
    if ($len == 126) { return if length $$b < 4; $len = unpack 'n', substr($$b, 2, 2); $off = 4 }
    elsif ($len == 127) {
        return if length $$b < 10;
        my ($hi, $lo) = unpack 'NN', substr($$b, 2, 8);
        $len = $hi * 2**32 + $lo; $off = 10;
    }
    my $masked = $b1 & 0x80;
    my $key;
    if ($masked) { return if length $$b < $off + 4; $key = substr($$b, $off, 4); $off += 4 }
    return if length $$b < $off + $len;
    my $p = substr($$b, $off, $len);
    $p ^= substr($key x (int($len / 4) + 1), 0, $len) if $masked;
    substr($$b, 0, $off + $len, '');
    return { fin => ($b0 & 0x80) ? 1 : 0, rsv => ($b0 >> 4) & 7, opcode => $b0 & 0x0f,
             masked => $masked ? 1 : 0, payload => $p,
             header_len => $off, minimal => ($len < 126 ? $off == 2 : $len <= 0xffff ? $off == 4 : 1) };
}

# the next frame, or undef on EOF ($ws->eof) or timeout
sub read_frame {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        if (my $f = $self->parse_frame) {
            $self->{seen}{$f->{opcode}}++;
            $self->{nonminimal}++ unless $f->{minimal};
            return $f;
        }
        return if $self->{eof};
        $self->fill($deadline) or return;
    }
}

# $n bytes of the binary messages' payload (fewer on timeout, close or
# EOF); pings answered, a close frame remembered in $ws->{close}
sub read_data {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    $self->{data} //= '';
    while (length($self->{data}) < $n) {
        my $f = $self->read_frame($deadline - time) or last;
        if ($f->{opcode} == 2 || $f->{opcode} == 1 || $f->{opcode} == 0) {
            $self->{data} .= $f->{payload};
        } elsif ($f->{opcode} == 9) {
            $self->pong($f->{payload}) if $self->{auto_pong};
        } elsif ($f->{opcode} == 8) {
            $self->{close} = $f;
            last;
        }
    }
    my $got = substr($self->{data}, 0, $n);
    substr($self->{data}, 0, length $got, '');
    return $got;
}

# the close frame (code, reason), reading (and dropping) what comes
# before it; (undef) if none came
sub expect_close {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $f = $self->{close};
    while (!$f) {
        $f = $self->read_frame($deadline - time) or return;
        if ($f->{opcode} == 9 && $self->{auto_pong}) { $self->pong($f->{payload}) }
        undef $f unless $f->{opcode} == 8;
    }
    $self->{close} = $f;
    my $p = $f->{payload};
    # as a browser does: the close answered with its code
    $self->send_frame(opcode => 8, payload => substr($p, 0, 2))
        if $self->{auto_close} // 1;
    return (undef, '') if length $p < 2;
    return (unpack('n', $p), substr($p, 2));
}

# true once the gateway closed the TCP connection
sub wait_eof {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (!$self->{eof}) {
        $self->{buf} = '';
        last unless time < $deadline;
        $self->fill($deadline);
    }
    return $self->{eof};
}

# ---- AMT redirection (SOL) through the relay, as a console does it -------

sub _lp { join '', map { chr(length $_) . $_ } @_ }

# StartRedirectionSession "SOL ", Digest (RFC 2617, URI /RedirectionService),
# StartSOLRedirection: true when the session is up; $ws->{sol_error} says
# which step failed otherwise
sub sol_login {
    my ($self, $user, $password, $timeout) = @_;
    my $to = $timeout // 5;
    my $fail = sub { $self->{sol_error} = $_[0]; return 0 };
    $self->send_binary("\x10\x00\x00\x00SOL ") or return $fail->('write');
    my $r = $self->read_data(13, $to);
    return $fail->('start reply') unless length $r == 13 && ord($r) == 0x11 && ord(substr $r, 1) == 0;
    $self->send_binary("\x13\x00\x00\x00\x00" . pack('V', 0));
    $r = $self->read_data(9, $to);
    return $fail->('auth query reply') unless length $r == 9 && ord($r) == 0x14;
    my $methods = $self->read_data(unpack('V', substr $r, 5, 4), $to);
    return $fail->('no digest offered') unless index($methods, "\x04") >= 0;
    my $uri = '/RedirectionService';
    my $d = _lp($user, '', '', $uri, '', '', '', '');
    $self->send_binary("\x13\x00\x00\x00\x04" . pack('V', length $d) . $d);
    $r = $self->read_data(9, $to);
    return $fail->('challenge') unless length $r == 9 && ord($r) == 0x14 && ord(substr $r, 1) == 1;
    my $c = $self->read_data(unpack('V', substr $r, 5, 4), $to);
    my @el;
    while (length $c) { my $n = ord $c; push @el, substr($c, 1, $n); substr($c, 0, 1 + $n, '') }
    my ($realm, $nonce, $qop) = @el;
    require Digest::MD5;
    my $cnonce = sprintf '%08x', int rand 2**31;
    my $nc = '00000001';
    my $ha1 = Digest::MD5::md5_hex("$user:$realm:$password");
    my $ha2 = Digest::MD5::md5_hex("POST:$uri");
    my $resp = Digest::MD5::md5_hex("$ha1:$nonce:$nc:$cnonce:" . ($qop // 'auth') . ":$ha2");
    $d = _lp($user, $realm, $nonce, $uri, $cnonce, $nc, $resp, $qop // 'auth');
    $self->send_binary("\x13\x00\x00\x00\x04" . pack('V', length $d) . $d);
    $r = $self->read_data(9, $to);
    return $fail->('digest refused') unless length $r == 9 && ord($r) == 0x14 && ord(substr $r, 1) == 0;
    $self->send_binary("\x20\x00\x00\x00" . pack('V', 1)
                       . pack('v6', 10000, 100, 0, 10000, 100, 0) . pack('V', 0));
    $r = $self->read_data(23, $to);
    return $fail->('SOL start reply') unless length $r == 23 && ord($r) == 0x21 && ord(substr $r, 1) == 0;
    return 1;
}

# console -> host data (0x28)
sub sol_send {
    my ($self, $data, %o) = @_;
    my $msg = "\x28\x00\x00\x00" . pack('V', 0) . pack('v', length $data) . $data;
    return $self->send_binary($msg) unless $o{text};
    # a browser sends the one-byte characters of the string as UTF-8
    utf8::upgrade($msg);
    utf8::encode($msg);
    return $self->send_text($msg);
}

# $n bytes of host -> console data (0x2A messages), keepalives skipped
sub sol_read {
    my ($self, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $out = '';
    while (length $out < $n && time < $deadline) {
        my $h = $self->read_data(1, $deadline - time);
        last unless length $h;
        my $t = ord $h;
        if ($t == 0x2a) {
            my $rest = $self->read_data(9, $deadline - time);
            last unless length $rest == 9;
            my $len = unpack 'v', substr($rest, 7, 2);
            $out .= $self->read_data($len, $deadline - time);
        } elsif ($t == 0x25 || $t == 0x2b) {
            $self->read_data(7, $deadline - time);
        } else {
            $self->{sol_error} = sprintf 'unexpected message 0x%02x', $t;
            last;
        }
    }
    return $out;
}

sub DESTROY { $_[0]->close }

1;
