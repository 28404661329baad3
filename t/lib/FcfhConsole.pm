package FcfhConsole;

# Small raw console clients for the fcfh_proxy front door (SOCKS5 and HTTP
# CONNECT), written for the tests: no dependency beyond IO::Socket::INET.
#
#   my ($s, $rep, $got) = socks5_open($port, $guid, 16992);     # $rep 0 = success
#   my ($s, $status, $head, $body) = connect_open($port, "$guid:16992");
#   my ($bytes, $closed) = exchange($port, $raw_bytes, $timeout);
#   my $data = read_exact($s, $n, $timeout);  my ($data, $eof) = read_to_eof($s, $timeout);
#   pattern_ok($offset, $data)                 # BULK pattern check at any offset
#
# Every function uses deadlines (select), never blocking reads without one.

use strict;
use warnings;

use Exporter qw(import);
use IO::Socket::INET;
use Socket qw(SHUT_WR);
use MIME::Base64 ();
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(socks5_open socks5_begin socks5_finish socks5_request_bytes
                    connect_open connect_begin connect_finish exchange
                    read_exact read_to_eof read_some send_all wait_eof
                    pattern_ok bulk_pattern hexs tcp_connect);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

our $ERROR = '';

$SIG{PIPE} = 'IGNORE';

sub hexs { join ' ', map { sprintf '%02x', ord } split //, $_[0] // '' }

# $rcvbuf: a small receive buffer set before connecting (a slow console
# whose kernel does not absorb what the gateway sends)
sub tcp_connect {
    my ($port, $timeout, $rcvbuf) = @_;
    my $s;
    if ($rcvbuf) {
        $s = IO::Socket::INET->new(Proto => 'tcp') or return;
        setsockopt($s, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), $rcvbuf);
        $s = undef unless connect($s, Socket::pack_sockaddr_in($port,
                                          Socket::inet_aton('127.0.0.1')));
    } else {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                   Proto => 'tcp', Timeout => $timeout // 5);
    }
    $ERROR = "connect: $!" unless $s;
    $s->autoflush(1) if $s;
    return $s;
}

sub send_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# Up to $max bytes that arrive before the deadline (one read); '' on timeout,
# undef on EOF/error.
sub read_some {
    my ($s, $max, $timeout) = @_;
    my $rin = ''; vec($rin, fileno($s), 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $timeout);
    return '' unless $n;
    my $buf = '';
    my $r = sysread($s, $buf, $max);
    return undef unless $r;
    return $buf;
}

# Exactly $n bytes, or fewer if EOF/timeout came first.
sub read_exact {
    my ($s, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $buf = '';
    while (length($buf) < $n) {
        my $left = $deadline - time;
        last if $left <= 0;
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, $left < 0.2 ? $left : 0.2);
        my $r = sysread($s, $buf, $n - length($buf), length $buf);
        last unless $r;
    }
    return $buf;
}

# Everything until EOF: (data, 1) on EOF, (data, 0) on timeout or when more
# than $max bytes came; (data, 2) on a read error (reset).
sub read_to_eof {
    my ($s, $timeout, $max) = @_;
    my $deadline = time + ($timeout // 5);
    my $buf = '';
    while (1) {
        my $left = $deadline - time;
        return ($buf, 0) if $left <= 0;
        return ($buf, 0) if defined $max && length($buf) > $max;
        my $rin = ''; vec($rin, fileno($s), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, $left < 0.2 ? $left : 0.2);
        my $r = sysread($s, $buf, 65536, length $buf);
        return ($buf, 1) if defined $r && $r == 0;
        return ($buf, 2) unless defined $r;
    }
}

# True once the peer closed (any bytes are discarded), false on timeout.
sub wait_eof {
    my ($s, $timeout) = @_;
    my (undef, $eof) = read_to_eof($s, $timeout, 1 << 20);
    return $eof;
}

# Send raw bytes on a fresh connection, read until EOF: (bytes, closed).
sub exchange {
    my ($port, $bytes, $timeout, %o) = @_;
    my $s = tcp_connect($port) or return ('', 0);
    if ($o{bytewise}) {
        for my $ch (split //, $bytes) { send_all($s, $ch) or last; sleep($o{pause} // 0.005) }
    } else {
        send_all($s, $bytes);
    }
    shutdown($s, SHUT_WR) if $o{shutdown};
    my ($got, $eof) = read_to_eof($s, $timeout // 5, 1 << 20);
    close $s;
    return ($got, $eof);
}

sub socks5_request_bytes {
    my ($host, $port, $cmd) = @_;
    return pack('C4', 5, $cmd // 1, 0, 3) . pack('C/a*', $host) . pack('n', $port);
}

# SOCKS5 up to the sent request: greeting, method, optional RFC 1929, then
# the CONNECT request (ATYP domain). Returns the socket, or undef with
# ($ERROR, and the bytes received in $LAST).
our $LAST = '';
sub socks5_begin {
    my ($port, $host, $dport, %o) = @_;
    my $to = $o{timeout} // 5;
    $LAST = '';
    my $s = tcp_connect($port, $to, $o{rcvbuf}) or return;
    my @m = @{ $o{methods} // (defined $o{user} ? [2] : [0]) };
    send_all($s, pack('C C C*', 5, scalar @m, @m));
    my $got = read_exact($s, 2, $to);
    $LAST = $got;
    if ($got ne "\x05\x00" && $got ne "\x05\x02") {
        $ERROR = "method reply: " . hexs($got);
        return;
    }
    if ($got eq "\x05\x02") {
        send_all($s, pack('C C/a* C/a*', 1, $o{user} // '', $o{pass} // ''));
        $got = read_exact($s, 2, $to);
        $LAST .= $got;
        if ($got ne "\x01\x00") {
            $ERROR = "auth reply: " . hexs($got);
            return;
        }
    }
    send_all($s, socks5_request_bytes($host, $dport));
    return $s;
}

# The 10-byte reply: ($rep, $bytes); $rep undef when it did not come whole.
sub socks5_finish {
    my ($s, $timeout) = @_;
    my $got = read_exact($s, 10, $timeout // 5);
    if (length($got) != 10 || substr($got, 0, 1) ne "\x05") {
        $ERROR = "reply: " . hexs($got);
        return (undef, $got);
    }
    return (ord substr($got, 1, 1), $got);
}

# SOCKS5 CONNECT to host:port. Options: user, pass, methods (arrayref of
# method bytes to offer), timeout, reply_timeout. Returns ($sock, $rep, $all
# bytes received, $raw sock); $sock only when REP is 0.
sub socks5_open {
    my ($port, $host, $dport, %o) = @_;
    my $s = socks5_begin($port, $host, $dport, %o) or return (undef, undef, $LAST);
    my ($rep, $got) = socks5_finish($s, $o{reply_timeout} // $o{timeout});
    return (undef, undef, $LAST . $got, $s) unless defined $rep;
    return ($rep == 0 ? $s : undef, $rep, $LAST . $got, $s);
}

# HTTP CONNECT request sent; returns the socket.
sub connect_begin {
    my ($port, $authority, %o) = @_;
    my $s = tcp_connect($port) or return;
    my $req = "CONNECT $authority HTTP/" . ($o{version} // '1.1') . "\r\nHost: $authority\r\n";
    $req .= "Proxy-Authorization: Basic " . MIME::Base64::encode_base64($o{auth}, '') . "\r\n"
        if defined $o{auth};
    $req .= $o{headers} // '';
    send_all($s, "$req\r\n");
    return $s;
}

# The answer head (read byte by byte: nothing of the tunnel is consumed):
# ($status, $head, $body); $body (up to EOF) only for a non-200 answer.
sub connect_finish {
    my ($s, $timeout) = @_;
    my $head = '';
    my $deadline = time + ($timeout // 5);
    while ($head !~ /\r?\n\r?\n\z/) {
        my $c = read_exact($s, 1, $deadline - time);
        last unless length $c;
        $head .= $c;
        last if length($head) > 16384;
    }
    my ($status) = $head =~ m{^HTTP/1\.[01] (\d{3}) };
    return ($status, $head, '') if defined $status && $status == 200;
    my ($body) = read_to_eof($s, $timeout // 5, 1 << 16);
    $ERROR = "CONNECT answer: $head";
    return ($status, $head, $body);
}

# HTTP CONNECT. Options: auth ("user:pass", Basic), version (default 1.1),
# headers (extra text), timeout. Returns ($sock, $status, $head, $body):
# $sock when 200; else $body is everything up to EOF.
sub connect_open {
    my ($port, $authority, %o) = @_;
    my $s = connect_begin($port, $authority, %o) or return (undef, undef, '', '');
    my ($status, $head, $body) = connect_finish($s, $o{reply_timeout} // $o{timeout});
    return ($s, $status, $head, '') if defined $status && $status == 200;
    close $s;
    return (undef, $status, $head, $body);
}

# ---- the simulator's BULK pattern ----------------------------------------

my $PAT = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+' . "\n";
my $BLOCK = $PAT x 4096;       # 256 KiB

sub bulk_pattern {
    my ($n) = @_;
    my $full = $PAT x int($n / 64);
    return $full . substr($PAT, 0, $n % 64);
}

# Does $data equal the pattern bytes at stream offset $off?
sub pattern_ok {
    my ($off, $data) = @_;
    my $pos = 0;
    my $len = length $data;
    while ($pos < $len) {
        my $phase = ($off + $pos) % 64;
        my $n = length($BLOCK) - 64;
        $n = $len - $pos if $n > $len - $pos;
        return 0 unless substr($data, $pos, $n) eq substr($BLOCK, $phase, $n);
        $pos += $n;
    }
    return 1;
}

1;
