%%% @doc The one facade of plpmtud, for Erlang (rebar3, erlang.mk: aiutp)
%%% and Elixir alike (`PLPMTUD' delegates here).
%%%
%%% One handle per connection, driven by the transport's own events. Sizes
%%% are in the handle's unit, `size_unit' in {@link new/1}: `payload'
%%% (the default: what one packet carries for the transport, after the IP
%%% header and `packet_overhead'; aiutp on IPv4: 20 + 28, so an IP range of
%%% 576..1500 is a payload range of 528..1452) or `ip' (whole IP
%%% datagrams). The prober converts; nothing here does. MTUs that the
%%% network or the kernel report are IP MTUs whatever the unit:
%%% {@link on_ptb/4}'s `IpMtu', the kernel's MTU of
%%% {@link on_send_refused/5}, and the `ptb' and `emsgsize' events.
%%%
%%% Times are non-negative integers in milliseconds that the caller passes
%%% (use {@link now_ms/0}). Every transport event is one NIF call that
%%% answers with the prober's events ({@type event()}), oldest first (`[]'
%%% when nothing happened): act on the answer, there is nothing to poll.
%%%
%%% A probe is a real data packet of exactly {@link probe_size/1} bytes: the
%%% sender builds one and calls {@link on_send/4}, which claims it as the
%%% probe atomically. A lost probe is not congestion: keep it out of the
%%% congestion window and resend its data at {@link packet_size/1}.
%%%
%%% Arguments of the wrong type or out of range (a negative time or size,
%%% an unknown loss reason, a reference that is not a handle) raise
%%% `badarg' (`ArgumentError' in Elixir); {@link new/1} returns
%%% `{error, Reason}' instead.
-module(plpmtud).

-export([new/1, config/1, now_ms/0, connected/2, connected/3,
         packet_size/1, probe_size/1, base_size/1, probe_padding/2,
         on_send/4, on_send/5, on_ack/4, on_lost/4, on_ptb/4, on_send_refused/5,
         on_rtt/2, on_tick/2, deadline/1, set_enabled/3, probe_now/2, info/1]).

-type handle() :: reference().
-type ms() :: non_neg_integer().
-type seq() :: non_neg_integer().
%% A size in the handle's unit (payload or IP bytes, see `size_unit').
-type bytes() :: non_neg_integer().
%% An MTU reported by the network or the kernel: IP bytes in every unit.
-type ip_mtu() :: pos_integer().
-type loss_reason() :: timeout | dup_ack | sack.
-type verdict() :: accepted | unmatched | not_smaller | below_floor | not_probing.
-type change_reason() :: initial | probe_acked | probe_failed | black_hole | fallback | disabled.
%% What a call made happen; sizes in the handle's unit, hints' MTUs in IP bytes.
-type event() :: {probe_due, bytes()}
               | {probe_acked, seq(), bytes(), ms()}
               | {probe_lost, seq(), bytes(), timeout | dup_ack | resent}
               | {mtu_changed, bytes(), bytes(), change_reason()}
               | {search_started, bytes()}
               | {search_complete, bytes()}
               | {fallback, bytes(), ms()}
               | {black_hole_suspected, bytes()}
               | {black_hole_confirmed, bytes()}
               | {ptb | emsgsize, ip_mtu(), verdict()}.
-type df_policy() :: probe | do | want | dont.
%% A peer of an unconnected socket, as gen_udp:send/3 takes it.
-type dest() :: {inet:ip_address(), inet:port_number()}.
%% Options of connected/3.
-type connect_opts() :: #{socket => gen_udp:socket(), hint => bytes()}.
%% Where the kernel's MTU of a refused datagram is read: the connected
%% gen_udp socket, or the socket and the peer.
-type refused_target() :: gen_udp:socket() | {gen_udp:socket(), dest()}.
%% gen_udp's refusal, or plpmtud_socket's with the kernel's MTU.
-type refusal() :: emsgsize | {emsgsize, ip_mtu() | nil | undefined}.
%% What info/1 returns: the core's snapshot, taken in one call.
-type info() :: #{atom() => term()}.
-export_type([handle/0, event/0, verdict/0, change_reason/0, df_policy/0, dest/0, info/0,
              connect_opts/0]).

-define(NATIVE, plpmtud_nif).
-define(MAX_U64, 16#FFFFFFFFFFFFFFFF).
%% Losses per NIF call of on_lost/4 (the NIF's own limit).
-define(LOSS_CHUNK, 1024).
-define(NOT_CONFIG, <<"config must be a map or a list of {Key, Value}">>).

%% @doc A prober for one connection. `Config' is a map (or a list of
%% `{Key, Value}') with plpmtud's keys (`mtu_discovery_enabled',
%% `mtu_floor', `mtu_ceiling' and `mtu_probe_interval' as aiutp names them,
%% in IP bytes and ms, plus `size_unit' (`payload', the default, or `ip'),
%% `packet_overhead', `family' (`inet' | `inet6'), `disabled_mtu', ...; see
%% the README), merged over the `plpmtud' application environment
%% ({@link config/1}). With `mtu_discovery_enabled => false' it never probes
%% and {@link packet_size/1} stays at `disabled_mtu' (aiutp today: 1344).
%% Returns `{error, {invalid_config, Key, Message}}' for unknown keys,
%% values of the wrong kind and values out of range, `Message' saying which,
%% and `{error, {nif_not_loaded, PathTried, Reason}}' when the NIF library
%% (`priv/native/plpmtud_nif.so') could not be loaded (see
%% {@link plpmtud_nif:status/0}).
-spec new(map() | [{atom(), term()}]) ->
          {ok, handle()} | {error, {invalid_config, term(), binary()} | plpmtud_nif:load_error()}.
new(Config) when is_map(Config) ->
    maybe_new(?NATIVE:status(), Config);
new(Config) when is_list(Config) ->
    case lists:all(fun({_Key, _Value}) -> true; (_) -> false end, Config) of
        true -> new(maps:from_list(Config));
        false -> {error, {invalid_config, config, ?NOT_CONFIG}}
    end;
new(_Config) ->
    {error, {invalid_config, config, ?NOT_CONFIG}}.

maybe_new(ok, Config) ->
    case config(Config) of
        {ok, Merged} ->
            case ?NATIVE:prober_new(Merged) of
                {ok, H} -> {ok, H};
                {error, {badarg, Key, Message}} -> {error, {invalid_config, Key, Message}};
                {error, {invalid_config, _Key, _Message}} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
maybe_new({error, _} = NotLoaded, _Config) ->
    NotLoaded.

%% @doc `Options' over the `plpmtud' application environment (only its
%% configuration keys: other entries belong to other parts of the
%% application), or the first key of `Options' that is no configuration
%% key. What {@link new/1} does before it builds the prober.
-spec config(map()) -> {ok, map()} | {error, {invalid_config, term(), binary()}}.
config(Options) when is_map(Options) ->
    Keys = ?NATIVE:config_keys(),
    case [Key || Key <- maps:keys(Options), not lists:member(Key, Keys)] of
        [] ->
            Env = maps:with(Keys, maps:from_list(application:get_all_env(plpmtud))),
            {ok, maps:merge(Env, Options)};
        [Key | _] ->
            Message = iolist_to_binary(io_lib:format("unknown plpmtud option ~p", [Key])),
            {error, {invalid_config, Key, Message}}
    end;
config(Options) ->
    erlang:error(badarg, [Options]).

%% @doc Milliseconds since the VM started, from the monotonic clock.
-spec now_ms() -> ms().
now_ms() ->
    erlang:convert_time_unit(erlang:monotonic_time() - erlang:system_info(start_time),
                             native, millisecond).

%% @doc The connection is up (aiutp: CS_CONNECTED): discovery starts.
%% Answers the first events (`search_started', `probe_due'); `[]' when
%% called again.
-spec connected(handle(), ms()) -> [event()].
connected(H, Now) -> ?NATIVE:prober_connected(H, Now, nil).

%% @doc {@link connected/2} with options. `hint => Size', for a destination
%% whose size is known (a cache): the first and, if acknowledged, only
%% probe is `Size'. `socket => Socket', for a transport that sends on that
%% gen_udp socket: discovery starts only if the socket sets Don't-Fragment
%% (`probe' or `do', see {@link plpmtud_socket:set_df/2}). Without DF the kernel would
%% fragment a probe that is too big and the probe would "succeed" above the
%% path MTU, so the handle refuses: `{error, {no_df, Policy}}', and no probe
%% is ever due (the packet size stays at `mtu_initial').
-spec connected(handle(), ms(), connect_opts()) ->
          [event()] | {error, {no_df, df_policy()} | term()}.
connected(H, Now, Opts) when is_map(Opts) ->
    case maps:without([socket, hint], Opts) of
        Empty when map_size(Empty) =:= 0 -> connect(H, Now, Opts);
        _Unknown -> erlang:error(badarg, [Opts])
    end;
connected(_H, _Now, Opts) -> erlang:error(badarg, [Opts]).

connect(H, Now, #{socket := Socket} = Opts) when is_integer(Now), Now >= 0, Now =< ?MAX_U64 ->
    %% The handle is checked before the socket is read (a bad time falls
    %% through to the NIF's badarg).
    _ = ?NATIVE:prober_deadline(H),
    case plpmtud_socket:df(Socket) of
        {ok, Policy} when Policy =:= probe; Policy =:= do ->
            connect(H, Now, maps:remove(socket, Opts));
        {ok, Policy} -> {error, {no_df, Policy}};
        {error, _} = Error -> Error
    end;
connect(H, Now, Opts) ->
    ?NATIVE:prober_connected(H, Now, nil_if_undefined(maps:get(hint, Opts, nil))).

%% @doc The size to segment data with now (the PLPMTU in the handle's unit).
-spec packet_size(handle()) -> bytes().
packet_size(H) -> ?NATIVE:prober_size(H, packet).

%% @doc The size the next probe must have, or `nil' when no probe is due
%% (as many copies as `probe_copies' are in flight, or the search is
%% complete).
-spec probe_size(handle()) -> bytes() | nil.
probe_size(H) -> ?NATIVE:prober_size(H, probe).

%% @doc The size of a packet at the floor (RFC 8899's BASE_PLPMTU): the
%% size every path is taken to carry, whatever the PLPMTU. For a packet
%% that must get through while the PLPMTU may be wrong: a retransmission
%% (in pieces of at most this size), a tail-loss probe.
-spec base_size(handle()) -> bytes().
base_size(H) -> ?NATIVE:prober_size(H, base).

%% @doc Padding that makes a data packet carrying `DataBytes' the due
%% probe: the padding's own bytes, after the `padding_overhead' of its
%% header (uTP: an extension header), so that `DataBytes +
%% padding_overhead + Padding' is exactly {@link probe_size/1}. `nil' when
%% no probe is due or the packet does not fit under it. Send the padded
%% packet, then {@link on_send/4} with its whole size; if that probe is
%% lost, resend its data as it was, without the padding: nothing is re-cut.
-spec probe_padding(handle(), bytes()) -> bytes() | nil.
probe_padding(H, DataBytes) -> ?NATIVE:prober_padding_for(H, DataBytes).

%% @doc A packet `Seq' of `Bytes' is being sent: it becomes the probe
%% (`probe') if a probe of exactly that size is due, atomically; otherwise
%% `normal'. Sequence number 0 is a valid probe. Call it for every
%% transmission, resends included: once a probe's sequence number goes
%% again (in any form), no acknowledgement of that number can confirm the
%% probe. Report a datagram sent with DF off ({@link plpmtud_socket:send_fragmentable/3})
%% with 0 bytes, here and in its ack and loss: a fragmented copy says
%% nothing about the path, and is never claimed as a probe.
-spec on_send(handle(), seq(), bytes(), ms()) -> probe | normal.
on_send(H, Seq, Bytes, Now) -> ?NATIVE:prober_sent(H, Now, Seq, Bytes, nil).

%% @doc {@link on_send/4} for a transport whose sequence numbers an
%% off-path attacker can guess (uTP: 16 bits): `Quote' is the start of the
%% packet's UDP payload as sent (its first 32 bytes count). A
%% Packet-Too-Big for a probe is then believed only when it quotes those
%% bytes ({@link on_ptb/4} with the quoted binary).
-spec on_send(handle(), seq(), bytes(), binary(), ms()) -> probe | normal.
on_send(H, Seq, Bytes, Quote, Now) -> ?NATIVE:prober_sent(H, Now, Seq, Bytes, Quote).

%% @doc Packet `Seq' was acknowledged; `Bytes' is the size of its LAST
%% transmission. The packet size grows only when `Seq' is a probe,
%% acknowledged at the probe's own size and its number never sent again
%% ({@link on_send/4}): the ack of a resend of the probe's data under its
%% number cannot tell which copy arrived, so the probe then counts as lost
%% (`{probe_lost, Seq, Size, resent}'). Any other packet is data of `Bytes'
%% (black-hole detection; 0 for a DF-off datagram).
-spec on_ack(handle(), seq(), bytes(), ms()) -> [event()].
on_ack(H, Seq, Bytes, Now) -> ?NATIVE:prober_acked(H, Now, Seq, Bytes).

%% @doc Packets lost together (one SACK or duplicate-ack batch, or one
%% timeout), each `{Seq, Bytes}' (`Bytes' the size of its last
%% transmission) or a bare `Seq' (size unknown: only a probe's loss
%% counts). Returns the sequence numbers that were probes and the prober's
%% events; one NIF call per 1024 losses. `sack' counts as `dup_ack'.
%%
%% The first loss reported for a recent probe's number is the probe's,
%% whatever size it is reported with (its data may have been resent
%% unpadded meanwhile); a later loss of that number is a resend's (data),
%% and so is any loss of a number already acknowledged (a sequence number
%% reused after a wrap). The congestion rule: a batch whose losses are all
%% probes leaves the window alone; if any loss in it is not a probe, count
%% the batch as usual (the probes in it add nothing).
-spec on_lost(handle(), [{seq(), bytes()} | seq()], loss_reason(), ms()) ->
          {[seq()], [event()]}.
on_lost(H, Losses, Reason, Now) when is_list(Losses) ->
    case pairs(Losses, 0) of
        true -> ?NATIVE:prober_lost(H, Now, loss(Reason), Losses);
        false -> lost(H, Now, loss(Reason), Losses, [], [])
    end;
on_lost(_H, Losses, _Reason, _Now) ->
    erlang:error(badarg, [Losses]).

%% True for a proper list of at most ?LOSS_CHUNK `{Seq, Bytes}' pairs: the
%% NIF takes it as it is (the common case: no copy).
pairs([], _N) -> true;
pairs([{_Seq, _Bytes} | Rest], N) when N < ?LOSS_CHUNK -> pairs(Rest, N + 1);
pairs(_Other, _N) -> false.

%% One NIF call per ?LOSS_CHUNK losses (each returns in microseconds).
lost(H, Now, Reason, Losses, ProbesAcc, EventsAcc) ->
    {Chunk, Rest} = take(?LOSS_CHUNK, Losses, []),
    {Probes, Events} = ?NATIVE:prober_lost(H, Now, Reason, Chunk),
    case {Rest, ProbesAcc} of
        {[], []} ->
            {Probes, Events};
        {[], _} ->
            {lists:append(lists:reverse([Probes | ProbesAcc])),
             lists:append(lists:reverse([Events | EventsAcc]))};
        _ ->
            lost(H, Now, Reason, Rest, [Probes | ProbesAcc], [Events | EventsAcc])
    end.

take(0, Rest, Acc) -> {lists:reverse(Acc), Rest};
take(_N, [], Acc) -> {lists:reverse(Acc), []};
take(N, [{Seq, undefined} | Rest], Acc) -> take(N - 1, Rest, [{Seq, nil} | Acc]);
take(N, [{_Seq, _Bytes} = Loss | Rest], Acc) -> take(N - 1, Rest, [Loss | Acc]);
take(N, [Seq | Rest], Acc) when is_integer(Seq) -> take(N - 1, Rest, [{Seq, nil} | Acc]);
take(_N, Bad, _Acc) -> erlang:error(badarg, [Bad]).

%% @doc An ICMP Packet-Too-Big reporting `IpMtu' (IP bytes). `Quote' names
%% the packet it quotes: the quoted UDP payload (a binary, matched against
%% the quotes given to {@link on_send/5}: a forger must know the packet's
%% first bytes), its sequence number (for transports whose numbers cannot
%% be guessed), or `undefined' (or `nil') when it matched none of ours. The
%% answer starts with `{ptb, IpMtu, Verdict}': `accepted' (the size is
%% probed next), `unmatched', `not_smaller', `below_floor' or
%% `not_probing'.
-spec on_ptb(handle(), ip_mtu(), seq() | binary() | undefined | nil, ms()) -> [event()].
on_ptb(H, IpMtu, undefined, Now) -> ?NATIVE:prober_ptb(H, Now, IpMtu, nil);
on_ptb(H, IpMtu, Quote, Now) -> ?NATIVE:prober_ptb(H, Now, IpMtu, Quote).

%% @doc The socket refused to send a packet of `Bytes' with EMSGSIZE.
%% With `Reason' `emsgsize' (gen_udp's `{error, emsgsize}'), `Target' is
%% the connected gen_udp `Socket', or `{Socket, {Ip, Port}}' for a send to
%% that peer on an unconnected one, and the kernel's MTU towards the peer
%% ({@link plpmtud_socket:kernel_mtu/2}) is read from it. With `{emsgsize, IpMtu}' (the
%% refusal of a `PLPMTUD.Socket' send) the kernel's MTU is given (`nil' or
%% `undefined' if unknown) and `Target' is not used. A connected socket
%% reports a queued ICMP error of an earlier datagram that way on the next
%% send, so send the packet once more first: only if that is refused too
%% does the kernel know a smaller path MTU. The kernel's MTU limits the
%% search (no larger size is probed); below the packet size in use it is
%% checked like a Packet-Too-Big: the floor is used while a probe of the
%% size in use checks it (`black_hole_suspected'), and if that probe is lost
%% the kernel's size is probed next. If the kernel's MTU is unknown, no size
%% above the refused one is probed. The answer starts with
%% `{emsgsize, Limit, Verdict}'.
-spec on_send_refused(handle(), refused_target() | undefined | nil, refusal(), bytes(), ms()) ->
          [event()].
on_send_refused(H, _Target, {emsgsize, KernelIpMtu}, Bytes, Now) ->
    ?NATIVE:prober_send_refused(H, Now, Bytes, nil_if_undefined(KernelIpMtu));
on_send_refused(H, Target, emsgsize, Bytes, Now) ->
    Result = case Target of
        {Socket, {_Ip, _Port} = Dest} -> plpmtud_socket:kernel_mtu(Socket, Dest);
        Socket -> plpmtud_socket:kernel_mtu(Socket)
    end,
    KernelIpMtu = case Result of
        {ok, Mtu} -> Mtu;
        {error, _} -> nil
    end,
    ?NATIVE:prober_send_refused(H, Now, Bytes, KernelIpMtu);
on_send_refused(_H, _Target, Reason, _Bytes, _Now) ->
    erlang:error(badarg, [Reason]).

nil_if_undefined(undefined) -> nil;
nil_if_undefined(Mtu) -> Mtu.

%% @doc An RTT sample of the transport in milliseconds (the handshake's,
%% or any acked packet's): probe timeouts follow it (RFC 6298) instead of
%% the 1 s used before any sample, so report the handshake's RTT before
%% {@link connected/3} and samples as they come.
-spec on_rtt(handle(), ms()) -> ok.
on_rtt(H, RttMs) -> ?NATIVE:prober_rtt(H, RttMs).

%% @doc Runs the probe timer, the re-probe and black-hole checks: the
%% answer holds `{probe_lost, Seq, Size, timeout}' for a probe that timed
%% out, `{search_started, Limit}' for a new search, and what followed.
%% Call it at {@link deadline/1}; when nothing is due it is one cheap NIF
%% call answering `[]'.
-spec on_tick(handle(), ms()) -> [event()].
on_tick(H, Now) -> ?NATIVE:prober_tick(H, Now).

%% @doc When {@link on_tick/2} must next run (ms of the callers' clock),
%% or `nil' when nothing waits.
-spec deadline(handle()) -> ms() | nil.
deadline(H) -> ?NATIVE:prober_deadline(H).

%% @doc Turns discovery on (a fresh search from the floor) or off (the
%% fixed `disabled_mtu'). Off then on starts over.
-spec set_enabled(handle(), boolean(), ms()) -> [event()].
set_enabled(H, Enabled, Now) -> ?NATIVE:prober_set_enabled(H, Now, Enabled).

%% @doc Starts a search now; `[]' if disabled, not connected or already
%% searching.
-spec probe_now(handle(), ms()) -> [event()].
probe_now(H, Now) -> ?NATIVE:prober_probe_now(H, Now).

%% @doc The prober's snapshot, taken in one NIF call (atomic): state, sizes
%% in the handle's unit and in IP bytes, search range, probe timeout,
%% probes in flight, counters (`stats'), the latest changes (`history'),
%% the configuration callers need (`overhead', `unit', `family') and
%% `invariants' (`ok' or `{error, Broken}': a failure is a bug to report).
-spec info(handle()) -> info().
info(H) -> ?NATIVE:prober_snapshot(H).


loss(timeout) -> timeout;
loss(dup_ack) -> dup_ack;
loss(sack) -> dup_ack;
loss(Other) -> erlang:error(badarg, [Other]).
