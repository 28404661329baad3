package FcfhApf;

# A small scripted APF (AMT Port Forwarding) device for integration tests.
#
#   my $c = FcfhApf->connect($port, cert => ..., key => ..., ssl_version => 'TLSv1');
#   my $got = $c->handshake($guid, 'admin', 'P@ssw0rd', [16992, 16993], 'dev.example');
#   $c->send(keepalive_request(7));   my $m = $c->read_msg(2);   # {type => 209, cookie => 7}
#   is($c->expect_disconnect, 16);
#
# Encoders are plain functions returning the wire bytes of one device->gateway
# message; send() writes any concatenation of them (or raw bytes) at once,
# send_split() writes one byte per TLS record.

use strict;
use warnings;

use Exporter qw(import);
use IO::Socket::INET;
use IO::Socket::SSL;
use Time::HiRes qw(time sleep);
use Scalar::Util qw(refaddr weaken);

use constant {
    DISCONNECT => 1, SERVICE_REQUEST => 5, SERVICE_ACCEPT => 6,
    USERAUTH_REQUEST => 50, USERAUTH_FAILURE => 51, USERAUTH_SUCCESS => 52,
    GLOBAL_REQUEST => 80, REQUEST_SUCCESS => 81, REQUEST_FAILURE => 82,
    CHANNEL_OPEN => 90, CHANNEL_OPEN_CONFIRMATION => 91, CHANNEL_OPEN_FAILURE => 92,
    CHANNEL_WINDOW_ADJUST => 93, CHANNEL_DATA => 94, CHANNEL_CLOSE => 97,
    PROTOCOLVERSION => 192, KEEPALIVE_REQUEST => 208, KEEPALIVE_REPLY => 209,
    KEEPALIVE_OPTIONS_REQUEST => 210, KEEPALIVE_OPTIONS_REPLY => 211,
    AUTH_SERVICE => 'auth@amt.intel.com', PFWD_SERVICE => 'pfwd@amt.intel.com',
};

our @EXPORT_OK = qw(
    DISCONNECT SERVICE_REQUEST SERVICE_ACCEPT USERAUTH_REQUEST USERAUTH_FAILURE
    USERAUTH_SUCCESS GLOBAL_REQUEST REQUEST_SUCCESS REQUEST_FAILURE CHANNEL_OPEN
    CHANNEL_OPEN_CONFIRMATION CHANNEL_OPEN_FAILURE CHANNEL_WINDOW_ADJUST CHANNEL_DATA
    CHANNEL_CLOSE PROTOCOLVERSION KEEPALIVE_REQUEST KEEPALIVE_REPLY
    KEEPALIVE_OPTIONS_REQUEST KEEPALIVE_OPTIONS_REPLY AUTH_SERVICE PFWD_SERVICE
    guid_to_wire wire_to_guid apf_string
    protocolversion service_request userauth_password userauth_none userauth_raw
    global_request global_forward global_cancel global_udp
    keepalive_request keepalive_reply keepalive_options_reply
    channel_open channel_confirm channel_failure channel_data channel_window
    channel_close disconnect
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

our $ERROR = '';
our %LIVE;          # every open client (weak), so the harness can close them

# Close every client still open (the harness does this before stopping
# nginx: a tunnel left open keeps a gracefully exiting worker alive).
sub close_all { $_ && $_->close for values %LIVE; %LIVE = () }
our $TIMEOUT = 5;

$SIG{PIPE} = 'IGNORE';

# ---- GUIDs ----------------------------------------------------------------

# text 4c4c4544-004b-4210-8033-b6c04f504633 <-> wire 44454c4c4b0010428033b6c04f504633
sub guid_to_wire {
    my ($text) = @_;
    (my $hex = lc $text) =~ s/-//g;
    die "bad guid '$text'\n" unless $hex =~ /^[0-9a-f]{32}$/;
    my $b = pack 'H32', $hex;
    return reverse(substr($b, 0, 4)) . reverse(substr($b, 4, 2))
         . reverse(substr($b, 6, 2)) . substr($b, 8);
}

sub wire_to_guid {
    my ($b) = @_;
    my $w = reverse(substr($b, 0, 4)) . reverse(substr($b, 4, 2))
          . reverse(substr($b, 6, 2)) . substr($b, 8, 8);
    my $h = unpack 'H32', $w;
    return join '-', substr($h, 0, 8), substr($h, 8, 4), substr($h, 12, 4),
                     substr($h, 16, 4), substr($h, 20);
}

# ---- encoders (device -> gateway) ----------------------------------------

sub apf_string { pack 'N/a*', $_[0] // '' }

sub protocolversion {
    my ($guid, $trigger, $major, $minor) = @_;
    return pack('C N N N', PROTOCOLVERSION, $major // 1, $minor // 0, $trigger // 1)
         . guid_to_wire($guid) . ("\0" x 64);
}

sub service_request { pack('C', SERVICE_REQUEST) . apf_string($_[0]) }

sub userauth_raw {
    my ($user, $service, $method, $rest) = @_;
    return pack('C', USERAUTH_REQUEST) . apf_string($user) . apf_string($service)
         . apf_string($method) . ($rest // '');
}

sub userauth_password {
    my ($user, $password, $service) = @_;
    return userauth_raw($user, $service // PFWD_SERVICE, 'password',
                        "\0" . apf_string($password));
}

sub userauth_none {
    my ($user, $service) = @_;
    return userauth_raw($user, $service // PFWD_SERVICE, 'none');
}

sub global_request {
    my ($name, $want_reply, $body) = @_;
    return pack('C', GLOBAL_REQUEST) . apf_string($name) . pack('C', $want_reply // 1)
         . ($body // '');
}

sub global_forward {
    my ($addr, $port, $want_reply) = @_;
    return global_request('tcpip-forward', $want_reply // 1, apf_string($addr) . pack('N', $port));
}

sub global_cancel {
    my ($addr, $port, $want_reply) = @_;
    return global_request('cancel-tcpip-forward', $want_reply // 1,
                          apf_string($addr) . pack('N', $port));
}

sub global_udp {
    my ($addr, $port, $oaddr, $oport, $data, $want_reply) = @_;
    return global_request('udp-send-to@amt.intel.com', $want_reply // 0,
        apf_string($addr) . pack('N', $port) . apf_string($oaddr) . pack('N', $oport)
        . apf_string($data));
}

sub keepalive_request       { pack 'C N', KEEPALIVE_REQUEST, $_[0] }
sub keepalive_reply         { pack 'C N', KEEPALIVE_REPLY, $_[0] }
sub keepalive_options_reply { pack 'C N N', KEEPALIVE_OPTIONS_REPLY, $_[0], $_[1] }

sub channel_open {
    my ($type, $sender, $window, $caddr, $cport, $oaddr, $oport) = @_;
    return pack('C', CHANNEL_OPEN) . apf_string($type)
         . pack('N N N', $sender, $window, 0xffffffff)
         . apf_string($caddr) . pack('N', $cport) . apf_string($oaddr) . pack('N', $oport);
}

sub channel_confirm {
    my ($recipient, $sender, $window) = @_;
    return pack 'C N N N N', CHANNEL_OPEN_CONFIRMATION, $recipient, $sender, $window, 0xffffffff;
}

sub channel_failure { pack 'C N N N N', CHANNEL_OPEN_FAILURE, $_[0], $_[1], 0, 0 }
sub channel_window  { pack 'C N N', CHANNEL_WINDOW_ADJUST, $_[0], $_[1] }
sub channel_data    { pack('C N', CHANNEL_DATA, $_[0]) . apf_string($_[1]) }
sub channel_close   { pack 'C N', CHANNEL_CLOSE, $_[0] }
sub disconnect      { pack 'C N n', DISCONNECT, $_[0], 0 }

# ---- connection -----------------------------------------------------------

# connect($port, ssl => 1, cert =>, key =>, ssl_version =>, cipher_list =>,
#         proxy => "PROXY TCP4 ...\r\n", timeout =>)
sub connect {
    my ($class, $port, %o) = @_;
    $ERROR = '';
    my $timeout = $o{timeout} // $TIMEOUT;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => $timeout);
    unless ($sock) { $ERROR = "connect: $!"; return }
    if (defined $o{proxy}) {
        syswrite($sock, $o{proxy}) == length $o{proxy} or do { $ERROR = "proxy: $!"; return };
    }
    if ($o{ssl} // 1) {
        my %ssl = (
            SSL_verify_mode => SSL_VERIFY_NONE,
            SSL_hostname => '',                   # AMT sends no SNI
            Timeout => $timeout,
        );
        $ssl{SSL_cert_file} = $o{cert} if $o{cert};
        $ssl{SSL_key_file} = $o{key} if $o{key};
        $ssl{SSL_version} = $o{ssl_version} if $o{ssl_version};
        $ssl{SSL_cipher_list} = $o{cipher_list} if $o{cipher_list};
        if ($o{ca}) { $ssl{SSL_ca_file} = $o{ca}; $ssl{SSL_verify_mode} = SSL_VERIFY_PEER }
        IO::Socket::SSL->start_SSL($sock, %ssl) or do {
            $ERROR = "tls: " . ($SSL_ERROR || $!);
            return;
        };
    }
    my $self = bless { sock => $sock, buf => '', pending => [], eof => 0,
                       ssl => ($o{ssl} // 1), port => $port }, $class;
    $LIVE{refaddr $self} = $self;
    weaken $LIVE{refaddr $self};
    return $self;
}

sub sock { $_[0]{sock} }
sub eof  { $_[0]{eof} }

sub tls_version { my $s = $_[0]{sock}; $s->can('get_sslversion') ? $s->get_sslversion : undef }

sub close {
    my ($self) = @_;
    delete $LIVE{refaddr $self};
    if (my $s = delete $self->{sock}) { $self->{ssl} ? $s->close(SSL_fast_shutdown => 1) : $s->close }
}

# Remember what a REQUEST_SUCCESS will answer (port after a forward, none after a cancel).
sub note_sent {
    my ($self, $msg) = @_;
    return unless length($msg) >= 5 && ord($msg) == GLOBAL_REQUEST;
    my $len = unpack 'N', substr($msg, 1, 4);
    return if $len > 64 || length($msg) < 5 + $len;
    my $name = substr($msg, 5, $len);
    push @{$self->{pending}}, $name eq 'tcpip-forward' ? 'port' : 'none';
}

sub send {
    my ($self, @msgs) = @_;
    $self->note_sent($_) for @msgs;
    return $self->write_raw(join '', @msgs);
}

sub write_raw {
    my ($self, $data) = @_;
    my $s = $self->{sock} or return 0;
    $s->blocking(1);
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

# one byte per write (per TLS record over TLS)
sub send_split {
    my ($self, $data, $pause) = @_;
    $self->note_sent($data);
    for my $i (0 .. length($data) - 1) {
        $self->write_raw(substr($data, $i, 1)) or return 0;
        sleep($pause // 0.002) if $pause // 1;
    }
    return 1;
}

sub fill {
    my ($self, $deadline) = @_;
    my $s = $self->{sock} or do { $self->{eof} = 1; return 0 };
    while (1) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        unless ($self->{ssl} && $s->pending) {
            my $rin = ''; vec($rin, fileno($s), 1) = 1;
            next unless select($rin, undef, undef, $left < 0.2 ? $left : 0.2);
        }
        $s->blocking(0);
        my $n = sysread($s, $self->{buf}, 65536, length $self->{buf});
        $s->blocking(1);
        return 1 if $n;
        if (defined $n) { $self->{eof} = 1; return 0 }
        next if $!{EAGAIN} || $!{EWOULDBLOCK}
             || ($self->{ssl} && ($SSL_ERROR == SSL_WANT_READ || $SSL_ERROR == SSL_WANT_WRITE));
        $self->{eof} = 1;             # reset, TLS alert, ...
        $self->{error} = $self->{ssl} ? "$SSL_ERROR" : "$!";
        return 0;
    }
}

sub need { length($_[0]{buf}) >= $_[1] }

sub take_string {
    my ($self, $off) = @_;
    return unless $self->need($off + 4);
    my $len = unpack 'N', substr($self->{buf}, $off, 4);
    return unless $self->need($off + 4 + $len);
    return (substr($self->{buf}, $off + 4, $len), $off + 4 + $len);
}

# One gateway->device message from the buffer, or undef when incomplete.
sub parse_one {
    my ($self) = @_;
    return unless length $self->{buf};
    my $t = ord $self->{buf};
    my ($m, $used) = ({ type => $t }, 0);
    my $u = sub { unpack 'N', substr($self->{buf}, $_[0], 4) };
    if ($t == DISCONNECT) {
        return unless $self->need(7);
        $m->{reason} = $u->(1); $used = 7;
    } elsif ($t == SERVICE_ACCEPT) {
        (my $s, $used) = $self->take_string(1) or return;
        $m->{service} = $s;
    } elsif ($t == USERAUTH_FAILURE) {
        my ($s, $o) = $self->take_string(1) or return;
        return unless $self->need($o + 1);
        $m->{methods} = $s; $m->{partial} = ord substr($self->{buf}, $o, 1); $used = $o + 1;
    } elsif ($t == USERAUTH_SUCCESS || $t == REQUEST_FAILURE) {
        shift @{$self->{pending}} if $t == REQUEST_FAILURE;
        $used = 1;
    } elsif ($t == REQUEST_SUCCESS) {
        my $kind = $self->{pending}[0] // (length($self->{buf}) >= 5 ? 'port' : 'none');
        if ($kind eq 'port') { return unless $self->need(5); $m->{port} = $u->(1); $used = 5 }
        else { $used = 1 }
        shift @{$self->{pending}};
    } elsif ($t == CHANNEL_OPEN) {
        my ($ty, $o) = $self->take_string(1) or return;
        return unless $self->need($o + 12);
        @$m{qw(channel_type sender window)} = ($ty, $u->($o), $u->($o + 4));
        my ($a, $o2) = $self->take_string($o + 12) or return;
        return unless $self->need($o2 + 4);
        @$m{qw(connected_addr connected_port)} = ($a, $u->($o2));
        my ($oa, $o3) = $self->take_string($o2 + 4) or return;
        return unless $self->need($o3 + 4);
        @$m{qw(originator_addr originator_port)} = ($oa, $u->($o3));
        $used = $o3 + 4;
    } elsif ($t == CHANNEL_OPEN_CONFIRMATION) {
        return unless $self->need(17);
        @$m{qw(recipient sender window)} = map { $u->($_) } 1, 5, 9; $used = 17;
    } elsif ($t == CHANNEL_OPEN_FAILURE) {
        return unless $self->need(17);
        @$m{qw(recipient reason)} = map { $u->($_) } 1, 5; $used = 17;
    } elsif ($t == CHANNEL_WINDOW_ADJUST) {
        return unless $self->need(9);
        @$m{qw(recipient bytes)} = map { $u->($_) } 1, 5; $used = 9;
    } elsif ($t == CHANNEL_DATA) {
        return unless $self->need(5);
        $m->{recipient} = $u->(1);
        (my $d, $used) = $self->take_string(5) or return;
        $m->{data} = $d;
    } elsif ($t == CHANNEL_CLOSE) {
        return unless $self->need(5);
        $m->{recipient} = $u->(1); $used = 5;
    } elsif ($t == KEEPALIVE_REQUEST || $t == KEEPALIVE_REPLY) {
        return unless $self->need(5);
        $m->{cookie} = $u->(1); $used = 5;
    } elsif ($t == KEEPALIVE_OPTIONS_REQUEST) {
        return unless $self->need(9);
        @$m{qw(interval timeout)} = map { $u->($_) } 1, 5; $used = 9;
    } else {
        $m->{raw} = $self->{buf}; $used = length $self->{buf};   # unknown: take it all
    }
    substr($self->{buf}, 0, $used, '');
    return $m;
}

# Next gateway->device message, or undef on EOF ($c->eof) or timeout ($c->{timed_out}).
sub read_msg {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $TIMEOUT);
    $self->{timed_out} = 0;
    while (1) {
        my $m = $self->parse_one;
        if ($m && $m->{type} == KEEPALIVE_OPTIONS_REQUEST && $self->{options_fatal}) {
            # MeshCentral's APF client: "CMD: 210 is not implemented", close
            $self->{options_refused} = 1;
            $self->close;
            $self->{eof} = 1;
            return;
        }
        if ($m) {
            push @{$self->{seen}}, $m;
            $self->{disconnect} //= $m->{reason} if $m->{type} == DISCONNECT;
            return $m;
        }
        return if $self->{eof};
        unless ($self->fill($deadline)) {
            $self->{timed_out} = 1 unless $self->{eof};
            return unless $self->{eof} && length $self->{buf};
        }
    }
}

# Read until DISCONNECT (returns its reason) or EOF/timeout (returns undef).
# The messages read are in $c->{before_disconnect}. A DISCONNECT already read
# (e.g. by handshake()) counts.
sub expect_disconnect {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $TIMEOUT);
    $self->{before_disconnect} = [];
    return $self->{disconnect} if defined $self->{disconnect};
    while (my $m = $self->read_msg($deadline - time)) {
        return $m->{reason} if $m->{type} == DISCONNECT;
        push @{$self->{before_disconnect}}, $m;
    }
    return;
}

# True once the gateway closed the connection (anything still sent is discarded).
sub wait_closed {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // $TIMEOUT);
    while (time < $deadline) {
        return 1 if $self->{eof};
        $self->{buf} = '';
        $self->fill($deadline);
    }
    return $self->{eof};
}

# Whole device handshake. Returns an arrayref of the messages received;
# $c->{established} tells whether every step succeeded.
# Options: method => 'password'|'none', trigger => N, split => pause-seconds,
#          timeout => per-step seconds, pipeline => 1 (send everything at once),
#          want_reply => 0|1 on the forwards (1),
#          options => 1|0: wait for KEEPALIVE_OPTIONS_REQUEST after the
#          forwards (the gateway's default sends it after the one for 5900,
#          so: whether 5900 is among the ports),
#          options_fatal => 1: close the connection on a KEEPALIVE_OPTIONS_REQUEST,
#          now or later, as MeshCentral's APF client does ($c->{options_refused}).
sub handshake {
    my ($self, $guid, $user, $password, $ports, $fqdn, %o) = @_;
    $ports //= [];
    my $to = $o{timeout} // $TIMEOUT;
    my $want_options = $o{options} // scalar grep { $_ == 5900 } @$ports;
    $self->{options_fatal} = 1 if $o{options_fatal};
    my @got;
    my $send = defined $o{split}
        ? sub { $self->send_split(join('', @_), $o{split}) } : sub { $self->send(@_) };
    my $step = sub {
        my ($want) = @_;
        my $m = $self->read_msg($to) or return 0;
        push @got, $m;
        return $m->{type} == $want;
    };
    my $auth = ($o{method} // 'password') eq 'none'
        ? userauth_none($user) : userauth_password($user, $password);
    my @fwd = map { global_forward($fqdn // '', $_, $o{want_reply} // 1) } @$ports;
    $self->{established} = 0;

    if ($o{pipeline}) {
        $send->(protocolversion($guid, $o{trigger}), service_request(AUTH_SERVICE), $auth,
                service_request(PFWD_SERVICE), @fwd) or return \@got;
        $step->(SERVICE_ACCEPT) && $step->(USERAUTH_SUCCESS) && $step->(SERVICE_ACCEPT)
            or return \@got;
    } else {
        $send->(protocolversion($guid, $o{trigger}), service_request(AUTH_SERVICE))
            or return \@got;
        $step->(SERVICE_ACCEPT) or return \@got;
        $send->($auth) or return \@got;
        $step->(USERAUTH_SUCCESS) or return \@got;
        $send->(service_request(PFWD_SERVICE)) or return \@got;
        $step->(SERVICE_ACCEPT) or return \@got;
        if (@fwd) { $send->(@fwd) or return \@got }
    }
    my ($ok, $ka) = (0, !@fwd || !$want_options);
    while ($ok < @fwd || !$ka) {
        my $m = $self->read_msg($to) or last;
        push @got, $m;
        if ($m->{type} == REQUEST_SUCCESS) { $ok++ }
        elsif ($m->{type} == KEEPALIVE_OPTIONS_REQUEST) {
            $ka = 1;
            $self->send(keepalive_options_reply($m->{interval}, $m->{timeout}));
        } else { last }
    }
    $self->{established} = ($ok == @fwd && $ka) ? 1 : 0;
    return \@got;
}

# Send KEEPALIVE_REQUEST and wait for the echo; true if it came back.
sub ping {
    my ($self, $cookie, $timeout) = @_;
    $cookie //= int(rand(0xfffffff));
    $self->send(keepalive_request($cookie)) or return 0;
    while (my $m = $self->read_msg($timeout // $TIMEOUT)) {
        return 1 if $m->{type} == KEEPALIVE_REPLY && $m->{cookie} == $cookie;
    }
    return 0;
}

sub DESTROY { $_[0]->close }

1;
