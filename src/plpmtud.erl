%%% @doc Erlang facade of plpmtud for rebar3 and erlang.mk users (aiutp).
%%%
%%% Shaped by how aiutp's connection code calls its MTU module: sizes are
%%% PAYLOAD bytes (what one packet carries for the transport), times are
%%% non-negative integers in milliseconds that the caller passes (use
%%% {@link now_ms/0}). The prober itself works in IP bytes; the handle
%%% converts with the IP header (20 on IPv4, 40 on IPv6) plus
%%% `packet_overhead' (aiutp: UDP 8 + uTP 20 = 28, so 48 per packet on IPv4:
%%% an IP range of 576..1500 is a payload range of 528..1452).
%%%
%%% A probe is a real data packet of exactly {@link probe_size/1} bytes: the
%%% sender builds one and calls {@link on_send/4}, which claims it as the
%%% probe atomically. A lost probe is not congestion: keep it out of the
%%% congestion window and resend its data at {@link packet_size/1}.
%%%
%%% Every transport event is one NIF call that answers what happened (the
%%% prober's events); the facade turns the answer into the small result
%%% each call documents, and never compares snapshots. Like every event,
%%% {@link on_emsgsize/3} and {@link on_ptb/4} take the caller's `Now'. Arguments of the wrong type or
%%% out of range (a negative time or size, an unknown loss reason, a
%%% reference that is not a handle) raise `badarg' (`ArgumentError' in
%%% Elixir); {@link new/1} returns `{error, Reason}' instead.
-module(plpmtud).

-export([new/1, config/1, connected/2, connected/3, probe_padding/2, on_lost_batch/4, on_rtt/2,
         on_send_refused/5,
         now_ms/0, packet_size/1, base_size/1, probe_size/1, ip_size/2,
         on_send/4, on_ack/4, on_lost/4, on_lost/5, on_tick/2,
         on_emsgsize/3, on_ptb/4, is_probing/1, info/1, reset/2]).

-type handle() :: reference().
-type ms() :: non_neg_integer().
-type seq() :: non_neg_integer().
-type bytes() :: non_neg_integer().
-type change() :: unchanged | {changed, bytes()}.
-type loss_reason() :: timeout | dup_ack | sack.
-type df_policy() :: probe | do | want | dont.
%% A peer of an unconnected socket, as gen_udp:send/3 takes it.
-type dest() :: {inet:ip_address(), inet:port_number()}.
%% What info/1 returns: the core's snapshot plus these keys.
-type info() :: #{packet_size := bytes(), probe_size := bytes() | none,
                  stats := map(), history := [map()], atom() => term()}.
-export_type([handle/0, change/0, df_policy/0, dest/0, info/0]).

-define(NATIVE, plpmtud_nif).
-define(MAX_U64, 16#FFFFFFFFFFFFFFFF).
%% Losses per NIF call of on_lost_batch/4 (the NIF's own limit).
-define(LOSS_CHUNK, 1024).

%% @doc A prober for one connection. `Config' is a map with plpmtud's keys
%% (`mtu_discovery_enabled', `mtu_floor', `mtu_ceiling' and
%% `mtu_probe_interval' as aiutp names them, in IP bytes and ms, plus
%% `packet_overhead', `family' (`inet' | `inet6'), `disabled_mtu', ...; see
%% the README). With `mtu_discovery_enabled => false' it never probes and
%% {@link packet_size/1} stays at `disabled_mtu' (aiutp today: 1344).
%% Returns `{error, {invalid_config, Key, Message}}' for unknown keys,
%% values of the wrong kind and values out of range, `Message' saying which,
%% and `{error, {nif_not_loaded, PathTried, Reason}}' when the NIF library
%% (`priv/native/plpmtud_nif.so') could not be loaded (see
%% {@link plpmtud_nif:status/0}).
-spec new(map()) -> {ok, handle()}
                    | {error, {invalid_config, atom(), binary()}
                              | plpmtud_nif:load_error()}.
new(Config) when is_map(Config) ->
    maybe_new(?NATIVE:status(), Config);
new(_Config) ->
    {error, {invalid_config, config, <<"config must be a map">>}}.

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

%% @doc The connection is up (aiutp: CS_CONNECTED): discovery starts.
-spec connected(handle(), ms()) -> ok.
connected(H, Now) ->
    _ = ?NATIVE:prober_connected(H, Now),
    ok.

%% @doc Like {@link connected/2}, for a transport that sends on the gen_udp
%% `Socket': discovery starts only if the socket sets Don't-Fragment
%% (`probe' or `do', see {@link plpmtud_socket:set_df/2}). Without DF the kernel would
%% fragment a probe that is too big and the probe would "succeed" above the
%% path MTU, so the handle refuses: `{error, {no_df, Policy}}', and no probe
%% is ever due (the packet size stays at `mtu_initial').
-spec connected(handle(), ms(), gen_udp:socket()) -> ok | {error, {no_df, df_policy()} | term()}.
connected(H, Now, Socket) when is_integer(Now), Now >= 0, Now =< ?MAX_U64 ->
    _ = ?NATIVE:prober_deadline(H),
    case plpmtud_socket:df(Socket) of
        {ok, Policy} when Policy =:= probe; Policy =:= do -> connected(H, Now);
        {ok, Policy} -> {error, {no_df, Policy}};
        {error, _} = Error -> Error
    end;
connected(_H, Now, _Socket) ->
    erlang:error(badarg, [Now]).

%% @doc Milliseconds since the VM started, from the monotonic clock.
-spec now_ms() -> ms().
now_ms() ->
    erlang:convert_time_unit(erlang:monotonic_time() - erlang:system_info(start_time),
                             native, millisecond).

%% @doc The payload size to segment data with now.
-spec packet_size(handle()) -> bytes().
packet_size(H) -> ?NATIVE:prober_payload_size(H).

%% @doc The payload of a packet at the floor (RFC 8899's BASE_PLPMTU): the
%% size every path is taken to carry, whatever the PLPMTU. For a packet
%% that must get through while the PLPMTU may be wrong: a retransmission
%% (in pieces of at most this size), a tail-loss probe.
-spec base_size(handle()) -> bytes().
base_size(H) -> ?NATIVE:prober_base_payload(H).

%% @doc IP bytes of a datagram carrying `Bytes' of payload, by the handle's
%% family and overheads: the one conversion between the two units.
-spec ip_size(handle(), bytes()) -> pos_integer().
ip_size(H, Bytes) -> ?NATIVE:prober_ip_for(H, Bytes).

%% @doc The payload size the next probe must have, or `none' when no probe
%% is due (one is in flight, or the search is complete).
-spec probe_size(handle()) -> bytes() | none.
probe_size(H) ->
    case ?NATIVE:prober_next_probe_payload(H) of
        nil -> none;
        Bytes -> Bytes
    end.

%% @doc A packet `Seq' of `Bytes' payload is being sent: it becomes the probe
%% (`probe') if a probe of exactly that size is due, atomically; otherwise
%% `normal'. Sequence number 0 is a valid probe. Call it for every
%% transmission, resends included: once the probe's sequence number goes
%% again (in any form), no acknowledgement of that number can confirm the
%% probe. Report a datagram sent with DF off ({@link plpmtud_socket:send_fragmentable/3})
%% with 0 bytes, here and in its ack and loss: a fragmented copy says
%% nothing about the path, and is never claimed as a probe.
-spec on_send(handle(), seq(), bytes(), ms()) -> probe | normal.
on_send(H, Seq, Bytes, Now) -> ?NATIVE:prober_on_send(H, Now, Seq, Bytes).

%% @doc Padding that makes a data packet carrying `DataBytes' payload the
%% due probe: the padding's own bytes, after the `padding_overhead' of its
%% header (uTP: an extension header), so that `DataBytes +
%% padding_overhead + Padding' is exactly {@link probe_size/1}. `none' when
%% no probe is due or the packet does not fit under it. Send the padded
%% packet, then {@link on_send/4} with its whole payload; if that probe is
%% lost, resend its data as it was, without the padding: nothing is re-cut.
-spec probe_padding(handle(), bytes()) -> bytes() | none.
probe_padding(H, DataBytes) ->
    case ?NATIVE:prober_padding_for(H, DataBytes) of
        nil -> none;
        Padding -> Padding
    end.

%% @doc Packet `Seq' was acknowledged; `Bytes' is the payload of its LAST
%% transmission. The packet size grows only when `Seq' is the probe in
%% flight, acknowledged at the probe's own size and its number never sent
%% again ({@link on_send/4}): the ack of a resend of the probe's data under
%% its number cannot tell which copy arrived, so the probe then counts as
%% lost (its `probe_lost' reason is `resent'). Any other packet is data of
%% `Bytes' payload (black-hole detection; 0 for a DF-off datagram).
-spec on_ack(handle(), seq(), bytes(), ms()) -> change().
on_ack(H, Seq, Bytes, Now) ->
    case ?NATIVE:prober_on_ack(H, Now, Seq, Bytes) of
        [] -> unchanged;
        Events -> change(Events)
    end.

%% @doc Packet `Seq' was lost (`sack' counts as `dup_ack'). Returns whether it
%% was a probe and whether the packet size changed. A lost probe is not
%% congestion: keep it out of congestion control, and resend its data
%% without the padding (re-cut at {@link packet_size/1} if the transport
%% can; one that cannot resends a packet bigger than {@link base_size/1} in
%% a form every path carries).
-spec on_lost(handle(), seq(), loss_reason(), ms()) -> {boolean(), change()}.
on_lost(H, Seq, Reason, Now) ->
    {Probe, Events} = ?NATIVE:prober_on_lost(H, Now, Seq, loss(Reason), nil),
    {Probe, change(Events)}.

%% @doc Like {@link on_lost/4}; a packet that was not a probe is reported as
%% lost data of `Bytes' payload (black-hole detection).
-spec on_lost(handle(), seq(), loss_reason(), bytes(), ms()) -> {boolean(), change()}.
on_lost(H, Seq, Reason, Bytes, Now) ->
    {Probe, Events} = ?NATIVE:prober_on_lost(H, Now, Seq, loss(Reason), Bytes),
    {Probe, change(Events)}.

%% @doc Packets lost together (one SACK or duplicate-ack batch), each as
%% `{Seq, PayloadBytes}': one call for the batch. Returns the sequence
%% numbers that were probes (the one in flight, or one resolved lately) and
%% whether the packet size changed. The first loss reported for a recent
%% probe's number is the probe's, whatever size it is reported with (its
%% data may have been resent unpadded meanwhile); a later loss of that
%% number is a resend's (data), and so is any loss of a number already
%% acknowledged (a sequence number reused after a wrap). The congestion rule: a batch whose
%% losses are all probes leaves the window alone; if any loss in it is not
%% a probe, count the batch as usual (the probes in it add nothing).
-spec on_lost_batch(handle(), [{seq(), bytes()}], loss_reason(), ms()) -> {[seq()], change()}.
on_lost_batch(H, Losses, Reason, Now) when is_list(Losses) ->
    lost_in_chunks(H, Now, loss(Reason), Losses, [], unchanged);
on_lost_batch(_H, Losses, _Reason, _Now) ->
    erlang:error(badarg, [Losses]).

%% One NIF call per ?LOSS_CHUNK losses (each returns in microseconds).
lost_in_chunks(H, Now, Reason, Losses, ProbesAcc, Change0) ->
    {Chunk, Rest} = take(?LOSS_CHUNK, Losses, []),
    {Probes, Events} = ?NATIVE:prober_on_lost_batch(H, Now, Reason, Chunk),
    Change = case change(Events) of
        unchanged -> Change0;
        Changed -> Changed
    end,
    case Rest of
        [] -> {lists:append(lists:reverse([Probes | ProbesAcc])), Change};
        _ -> lost_in_chunks(H, Now, Reason, Rest, [Probes | ProbesAcc], Change)
    end.

take(0, Rest, Acc) -> {lists:reverse(Acc), Rest};
take(_N, [], Acc) -> {lists:reverse(Acc), []};
take(N, [X | Rest], Acc) -> take(N - 1, Rest, [X | Acc]);
take(_N, Improper, _Acc) -> erlang:error(badarg, [Improper]).

%% @doc The gen_udp socket refused to send a packet of `Bytes' payload
%% with `{error, emsgsize}'. `Target' is the connected `Socket', or
%% `{Socket, {Ip, Port}}' for a send to that peer on an unconnected one. A
%% connected socket reports a queued ICMP error of an earlier datagram that
%% way on the next send, so send the packet once more first: only if that
%% is refused too does the kernel know a smaller path MTU. The kernel's MTU
%% towards the peer ({@link plpmtud_socket:kernel_mtu/2}) is then the limit, and the packet
%% size jumps to it; if it cannot be read, no size above the refused one
%% can leave. Returns whether the packet size changed.
-spec on_send_refused(handle(), gen_udp:socket() | {gen_udp:socket(), dest()}, emsgsize,
                      bytes(), ms()) -> change().
on_send_refused(H, Target, emsgsize, Bytes, Now) ->
    Result = case Target of
        {Socket, {_Ip, _Port} = Dest} -> plpmtud_socket:kernel_mtu(Socket, Dest);
        Socket -> plpmtud_socket:kernel_mtu(Socket)
    end,
    KernelMtu = case Result of
        {ok, Mtu} -> Mtu;
        {error, _} -> nil
    end,
    change(?NATIVE:prober_on_send_refused(H, Now, Bytes, KernelMtu));
on_send_refused(_H, _Socket, Reason, _Bytes, _Now) ->
    erlang:error(badarg, [Reason]).

%% @doc An RTT sample of the transport in milliseconds (the handshake's,
%% or any acked packet's): probe timeouts follow it (RFC 6298) instead of
%% the 1 s used before any sample, so report the handshake's RTT before
%% {@link connected/3} and samples as they come.
-spec on_rtt(handle(), ms()) -> ok.
on_rtt(H, RttMs) -> ?NATIVE:prober_rtt_sample(H, RttMs).

%% @doc Runs the probe timer, the re-probe and black-hole checks. Returns
%% `{probe_lost, Seq, Change}' when the probe in flight timed out (`Change'
%% says whether the packet size changed with it), `restarted' when a new
%% search began, otherwise `unchanged'. Call it at least every probe
%% timeout (`info(H)' gives the next `deadline'); when nothing is due it is
%% one cheap NIF call.
-spec on_tick(handle(), ms()) -> unchanged | restarted | {probe_lost, seq(), change()}.
on_tick(H, Now) ->
    case ?NATIVE:prober_tick(H, Now) of
        [] -> unchanged;
        Events -> tick_result(Events)
    end.

%% @doc The DF send path got EMSGSIZE: the local kernel knows the path MTU is
%% `IpMtu' (IP bytes). Returns the prober's verdict.
-spec on_emsgsize(handle(), pos_integer(), ms()) -> atom().
on_emsgsize(H, IpMtu, Now) -> verdict(?NATIVE:prober_emsgsize(H, Now, IpMtu)).

%% @doc An ICMP Packet-Too-Big reporting `IpMtu' (IP bytes), quoting packet
%% `Matched' (its sequence number), or `undefined' (or `false') when the
%% quoted packet matched none of ours. Returns the prober's verdict:
%% `accepted' (the size is probed next), `unmatched', `not_smaller',
%% `below_floor' or `not_probing'.
-spec on_ptb(handle(), pos_integer(), seq() | undefined | false, ms()) -> atom().
on_ptb(H, IpMtu, Matched, Now) ->
    Quoted = case Matched of
        undefined -> nil;
        false -> nil;
        Seq -> Seq
    end,
    verdict(?NATIVE:prober_ptb(H, Now, IpMtu, Quoted)).

%% @doc True while a search (or a check of a size in use) runs.
-spec is_probing(handle()) -> boolean().
is_probing(H) -> lists:member(?NATIVE:prober_state(H), [searching, base]).

%% @doc State, sizes (payload and IP), counters and history in one map.
-spec info(handle()) -> info().
info(H) ->
    Info = ?NATIVE:prober_info(H),
    Info#{packet_size => packet_size(H),
          probe_size => probe_size(H),
          stats => ?NATIVE:prober_stats(H),
          history => ?NATIVE:prober_history(H)}.

%% @doc Starts over: a fresh search from the floor (discovery stays enabled
%% or disabled as it was).
-spec reset(handle(), ms()) -> ok.
reset(H, Now) ->
    case ?NATIVE:prober_info(H) of
        #{enabled := true} ->
            _ = ?NATIVE:prober_set_enabled(H, Now, false),
            _ = ?NATIVE:prober_set_enabled(H, Now, true),
            ok;
        #{enabled := false} ->
            ok
    end.

loss(timeout) -> timeout;
loss(dup_ack) -> dup_ack;
loss(sack) -> dup_ack;
loss(Other) -> erlang:error(badarg, [Other]).

%% The packet size after the events of one call: the payload of the last
%% change, if the PLPMTU changed.
change(Events) ->
    lists:foldl(fun({mtu_changed, _Old, _New, _Reason, Payload}, _) -> {changed, Payload};
                   (_Event, Change) -> Change
                end, unchanged, Events).

%% What a tick did: the probe that timed out, else a new search, else nothing.
tick_result(Events) ->
    case [Seq || {probe_lost, Seq, _Size, timeout} <- Events] of
        [Seq | _] -> {probe_lost, Seq, change(Events)};
        [] ->
            case lists:keymember(search_started, 1, Events) of
                true -> restarted;
                false -> unchanged
            end
    end.

%% The verdict on a hint: the answer's first event.
verdict([{_Source, _Mtu, Verdict} | _]) -> Verdict.

