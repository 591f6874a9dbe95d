%%% @doc A UDP socket with Don't-Fragment, the kernel's path MTU, ICMP
%%% Packet-Too-Big reports and batched sends (implemented in Rust, in the
%%% `plpmtud_nif' library), plus Don't-Fragment, the kernel's path MTU and
%%% DF-off sends on a gen_udp socket. Needs no Elixir; `PLPMTUD.Socket' is
%%% its Elixir face, with the same functions, options and messages.
%%%
%%% Like gen_udp, a socket belongs to its controlling process (the opener,
%%% or whoever {@link controlling_process/2} names): it receives the
%%% socket's messages, and the socket closes when that process exits. A
%%% socket also closes with {@link close/1}; dropping the last reference
%%% without either keeps it open, as with gen_udp. The socket's reader
%%% process (see "How it receives") is linked to the controlling process as
%%% gen_udp's port is: if it is killed, the socket closes and the owner gets
%%% the exit signal (`{'EXIT', Reader, Reason}' when it traps exits);
%%% {@link close/1} and the owner's own exit send none. The reader's group
%%% leader is `user''s, so stopping the application of the process that
%%% opened the socket leaves it alone.
%%%
%%% == Messages ==
%%% To the controlling process (the same terms in Erlang and Elixir;
%%% `nil' is the atom `nil'):
%%% <ul>
%%% <li>`{plpmtud_udp, Socket, Ip, Port, Data}': a datagram (active modes);</li>
%%% <li>`{plpmtud_udp_batch, Socket, [{Ip, Port, Data}]}': with
%%%   `{batch, true}', the datagrams of one `recvmmsg' (up to 32) in one
%%%   message, in order;</li>
%%% <li>`{plpmtud_udp_passive, Socket}': an `{active, N}' count ran out;</li>
%%% <li>`{plpmtud_ptb, Socket, #{mtu := IpMtu, offender := Ip | nil,
%%%   dest := {Ip, Port} | nil, quoted := binary()}}': an ICMP
%%%   Fragmentation-Needed / Packet-Too-Big for one of our datagrams, read
%%%   from the socket's error queue whatever the active mode (within the
%%%   backlog bound below). `IpMtu' is in IP bytes; `quoted' is the start
%%%   of our own datagram's UDP payload, so a prober can match it to a
%%%   probe: pass it (or the sequence number it holds) to
%%%   `plpmtud:on_ptb/4';</li>
%%% <li>`{plpmtud_udp_error, Socket, Reason}': any other ICMP error for one
%%%   of our datagrams, as a POSIX atom (`econnrefused' for port
%%%   unreachable, `ehostunreach', ...), in active modes only, like
%%%   gen_udp's `{udp_error, Socket, Reason}'; it does not count against
%%%   `once' or `{active, N}'. In passive mode, and for local errors,
%%%   error-queue entries are counted in {@link stats/1}
%%%   (`errors_dropped') and dropped.</li>
%%% </ul>
%%%
%%% == Backlog bound ==
%%% The socket's messages that the controlling process has not taken yet
%%% hold at most the socket's backlog bound (the `backlog' option of
%%% {@link open/2}, default 4 MiB) plus one datagram (64 KiB) in its
%%% mailbox, in every active mode and with `{batch, true}' too: each
%%% message is charged its data plus 320 bytes (a datagram), 128 per
%%% datagram of a batch, or 512 plus the quoted bytes (an ICMP report),
%%% more than it costs in the BEAM. The reader process keeps an upper bound
%%% of what is still queued (from what it sent and the owner's
%%% `message_queue_len') and stops reading while the bound is reached.
%%% Datagrams then wait in the kernel's receive buffer (which drops the
%%% excess when full, as it does for gen_udp); ICMP reports wait in a table
%%% of the socket holding the latest report per destination and kind, at
%%% most 16 (about 5 KB), and those replaced or refused are counted in
%%% {@link stats/1} (`reports_dropped'). A forged-ICMP or datagram flood
%%% thus costs a socket at most about 4.1 MiB of BEAM memory with the
%%% default, whether its owner reads or not.
%%%
%%% == DF policies ==
%%% `probe' (DF set, the kernel's PMTU cache ignored: probes above a cached
%%% size still leave; Linux only), `do' (DF set; sends above the kernel's
%%% PMTU fail with `{error, {emsgsize, IpMtu}}'), `want', `dont' (the
%%% kernel may fragment). On BSD/macOS only `do' and `dont' exist; the
%%% others return `{error, enotsup}'. {@link set_df/2}, {@link df/1},
%%% {@link kernel_mtu/1}, {@link kernel_mtu/2} and
%%% {@link send_fragmentable/2} take a gen_udp socket too (either
%%% `inet_backend'; the NIF works on its descriptor).
%%%
%%% == How it receives ==
%%% No OS thread per socket, and one descriptor per socket: the socket's fd
%%% waits in the BEAM's own poll set (`enif_select'), like OTP's `socket'
%%% module. Its readiness messages cannot go to the controlling process,
%%% whose mailbox this module does not own, so each socket has a small
%%% reader process (a few hundred words, like a port). On readiness the
%%% reader calls a NIF that reads up to 32 datagrams per `recvmmsg' and at
%%% most 128 per call (its time reported to the scheduler), sends the
%%% messages above straight to the controlling process and asks for the
%%% next readiness; when the call stopped at its budget with datagrams
%%% still queued, the reader calls again at once (after the scheduler's
%%% other work). While the owner's backlog is at its bound, the reader
%%% waits, measuring the owner's mailbox again after a yield, then after 1,
%%% 2, 4 ... up to 200 ms (waits aligned in time, so that paused readers
%%% wake together), and re-reads who the owner is each time. ICMP errors
%%% are read from the error queue (`MSG_ERRQUEUE') on the same fd, in every
%%% active mode. {@link close/1} takes the fd out of the poll set and closes
%%% it at once; the reader then ends. {@link recv/2} reads a queued datagram
%%% at once on the caller's scheduler; when none is queued the caller waits
%%% in `receive' until the reader, woken by the poll set, tells it to read
%%% (no dirty scheduler is held, so any number of processes may wait).
%%%
%%% == Errors ==
%%% gen_udp's: POSIX atoms (`econnrefused', ...), `eagain' when the send
%%% buffer is full, `closed', and `{emsgsize, IpMtu}' where `IpMtu' is the
%%% path MTU the kernel knows for the destination (or `nil'). As with
%%% gen_udp, {@link recv/2} on an active socket is `{error, einval}', a peer
%%% of the other family `{error, eafnosupport}', a host name that does not
%%% resolve `{error, nxdomain}', and what the platform lacks
%%% `{error, enotsup}'. Bad arguments raise `badarg' (`ArgumentError' in
%%% Elixir) with a message saying which. An EMSGSIZE refusal of
%%% {@link send/2}, {@link send_to/4} or {@link send_batch/3} also emits the
%%% telemetry event `[plpmtud, socket, emsgsize]' when the `telemetry'
%%% application is loaded (measurements `mtu', `size'; metadata `socket',
%%% `dest').
-module(plpmtud_socket).

-export([open/1, open/2, attach/1, attach/2, send/2, send_to/4, send_batch/2, send_batch/3,
         send_fragmentable/2, send_fragmentable/3, recv/1, recv/2, set_active/2, set_gso/2,
         set_df/2, df/1, kernel_mtu/1, kernel_mtu/2, controlling_process/2, close/1,
         sockname/1, peername/1, stats/1, resolve/2, family_of/1]).
%% The reader process's loop (an entry point of erlang:hibernate/3), and
%% the messages of badarg errors (error_info).
-export([read_loop/2, format_error/2]).

-define(NATIVE, plpmtud_nif).
%% A host name has at most 255 characters (RFC 1035).
-define(MAX_HOST, 255).
%% `receive ... after' takes at most 2^32 - 1 ms.
-define(MAX_AFTER, 16#FFFFFFFF).
-define(TELEMETRY_TRIED, {?MODULE, telemetry_tried}).

-opaque socket() :: reference().
-type ip() :: inet:ip_address().
%% An address tuple or a host name (binary, string or atom) to resolve.
-type host() :: ip() | binary() | inet:hostname().
-type df_policy() :: probe | do | want | dont.
-type active() :: boolean() | once | non_neg_integer().
-type reason() :: closed | eagain | timeout | {emsgsize, pos_integer() | nil} | atom() | tuple().
%% A gen_udp socket of either `inet_backend'.
-type gen_udp_socket() :: gen_udp:socket().
%% Options of open/2: a proplist of `{Key, Value}' (an Elixir keyword list)
%% or a map.
-type options() :: [{atom(), term()}] | #{atom() => term()}.
-export_type([socket/0, ip/0, host/0, df_policy/0, active/0, reason/0, options/0]).

-define(OPEN_DEFAULTS, #{ip => nil, family => nil, connect => nil, df => probe, active => true,
                         recv_errors => true, reuse_address => false, netns => nil,
                         transport => udp, batch => false, recbuf => nil, backlog => nil}).

%% @equiv open(Port, [])
-spec open(inet:port_number()) -> {ok, socket()} | {error, reason()}.
open(Port) -> open(Port, []).

%% @doc Opens a UDP socket bound to `Port' (0: any), owned by the caller.
%%
%% Options (`undefined' or `nil' stands for "not given"):
%% <ul>
%% <li>`ip': local address (default: any address of `family');</li>
%% <li>`family': `inet' or `inet6'; implied by `ip' or `connect' when
%%   given, else `inet';</li>
%% <li>`connect': `{Host, Port}' of a peer, for {@link send/2} and
%%   {@link kernel_mtu/1}; a host name is resolved in the socket's family
%%   (see {@link resolve/2}), and one that does not resolve returns the
%%   resolver's reason, such as `{error, nxdomain}';</li>
%% <li>`df': `probe' (default), `do', `want' or `dont'. Use `probe' on a
%%   socket that probes: the kernel's PMTU cache is per destination and
%%   lowered by any PTB that quotes a real flow, forged ones too (IPv4 down
%%   to its `min_pmtu', 552; IPv6 down to 1280). A `do' socket then fails
%%   every larger send with `{error, {emsgsize, IpMtu}}' until the entry
%%   expires, while a `probe' socket's probes still leave and the prober
%%   validates the answers itself. {@link kernel_mtu/1} reports the cached
%%   value in both modes;</li>
%% <li>`active': `true' (default), `false', `once' or a count, as gen_udp;</li>
%% <li>`batch': `true' to receive `{plpmtud_udp_batch, Socket, [{Ip, Port,
%%   Data}]}' per `recvmmsg' instead of one message per datagram (default
%%   `false'); `once' and counts still count datagrams;</li>
%% <li>`recv_errors': read ICMP errors from the error queue (default
%%   `true');</li>
%% <li>`reuse_address': `SO_REUSEADDR' (default `false');</li>
%% <li>`backlog': the bound, in bytes, on the socket's messages the
%%   controlling process has not taken (default 4 MiB, see "Backlog
%%   bound"); a positive integer;</li>
%% <li>`recbuf': `SO_RCVBUF' in bytes, as gen_udp's `recbuf' (default: the
%%   kernel's);</li>
%% <li>`transport': `udp' (default) or `icmp_echo': an unprivileged ping
%%   socket whose datagrams are ICMP echo messages; allowed by the
%%   `net.ipv4.ping_group_range' sysctl, else `{error, eacces}';</li>
%% <li>`netns': open the socket inside this network namespace: a name from
%%   `ip netns add' (a binary, looked up in `/run/netns/'; without `/',
%%   `..' or NUL) or an absolute path (a binary). Needs root; Linux. The
%%   file is opened on a dirty IO scheduler. `{error, enoent}' when no such
%%   namespace exists, `eperm' without the privilege to enter it, `einval'
%%   when the file is not a namespace.</li>
%% </ul>
%% Unknown options and values of the wrong kind raise `badarg'.
-spec open(inet:port_number(), options()) -> {ok, socket()} | {error, reason()}.
open(Port, Options) ->
    O = options(Options, ?OPEN_DEFAULTS),
    Family = first([maps:get(family, O), family_of(maps:get(ip, O)),
                    family_of(maps:get(connect, O)), inet]),
    case resolve_peer(maps:get(connect, O), Family) of
        {ok, Connect} ->
            Ip = case maps:get(ip, O) of
                nil -> any_address(Family);
                Given -> Given
            end,
            Opened = ?NATIVE:socket_open(Ip, Port, Connect, maps:get(df, O), maps:get(active, O),
                                         maps:get(recv_errors, O), maps:get(reuse_address, O),
                                         netns_path(maps:get(netns, O)),
                                         icmp(maps:get(transport, O)),
                                         maps:get(batch, O) =:= true, maps:get(recbuf, O),
                                         backlog(maps:get(backlog, O))),
            started(Opened);
        {error, _} = Error ->
            Error
    end.

%% @equiv attach(GenUdpOrFd, [])
-spec attach(gen_udp_socket() | non_neg_integer()) -> {ok, socket()} | {error, reason()}.
attach(GenUdpOrFd) -> attach(GenUdpOrFd, []).

%% @doc Takes over sending on an existing gen_udp socket or an OS fd: sets
%% `df' (default `probe') and, unless `{recv_errors, false}', the error
%% queue, whose Packet-Too-Big reports come to the caller as
%% `{plpmtud_ptb, ...}'. Datagrams still go to gen_udp's owner.
%%
%% The fd stays owned by gen_udp: {@link close/1} never closes it, and it
%% must outlive the returned socket, which watches a duplicate of it.
-spec attach(gen_udp_socket() | non_neg_integer(), options()) ->
          {ok, socket()} | {error, reason()}.
attach(GenUdpOrFd, Options) ->
    O = options(Options, #{df => probe, recv_errors => true}),
    case fd_of(GenUdpOrFd) of
        {ok, Fd} ->
            started(?NATIVE:socket_attach(Fd, maps:get(df, O), maps:get(recv_errors, O)));
        {error, _} = Error ->
            Error
    end.

%% @doc Sends `Data' to the connected peer without blocking.
-spec send(socket(), iodata()) -> ok | {error, reason()}.
send(Socket, Data) ->
    Bin = to_binary(Data),
    emsgsize(?NATIVE:socket_send(Socket, nil, Bin, false), Socket, nil, byte_size(Bin)).

%% @doc Sends `Data' to `Host':`Port' without blocking. A host name is
%% resolved in the socket's family (see {@link resolve/2}).
%%
%% `Socket' may be a gen_udp socket (either `inet_backend'; `Host' an
%% address tuple): the datagram then goes out under the socket's DF lock,
%% like every send of this module, so it never leaves with DF off while
%% {@link send_fragmentable/3} runs on that socket in another process,
%% which a `gen_udp:send' can. Send the datagrams whose size is a claim
%% about the path (probes, and data whose acks feed a prober) this way on a
%% gen_udp socket shared with `send_fragmentable'. An EMSGSIZE refusal is
%% `{error, emsgsize}' there, as `gen_udp:send/4' reports it.
-spec send_to(socket() | gen_udp_socket(), host(), inet:port_number(), iodata()) ->
          ok | {error, reason()}.
send_to(Socket, Host, Port, Data) ->
    case resolve_for(Socket, Host) of
        {ok, Ip} ->
            Bin = to_binary(Data),
            with_target(Socket,
                        fun(T) ->
                                Sent = ?NATIVE:socket_send(T, {Ip, Port}, Bin, false),
                                sent(Socket, emsgsize(Sent, Socket, {Ip, Port}, byte_size(Bin)))
                        end);
        {error, _} = Error ->
            Error
    end.

%% @equiv send_batch(Socket, Datagrams, nil)
-spec send_batch(socket(), [binary()]) ->
          {ok, non_neg_integer()} | {error, non_neg_integer(), reason()}.
send_batch(Socket, Datagrams) -> send_batch(Socket, Datagrams, nil).

%% @doc Sends a list of binaries to `Dest' (`{Host, Port}') or, when `nil'
%% (or `undefined'), the connected peer: runs of equal-sized datagrams
%% (optionally ending with one shorter) go as one UDP GSO send
%% (`UDP_SEGMENT') where the kernel has it, the rest with `sendmmsg'. The
%% NIF returns after about a time slice; this function then continues with
%% the rest, so other processes run in between.
%%
%% `{ok, Count}' when all were sent, or `{error, Sent, Reason}' at the first
%% failure (`Sent' datagrams went out); `{error, 0, Reason}' when a host
%% name does not resolve. An improper list or an element that is not a
%% binary raises `badarg' before anything is sent.
-spec send_batch(socket(), [binary()], {host(), inet:port_number()} | nil | undefined) ->
          {ok, non_neg_integer()} | {error, non_neg_integer(), reason()}.
send_batch(Socket, Datagrams, Dest) when is_list(Datagrams) ->
    %% The whole list is checked here, once (preemptible), so that the NIF
    %% walks only what each call sends.
    binaries(Datagrams) orelse bad(Datagrams, "datagrams must be a proper list of binaries"),
    case resolve_dest(Socket, Dest) of
        {ok, Resolved} -> send_batch(Socket, Datagrams, Resolved, 0);
        {error, Reason} -> {error, 0, Reason}
    end;
send_batch(_Socket, Datagrams, _Dest) ->
    bad(Datagrams, "datagrams must be a list of binaries").

binaries([Datagram | Rest]) when is_binary(Datagram) -> binaries(Rest);
binaries([]) -> true;
binaries(_NotBinaries) -> false.

send_batch(Socket, Datagrams, Dest, Before) ->
    case ?NATIVE:socket_send(Socket, Dest, Datagrams, false) of
        {ok, Sent} ->
            {ok, Before + Sent};
        {partial, Sent} ->
            send_batch(Socket, lists:nthtail(Sent, Datagrams), Dest, Before + Sent);
        {error, Sent, Reason} ->
            emsgsize({error, Before + Sent, Reason}, Socket, Dest, nil)
    end.

%% @doc Sends `Packet' to the connected peer with DF off for this datagram,
%% so that routers may fragment it: for a packet sent before the PLPMTU
%% fell that cannot be re-cut (a numbered uTP packet). Use it for such
%% retransmissions only: one lost fragment loses the datagram. `Socket' is
%% a socket of this module or a gen_udp socket (IPv4 or IPv6, either
%% `inet_backend'); on a gen_udp socket an EMSGSIZE refusal is
%% `{error, emsgsize}', as `gen_udp:send/2' reports it.
%%
%% Linux has no per-datagram DF for IPv4, so the socket's policy is `dont'
%% for this one send, under the socket's DF lock: every send of this
%% module, {@link df/1} and {@link set_df/2} on the same socket (from any
%% process, and on the same descriptor through a gen_udp socket) wait for
%% it, and the policy {@link set_df/2} chose is put back before they run.
%% What the lock cannot cover on a gen_udp socket: a `gen_udp:send' by
%% another process in the same few microseconds leaves with DF off too;
%% send the datagrams that must keep DF with {@link send_to/4} on the
%% gen_udp socket (under the lock), or all of them from one process.
%%
%% On IPv6 routers never fragment, and Linux fragments at the source only
%% above the route's MTU, so this is `{error, enotsup}' without sending:
%% the transport must carry the packet in pieces its peer joins.
-spec send_fragmentable(socket() | gen_udp_socket(), iodata()) -> ok | {error, reason()}.
send_fragmentable(Socket, Packet) ->
    Data = to_binary(Packet),
    with_target(Socket, fun(T) -> sent(Socket, ?NATIVE:socket_send(T, nil, Data, true)) end).

%% @doc {@link send_fragmentable/2} to `{Host, Port}', for an unconnected
%% socket shared by many peers (as `gen_udp:send/3'). A host name is
%% resolved as in {@link send_to/4} on a socket of this module; a gen_udp
%% socket takes an address tuple.
-spec send_fragmentable(socket() | gen_udp_socket(), {host(), inet:port_number()}, iodata()) ->
          ok | {error, reason()}.
send_fragmentable(Socket, {Host, Port}, Packet) ->
    case resolve_for(Socket, Host) of
        {ok, Ip} ->
            Data = to_binary(Packet),
            with_target(Socket,
                        fun(T) -> sent(Socket, ?NATIVE:socket_send(T, {Ip, Port}, Data, true)) end);
        {error, _} = Error ->
            Error
    end;
send_fragmentable(_Socket, Dest, _Packet) ->
    bad(Dest, "the destination must be {Host, Port}").

%% @equiv recv(Socket, infinity)
-spec recv(socket()) -> {ok, {ip(), inet:port_number(), binary()}} | {error, reason()}.
recv(Socket) -> recv(Socket, infinity).

%% @doc Receives one datagram on a passive (`{active, false}') socket: a
%% queued one at once, else waiting at most `Timeout' ms in `receive' (no
%% scheduler or thread is held: the socket's reader wakes the caller when
%% the poll set reports it readable). `{error, timeout}' when none came;
%% `{error, closed}' when the socket is closed meanwhile; `{error, einval}'
%% on an active socket, as gen_udp.
-spec recv(socket(), timeout()) ->
          {ok, {ip(), inet:port_number(), binary()}} | {error, reason()}.
recv(Socket, infinity) ->
    recv_until(Socket, infinity);
recv(Socket, Timeout) when is_integer(Timeout), Timeout >= 0 ->
    recv_until(Socket, erlang:monotonic_time(millisecond) + Timeout);
recv(_Socket, Timeout) ->
    bad(Timeout, "timeout must be a non-negative integer or infinity").

recv_until(Socket, Deadline) ->
    case ?NATIVE:socket_recv(Socket, nowait) of
        {error, eagain} -> wait_readable(Socket, Deadline);
        Result -> Result
    end.

%% Waits for the reader's `{plpmtud_recv_ready, Id}' (sent when the socket
%% is readable, closes or turns active), then reads again.
wait_readable(Socket, Deadline) ->
    case time_left(Deadline) of
        0 ->
            {error, timeout};
        _Left ->
            case ?NATIVE:socket_recv(Socket, wait) of
                {ok, Id} -> wait_ready(Socket, Id, Deadline);
                Error -> Error
            end
    end.

%% Waits longer than `receive ... after' allows go in rounds, the
%% registration standing.
wait_ready(Socket, Id, Deadline) ->
    Left = time_left(Deadline),
    receive
        {plpmtud_recv_ready, Id} -> recv_until(Socket, Deadline)
    after min(Left, ?MAX_AFTER) ->
        case time_left(Deadline) of
            0 -> give_up(Socket, Id);
            _ -> wait_ready(Socket, Id, Deadline)
        end
    end.

%% Timed out: unregister, and read once if a wake-up came meanwhile.
give_up(Socket, Id) ->
    ok = ?NATIVE:socket_recv(Socket, cancel),
    receive
        {plpmtud_recv_ready, Id} ->
            case ?NATIVE:socket_recv(Socket, nowait) of
                {error, eagain} -> {error, timeout};
                Result -> Result
            end
    after 0 ->
        {error, timeout}
    end.

time_left(infinity) -> infinity;
time_left(Deadline) -> max(Deadline - erlang:monotonic_time(millisecond), 0).

%% @doc Sets the active mode: `true', `false', `once' or a count.
%% `{error, closed}' on a closed socket.
-spec set_active(socket(), active()) -> ok | {error, closed}.
set_active(Socket, Active) -> ?NATIVE:socket_setopt(Socket, active, Active).

%% @doc Turns UDP GSO for {@link send_batch/3} on or off. Returns
%% `{ok, Enabled}': GSO stays off where the kernel refused it once (or off
%% Linux).
-spec set_gso(socket(), boolean()) -> {ok, boolean()} | {error, reason()}.
set_gso(Socket, Enabled) -> ?NATIVE:socket_setopt(Socket, gso, Enabled).

%% @doc Sets the Don't-Fragment policy of `Socket' (of this module, or a
%% gen_udp socket): the one every send uses and every
%% {@link send_fragmentable/2} puts back. `probe' for probing (DF set, the
%% kernel's own PMTU cache ignored for sends, so forged ICMP cannot block
%% them; {@link kernel_mtu/1} still reads that cache), `do' (DF set, the
%% kernel's cache obeyed), `want' (gen_udp's default: the kernel may
%% fragment) or `dont'.
-spec set_df(socket() | gen_udp_socket(), df_policy()) -> ok | {error, reason()}.
set_df(Socket, Policy) when Policy =:= probe; Policy =:= do; Policy =:= want; Policy =:= dont ->
    with_target(Socket, fun(T) -> ?NATIVE:socket_setopt(T, df, Policy) end);
set_df(_Socket, Policy) ->
    bad(Policy, "df must be probe, do, want or dont").

%% @doc The Don't-Fragment policy of `Socket' (of this module, or a
%% gen_udp socket), read from the kernel (never the `dont' of a
%% {@link send_fragmentable/2} in progress: it waits for that send).
-spec df(socket() | gen_udp_socket()) -> {ok, df_policy()} | {error, reason()}.
df(Socket) ->
    with_target(Socket, fun(T) -> ?NATIVE:socket_info(T, df) end).

%% @doc The local kernel's path MTU (IP bytes) to the connected peer of
%% `Socket' (of this module, or a gen_udp socket): `IP_MTU' / `IPV6_MTU'.
-spec kernel_mtu(socket() | gen_udp_socket()) -> {ok, pos_integer()} | {error, reason()}.
kernel_mtu(Socket) ->
    with_target(Socket, fun(T) -> ?NATIVE:socket_info(T, {path_mtu, nil}) end).

%% @doc The local kernel's path MTU (IP bytes) towards `{Host, Port}' from
%% `Socket', connected or not: the route's cached PMTU or the outgoing
%% interface's MTU, what an EMSGSIZE on a send there stands for. A host
%% name is resolved as in {@link send_to/4} on a socket of this module; a
%% gen_udp socket takes an address tuple.
-spec kernel_mtu(socket() | gen_udp_socket(), {host(), inet:port_number()}) ->
          {ok, pos_integer()} | {error, reason()}.
kernel_mtu(Socket, {Host, Port}) ->
    case resolve_for(Socket, Host) of
        {ok, Ip} ->
            with_target(Socket, fun(T) -> ?NATIVE:socket_info(T, {path_mtu, {Ip, Port}}) end);
        {error, _} = Error ->
            Error
    end;
kernel_mtu(_Socket, Dest) ->
    bad(Dest, "the destination must be {Host, Port}").

%% @doc Makes `Pid' the controlling process. Only the current one may
%% (`{error, not_owner}'). As with gen_udp, a `Pid' that is not alive
%% returns `{error, badarg}' and the socket stays open with its owner; a
%% closed socket returns `{error, closed}'.
-spec controlling_process(socket(), pid()) -> ok | {error, not_owner | badarg | closed}.
controlling_process(Socket, Pid) ->
    case ?NATIVE:socket_controlling_process(Socket, Pid) of
        %% The reader links to `Pid' when it reads its notice; the link to
        %% the caller goes now, so that the caller's exit cannot close the
        %% socket.
        {ok, Reader} ->
            _ = is_pid(Reader) andalso Pid =/= self() andalso unlink(Reader),
            ok;
        Error ->
            Error
    end.

%% @doc Closes the socket (an attached fd is left open). Idempotent.
-spec close(socket()) -> ok.
close(Socket) -> ?NATIVE:socket_close(Socket).

%% @doc The local address.
-spec sockname(socket()) -> {ok, {ip(), inet:port_number()}} | {error, reason()}.
sockname(Socket) -> ?NATIVE:socket_info(Socket, sockname).

%% @doc The connected peer.
-spec peername(socket()) -> {ok, {ip(), inet:port_number()}} | {error, reason()}.
peername(Socket) -> ?NATIVE:socket_info(Socket, peername).

%% @doc Counters: `datagrams_delivered', `errors_read' (ICMP reports
%% delivered), `errors_dropped' (error-queue entries not delivered),
%% `reports_dropped' (reports replaced by a newer one or refused while the
%% owner had no room), `backlog' (the bound in bytes), `closed'.
-spec stats(socket()) -> #{atom() => non_neg_integer() | boolean()}.
stats(Socket) -> ?NATIVE:socket_info(Socket, stats).

%% @doc Resolves `Host' to an address of `Family' (`inet' or `inet6') as
%% gen_udp does, with `inet:getaddr/2': an address tuple is returned as it
%% is, a host name (binary, string or atom) is looked up, and one that does
%% not resolve returns the resolver's reason (`{error, nxdomain}', or
%% `{error, einval}' for a malformed name: one longer than 255 characters,
%% or a binary that is not UTF-8, is never looked up).
-spec resolve(host(), inet | inet6) -> {ok, ip()} | {error, inet:posix()}.
resolve(Host, Family) when Family =:= inet; Family =:= inet6 ->
    if
        is_tuple(Host) -> {ok, Host};
        is_binary(Host) -> getaddr(unicode:characters_to_list(Host), Family);
        is_list(Host) -> getaddr(Host, Family);
        is_atom(Host) -> inet:getaddr(Host, Family);
        true -> bad(Host, "expected an address or a host name")
    end;
resolve(_Host, Family) ->
    bad(Family, "family must be inet or inet6").

getaddr(Name, Family) when is_list(Name) ->
    case longer_than(Name, ?MAX_HOST) of
        true -> {error, einval};
        false -> inet:getaddr(Name, Family)
    end;
getaddr(_NotUtf8, _Family) ->
    {error, einval}.

longer_than([_ | Rest], N) when N > 0 -> longer_than(Rest, N - 1);
longer_than([_ | _], 0) -> true;
longer_than(_, _) -> false.

%% @doc The family of an address tuple, or of the address of an
%% `{Address, Port}' pair: `inet', `inet6', or `nil' for anything else (a
%% host name).
-spec family_of(term()) -> inet | inet6 | nil.
family_of({Ip, Port}) when is_integer(Port) -> family_of(Ip);
family_of(Ip) when is_tuple(Ip), tuple_size(Ip) =:= 8 -> inet6;
family_of(Ip) when is_tuple(Ip), tuple_size(Ip) =:= 4 -> inet;
family_of(_) -> nil.

%%% The reader process.

%% Starts the socket's reader: it gets the socket's select messages and
%% lets the NIF read and deliver; it ends when the socket closes. It is
%% linked to the controlling process, as gen_udp's port is, and unlinks
%% before it ends normally; its group leader is `user''s, not the
%% opener's.
started({ok, Socket}) ->
    Owner = self(),
    Reader = spawn_link(fun() -> read_loop(Socket, Owner) end),
    Leader = case whereis(user) of
        undefined -> whereis(init);
        User -> User
    end,
    true = group_leader(Leader, Reader),
    case ?NATIVE:socket_start(Socket, Reader) of
        ok ->
            {ok, Socket};
        {error, _} = Error ->
            unlink(Reader),
            Error
    end;
started({error, _} = Error) ->
    Error.

%% @private The reader's loop. An idle reader hibernates after a second
%% (its heap shrinks to a few words).
-spec read_loop(socket(), pid()) -> ok.
read_loop(Socket, Owner) ->
    receive
        {select, _Resource, _Ref, Event} -> ready(Socket, Owner, Event, 0);
        {plpmtud_owner, NewOwner} -> read_loop(Socket, relink(Owner, NewOwner));
        plpmtud_closed -> stop(Owner)
    after 1000 ->
        erlang:hibernate(?MODULE, read_loop, [Socket, Owner])
    end.

stop(Owner) ->
    unlink(Owner),
    ok.

relink(Old, New) ->
    link(New),
    _ = Old =/= New andalso unlink(Old),
    New.

ready(Socket, Linked, Event, Round) ->
    case ?NATIVE:socket_ready(Socket, Event) of
        ok ->
            read_loop(Socket, Linked);
        %% Stopped at its budget with datagrams still queued: go on reading
        %% (the scheduler runs others in between), but take an error-queue
        %% readiness first so a flood cannot hold back a Packet-Too-Big.
        {more, _Owner} ->
            receive
                {select, _Resource, _Ref, ready_error} -> ?NATIVE:socket_ready(Socket, ready_error)
            after 0 ->
                ok
            end,
            ready(Socket, Linked, ready_input, 0);
        %% The owner's backlog has no room left after this call's
        %% deliveries: measure it again at once.
        {full, Owner} ->
            ready(Socket, Linked, resume(Owner), 0);
        %% No room at all: the datagrams wait in the kernel's buffer, the
        %% reports in the socket's table.
        {paused, Owner} ->
            pause(Socket, Linked, Owner, Round);
        closed ->
            stop(Linked)
    end.

resume(Owner) ->
    case erlang:process_info(Owner, message_queue_len) of
        {message_queue_len, N} -> {resume, Owner, N};
        undefined -> {resume, Owner, 0}
    end.

%% Waits for the owner to take its messages: yields a few times, then
%% sleeps 1, 2, 4 ... up to 200 ms between measurements, taking readiness
%% meanwhile and a new owner at once.
pause(Socket, Linked, Owner, Round) ->
    _ = Round < 8 andalso erlang:yield(),
    receive
        plpmtud_closed ->
            stop(Linked);
        {plpmtud_owner, NewOwner} ->
            ready(Socket, relink(Linked, NewOwner), resume(NewOwner), 0);
        %% Error-queue entries go to the socket's table; input readiness
        %% wakes recv/2 waiters of a passive socket.
        {select, _Resource, _Ref, Event} ->
            case ?NATIVE:socket_ready(Socket, Event) of
                closed -> stop(Linked);
                _ -> pause(Socket, Linked, Owner, Round)
            end
    after pause_ms(Round) ->
        ready(Socket, Linked, resume(Owner), Round + 1)
    end.

%% Waits end on multiples of their length in monotonic time, so paused
%% readers wake together: one scheduler wake-up serves them all.
pause_ms(Round) when Round < 8 -> 0;
pause_ms(Round) ->
    Period = min(1 bsl min(Round - 8, 8), 200),
    Period - erlang:monotonic_time(millisecond) rem Period.

%%% Arguments.

%% The options as a map over `Defaults'; `undefined' stands for `nil'.
options(Options, Defaults) when is_map(Options) ->
    options(maps:to_list(Options), Defaults);
options(Options, Defaults) when is_list(Options) ->
    lists:foldr(fun({Key, Value}, Acc) when is_map_key(Key, Defaults) ->
                        Acc#{Key => nil_of(Value)};
                   ({Key, _Value}, _Acc) ->
                        bad(Key, io_lib:format("unknown option ~0tp, the options are ~0tp",
                                               [Key, lists:sort(maps:keys(Defaults))]));
                   (Other, _Acc) ->
                        bad(Other, "options must be {Key, Value} pairs")
                end, Defaults, Options);
options(Options, _Defaults) ->
    bad(Options, "options must be a list of {Key, Value} or a map").

nil_of(undefined) -> nil;
nil_of(Value) -> Value.

%% The first value that is neither `nil' nor `false'.
first([Value | Rest]) when Value =:= nil; Value =:= false -> first(Rest);
first([Value | _]) -> Value.

resolve_peer(nil, _Family) -> {ok, nil};
resolve_peer({Host, Port}, Family) ->
    case resolve(Host, Family) of
        {ok, Ip} -> {ok, {Ip, Port}};
        {error, _} = Error -> Error
    end;
%% Anything else reaches the NIF, which raises badarg.
resolve_peer(Other, _Family) -> {ok, Other}.

%% Resolves `Host' in the family of the socket's local address.
resolve_for(_Socket, Ip) when is_tuple(Ip) -> {ok, Ip};
resolve_for(Socket, Host) when is_reference(Socket) ->
    case sockname(Socket) of
        {ok, {Local, _Port}} -> resolve(Host, family_of(Local));
        {error, _} = Error -> Error
    end;
%% A gen_udp socket takes address tuples: anything else reaches the NIF.
resolve_for(_GenUdp, Other) -> {ok, Other}.

resolve_dest(Socket, {Host, Port}) ->
    case resolve_for(Socket, Host) of
        {ok, Ip} -> {ok, {Ip, Port}};
        {error, _} = Error -> Error
    end;
resolve_dest(_Socket, undefined) -> {ok, nil};
resolve_dest(_Socket, Dest) -> {ok, Dest}.

backlog(nil) -> nil;
backlog(Bytes) when is_integer(Bytes), Bytes > 0, Bytes < 1 bsl 48 -> Bytes;
backlog(Other) -> bad(Other, "backlog must be a positive number of bytes").

icmp(udp) -> false;
icmp(icmp_echo) -> true;
icmp(Other) -> bad(Other, "transport must be udp or icmp_echo").

%% A plain name (no "/", not "." or "..", no NUL, at most 255 bytes) is
%% looked up in /run/netns; an absolute path is taken as given.
netns_path(nil) ->
    nil;
netns_path(<<"/", _/binary>> = Path) ->
    case binary:match(Path, <<0>>) of
        nomatch -> Path;
        _ -> bad_netns(Path)
    end;
netns_path(Name) when is_binary(Name), byte_size(Name) >= 1, byte_size(Name) =< 255 ->
    case Name =:= <<".">> orelse Name =:= <<"..">>
        orelse binary:match(Name, [<<"/">>, <<0>>]) =/= nomatch of
        true -> bad_netns(Name);
        false -> <<"/run/netns/", Name/binary>>
    end;
netns_path(Other) ->
    bad_netns(Other).

-spec bad_netns(term()) -> no_return().
bad_netns(Other) ->
    bad(Other, io_lib:format("netns must be a namespace name (no \"/\", \"..\" or NUL, at most "
                             "255 bytes) or an absolute path, as a binary, got: ~0tP",
                             [Other, 12])).

any_address(inet) -> {0, 0, 0, 0};
any_address(inet6) -> {0, 0, 0, 0, 0, 0, 0, 0};
any_address(Other) -> bad(Other, "family must be inet or inet6").

fd_of(Fd) when is_integer(Fd), Fd >= 0 -> {ok, Fd};
fd_of(Port) when is_port(Port) -> inet:getfd(Port);
fd_of({'$inet', gen_udp_socket, {_Pid, Sock}}) -> socket:getopt(Sock, otp, fd);
fd_of(Other) -> bad(Other, "expected a gen_udp socket or an fd").

%% Runs `Fun' on a socket of this module, or on `{fd, Fd}' of a gen_udp
%% socket of either backend (the NIF works on the descriptor: the DF
%% option numbers live in the NIF alone).
with_target(Socket, Fun) when is_reference(Socket) ->
    Fun(Socket);
with_target(Socket, Fun) when is_port(Socket); element(1, Socket) =:= '$inet' ->
    case fd_of(Socket) of
        {ok, Fd} -> Fun({fd, Fd});
        {error, _} = Error -> Error
    end;
with_target(Socket, _Fun) ->
    bad(Socket, "expected a plpmtud_socket or a gen_udp socket").

%% A send's result: on a gen_udp socket as gen_udp reports it
%% (`{error, emsgsize}' without the MTU).
sent(Socket, {error, {emsgsize, _Mtu}}) when not is_reference(Socket) -> {error, emsgsize};
sent(_Socket, Result) -> Result.

to_binary(Data) when is_binary(Data) -> Data;
to_binary(Data) ->
    try iolist_to_binary(Data)
    catch error:badarg -> bad(Data, "data must be iodata")
    end.

%% Raises badarg with `Message', which erl_error and Elixir's ArgumentError
%% show (error_info, format_error/2).
-spec bad(term(), iodata()) -> no_return().
bad(Arg, Message) ->
    erlang:error(badarg, [Arg],
                 [{error_info, #{module => ?MODULE,
                                 cause => unicode:characters_to_binary(Message)}}]).

%% @private The message of a badarg raised by this module.
-spec format_error(term(), erlang:stacktrace()) -> #{general => binary()}.
format_error(_Reason, [{_M, _F, _As, Info} | _]) ->
    case proplists:get_value(error_info, Info) of
        #{cause := Cause} -> #{general => Cause};
        _ -> #{}
    end;
format_error(_Reason, _Stack) ->
    #{}.

%%% Telemetry.

%% Emits `[plpmtud, socket, emsgsize]' for an EMSGSIZE refusal; returns
%% `Result'.
emsgsize({error, {emsgsize, Mtu}} = Result, Socket, Dest, Size) ->
    emit_emsgsize(Socket, Dest, Mtu, Size),
    Result;
emsgsize({error, _Sent, {emsgsize, Mtu}} = Result, Socket, Dest, Size) ->
    emit_emsgsize(Socket, Dest, Mtu, Size),
    Result;
emsgsize(Result, _Socket, _Dest, _Size) ->
    Result.

emit_emsgsize(Socket, Dest, Mtu, Size) ->
    case telemetry_available() of
        true ->
            Measurements = maps:filter(fun(_Key, Value) -> Value =/= nil end,
                                       #{mtu => Mtu, size => Size}),
            %% Through apply/3: no compile-time reference to an optional module.
            _ = apply(telemetry, execute, [[plpmtud, socket, emsgsize], Measurements,
                                           #{socket => Socket, dest => Dest}]),
            ok;
        false ->
            ok
    end.

%% True when telemetry:execute/3 can be called: the module is loaded, or
%% (tried once per node) could be loaded.
telemetry_available() ->
    erlang:function_exported(telemetry, execute, 3)
        orelse (not persistent_term:get(?TELEMETRY_TRIED, false)
                andalso begin
                            persistent_term:put(?TELEMETRY_TRIED, true),
                            code:ensure_loaded(telemetry) =:= {module, telemetry}
                                andalso erlang:function_exported(telemetry, execute, 3)
                        end).
