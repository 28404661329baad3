package FcfhDns;

# A tiny DNS answerer on loopback UDP for the tests, in a child process:
#
#   my $dns = FcfhDns->start($dir);        # listens on 127.0.0.1:<port>
#   $dns->set('hooks.fcfh.test' => '127.0.0.1', 'two.test' => '127.0.0.1,127.0.0.2');
#   ... resolver 127.0.0.1:$dns->{port} ...
#   $dns->queries;                         # ["hooks.fcfh.test A", ...]
#   $dns->stop;
#
# It answers A queries for the names set (TTL 0), an empty answer for
# other types of those names, NXDOMAIN for every other name.  The names
# live in a file it reads at each query, so set() takes effect at once.
# It only ever listens on 127.0.0.1 and sends only to whoever asked.

use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();

sub start {
    my ($class, $dir) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Proto => 'udp') or die "dns socket: $!";
    my $self = bless { port => $sock->sockport, names => "$dir/dns.names",
                       log => "$dir/dns.queries", owner => $$ }, $class;
    $self->set();
    open my $lf, '>', $self->{log} or die "dns log: $!";
    close $lf;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        serve($self, $sock);
        POSIX::_exit(0);
    }
    close $sock;
    $self->{pid} = $pid;
    return $self;
}

sub port { $_[0]{port} }

sub set {
    my ($self, %names) = @_;
    my $tmp = "$self->{names}.tmp";
    open my $f, '>', $tmp or die "dns names: $!";
    print $f "$_ $names{$_}\n" for sort keys %names;
    close $f;
    rename $tmp, $self->{names} or die "dns names: $!";
}

sub queries {
    my ($self) = @_;
    open my $f, '<', $self->{log} or return [];
    chomp(my @q = <$f>);
    return \@q;
}

sub stop {
    my ($self) = @_;
    # only the test that started it: not a child the test forked
    return unless $self->{pid} && $self->{owner} == $$;
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

sub names {
    my ($self) = @_;
    my %n;
    open my $f, '<', $self->{names} or return \%n;
    while (<$f>) {
        chomp;
        my ($name, $addrs) = split / /, $_, 2;
        $n{lc $name} = [ split /,/, $addrs // '' ];
    }
    return \%n;
}

sub serve {
    my ($self, $sock) = @_;
    while (1) {
        my $from = $sock->recv(my $q, 512) // next;
        next if length $q < 17;
        my ($id, $flags, $qd) = unpack 'n n n', $q;
        next if ($flags & 0x8000) || $qd != 1;
        # the question: labels, then type and class
        my ($pos, @labels) = (12);
        while ($pos < length $q) {
            my $len = ord substr($q, $pos, 1);
            $pos++;
            last if $len == 0;
            push @labels, substr($q, $pos, $len);
            $pos += $len;
        }
        next if $pos + 4 > length $q;
        my ($qtype, $qclass) = unpack 'n n', substr($q, $pos, 4);
        my $question = substr($q, 12, $pos + 4 - 12);
        my $name = lc join '.', @labels;
        my $addrs = $self->names->{$name};

        if (open my $lf, '>>', $self->{log}) {
            print $lf "$name " . ($qtype == 1 ? 'A' : $qtype == 28 ? 'AAAA' : $qtype) . "\n";
            close $lf;
        }

        my @answers;
        my $rcode = 0;
        if (!$addrs) {
            $rcode = 3;
        } elsif ($qtype == 1 && $qclass == 1) {
            for my $a (@$addrs) {
                push @answers, pack('n n n N n', 0xc00c, 1, 1, 0, 4)
                               . pack('C4', split /\./, $a);
            }
        }
        my $head = pack 'n n n n n n', $id, 0x8180 | ($flags & 0x0100) | $rcode,
                        1, scalar @answers, 0, 0;
        $sock->send($head . $question . join('', @answers), 0, $from);
    }
}

1;
