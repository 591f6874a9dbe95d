%%% @doc An example transport shaped like uTP, over gen_udp, sized with the
%%% Erlang facade {@link plpmtud}: an example, not part of plpmtud's API.
%%%
%%% {@link run/1} moves a stream of deterministic pseudo-random bytes from a
%%% sender (the calling process) to a receiver ({@link
%%% plpmtud_example_utp_receiver}), optionally each in its own network
%%% namespace, and reports what happened.
%%%
%%% == Wire format ==
%%% Every datagram starts with a 20-byte header, as uTP's, with 32-bit
%%% sequence numbers: `<<TypeVer:8, Ext:8, ConnId:16, Wnd:32, Seq:32,
%%% Ack:32, Reserved:32>>' (`TypeVer' 16#01 for data, 16#21 for an ack).
%%% A data packet carries one segment of the stream; once sent it is never
%%% re-cut: a retransmission resends exactly its bytes (same sequence
%%% number, same data). A probe is a new data packet padded up to the probe
%%% size with a padding extension (`Ext' 3: `<<Next:8, Len:16, Padding:Len>>',
%%% so `padding_overhead' is 3); if it is lost its data is resent without
%%% the padding. An ack carries the next sequence number the receiver needs
%%% and, when it holds later packets, a selective-ACK extension (`Ext' 1:
%%% `<<Next:8, Len:8, Bitmap:Len>>', bit I for packet `Ack + 1 + I').
%%%
%%% == Sender ==
%%% A packet is lost when three packets sent after it were acknowledged
%%% (uTP's rule, counted in transmission order so that a retransmission
%%% starts afresh), or by the retransmission timeout (RFC 6298, at least 200
%%% ms, doubled on each expiry up to 1 s), which declares every packet in
%%% flight lost. The losses found together form one batch for {@link
%%% plpmtud:on_lost/4}. The congestion window (bytes) grows by the
%%% bytes acknowledged in slow start and by about one packet per window
%%% after; a batch with a loss that is no probe halves it (once per batch,
%%% and not again for packets sent before the last decrease), a timeout
%%% drops it to its minimum. A batch of probe losses only leaves it alone.
%%% One probe may leave when the window is full (a black-hole check must
%%% get through while old data waits).
%%%
%%% The connection starts with a handshake (a SYN the receiver
%%% acknowledges); its RTT goes to {@link plpmtud:on_rtt/2} before {@link
%%% plpmtud:connected/3}, and so does every later RTT sample, so probe
%%% timeouts follow the path (and its queue) from the first probe on. A
%%% send that gen_udp refuses with `emsgsize' is tried once more at once
%%% (a connected socket reports an earlier datagram's ICMP error that way);
%%% only a second refusal goes to {@link plpmtud:on_send_refused/5}.
%%%
%%% Besides, a tail-loss probe (RFC 8985, RFC 9002's probe timeout: SRTT
%%% + 4 RTTVAR + 1 ms without a send while packets are in flight) sends one
%%% packet of at most {@link plpmtud:base_size/1}, and RACK's time rule
%%% declares lost every packet sent SRTT and a quarter before one that was
%%% acknowledged: a path that starts dropping full-size packets (its MTU
%%% fell) is noticed in a few round trips, not a retransmission timeout.
%%%
%%% Every retransmission goes in a form every path carries: a packet
%%% bigger than the base size is carried in pieces with a fragment
%%% extension (`Ext' 4: `<<Next:8, 2:8, Index:8, Count:8>>'): the same
%%% sequence number, the same bytes once the receiver joins them, so never
%%% re-cut from the transport's point of view. That is the only way on
%%% IPv6 (routers never fragment); on IPv4 the default is {@link
%%% plpmtud_socket:send_fragmentable/2} (DF off, routers fragment),
%%% `ipv4_fragments => pieces' uses the extension there too. The prober is
%%% told nothing about such a packet (size 0). New segments follow the
%%% packet size the prober's answers announce (`{mtu_changed, Old, New,
%%% Reason}'), which is the base size while a black-hole suspicion is
%%% checked; the sender acts on every answer and never asks the prober
%%% again for what an answer already said.
-module(plpmtud_example_utp).

-export([run/1, header_bytes/0, padding_overhead/0]).

-include("plpmtud_example_utp.hrl").

-define(HEADER, 20).
-define(UDP, 8).
-define(PADDING_OVERHEAD, 3).
-define(FRAGMENT_OVERHEAD, 4).
-define(SYN, 16#41).
-define(TICK_MS, 10).
-define(MIN_RTO, 200).
%% The tail-loss probe's timeout never goes below 2 ms (timestamps are ms).
-define(MIN_PTO, 2).
%% Tail-loss probes in a row without an ack, at most.
-define(MAX_TAIL_PROBES, 2).
-define(MAX_RTO, 1000).
%% The largest congestion window: 64 KB, far above the lab's bandwidth-delay
%% product. A bigger one only builds a queue in front of every probe, and a
%% probe's fate is known one queued round trip after it leaves.
-define(MAX_CWND, 64 * 1024).
-define(ACTIVE, 200).

-type sizing() :: plpmtud | {fixed, pos_integer()}.
-type event() :: {float(), fun(() -> term())}.
-type options() :: #{server_ip := inet:ip_address(),
                     port => inet:port_number(),
                     bytes => pos_integer(),
                     sizing => sizing(),
                     client_netns => string() | binary() | undefined,
                     server_netns => string() | binary() | undefined,
                     events => [event()],
                     probe_interval => pos_integer(),
                     probe_sizes => 1..4,
                     stall_ms => pos_integer(),
                     max_ms => pos_integer(),
                     ipv4_fragments => df_off | pieces,
                     seed => integer()}.
-type result() :: #{completed := boolean(),
                    identical := boolean(),
                    time_ms := non_neg_integer(),
                    goodput_mb_s := float(),
                    payload_at_end := non_neg_integer(),
                    packets := non_neg_integer(),
                    retransmissions := non_neg_integer(),
                    tail_probes := non_neg_integer(),
                    probes := non_neg_integer(),
                    window_reductions := non_neg_integer(),
                    probe_window_reductions := non_neg_integer(),
                    handshake_rtt_ms := non_neg_integer(),
                    search_complete_ms := non_neg_integer() | undefined,
                    longest_stall_ms := non_neg_integer(),
                    longest_stall_end_ms := non_neg_integer(),
                    event_ms := [non_neg_integer()],
                    bytes_sent := non_neg_integer(),
                    probe_bytes := non_neg_integer(),
                    late_refusals := non_neg_integer(),
                    udp_errors := non_neg_integer(),
                    bytes_acked := non_neg_integer(),
                    crc_sent := non_neg_integer(),
                    crc_received := non_neg_integer() | undefined,
                    send_refused := non_neg_integer(),
                    fragmentable_sends := non_neg_integer(),
                    fragments_sent := non_neg_integer(),
                    size_changes := [{non_neg_integer(), non_neg_integer()}],
                    prober := map()}.
-export_type([options/0, result/0, sizing/0]).

-record(pkt, {data :: binary(),
              probe = false :: boolean(),
              wire :: non_neg_integer(),
              seen :: non_neg_integer(),
              tx :: non_neg_integer(),
              sent :: non_neg_integer(),
              count = 1 :: pos_integer(),
              where = flight :: flight | rtx}).

-record(s, {socket :: gen_udp:socket(),
            h :: plpmtud:handle(),
            sizing :: sizing(),
            pieces :: boolean(),
            data :: binary(),
            total :: non_neg_integer(),
            next_off = 0 :: non_neg_integer(),
            next_seq = 0 :: non_neg_integer(),
            base = 0 :: non_neg_integer(),
            pkts = #{} :: #{non_neg_integer() => #pkt{}},
            flight :: gb_trees:tree(non_neg_integer(), non_neg_integer()),
            flight_bytes = 0 :: non_neg_integer(),
            rtx :: gb_sets:set(non_neg_integer()),
            txc = 0 :: non_neg_integer(),
            top3 = [] :: [non_neg_integer()],
            cwnd :: pos_integer(),
            ssthresh = ?MAX_CWND :: pos_integer(),
            recover_tx = -1 :: integer(),
            srtt = undefined :: undefined | number(),
            rttvar = 0 :: number(),
            rto = 1000 :: pos_integer(),
            ptos = 0 :: non_neg_integer(),
            last_sent = 0 :: non_neg_integer(),
            ps :: non_neg_integer(),
            base_ps :: pos_integer(),
            acked = 0 :: non_neg_integer(),
            events = [] :: [event()],
            started :: non_neg_integer(),
            last_progress :: non_neg_integer(),
            next_tick = 0 :: non_neg_integer(),
            stall_ms :: pos_integer(),
            deadline :: non_neg_integer(),
            packets = 0 :: non_neg_integer(),
            retransmissions = 0 :: non_neg_integer(),
            tail_probes = 0 :: non_neg_integer(),
            probes = 0 :: non_neg_integer(),
            reductions = 0 :: non_neg_integer(),
            probe_reductions = 0 :: non_neg_integer(),
            refused = 0 :: non_neg_integer(),
            late_refusals = 0 :: non_neg_integer(),
            udp_errors = 0 :: non_neg_integer(),
            fragmentable = 0 :: non_neg_integer(),
            fragments = 0 :: non_neg_integer(),
            bytes_sent = 0 :: non_neg_integer(),
            probe_bytes = 0 :: non_neg_integer(),
            handshake_rtt = 0 :: non_neg_integer(),
            search_done = undefined :: undefined | non_neg_integer(),
            stall = {0, 0} :: {non_neg_integer(), non_neg_integer()},
            event_ms = [] :: [non_neg_integer()],
            changes = [] :: [{non_neg_integer(), non_neg_integer()}]}).

%% @doc Bytes of the transport header in every datagram (20, as uTP).
-spec header_bytes() -> 20.
header_bytes() -> ?HEADER.

%% @doc Bytes the padding extension adds by itself (its header).
-spec padding_overhead() -> 3.
padding_overhead() -> ?PADDING_OVERHEAD.

%% @doc Transfers `bytes' (default 5 000 000) from a sender in the calling
%% process to a receiver at `server_ip':`port' (default 7400) and returns
%% the result.
%%
%% Options: `sizing' is `plpmtud' (the default: segments at {@link
%% plpmtud:packet_size/1}, probes padded data, DF `probe'), `{fixed, 1296}'
%% (aiutp today: the kernel's default DF policy `want') or `{fixed, N}' for
%% other sizes (DF `probe'). `client_netns' and `server_netns' name network
%% namespaces (under `/run/netns', root) for the two sockets. `events' are
%% `{Fraction, Fun}': `Fun' runs once when that fraction of the stream is
%% acknowledged (for instance a change of a link's MTU). `probe_interval'
%% is plpmtud's `mtu_probe_interval' (default 30 000 ms), `probe_sizes'
%% its sizes a search round (default 4). Every wait is
%% bounded: the run gives up after `stall_ms' (default 5 000) without
%% progress, or `max_ms' (default 120 000) in all.
%%
%% The result: `completed' (every byte acknowledged), `identical' (the
%% receiver's CRC-32 of the whole stream equals the sender's), `time_ms',
%% `goodput_mb_s' (stream bytes acknowledged per second, in MB), the
%% payload per packet at the end, datagrams sent, retransmissions, probes,
%% window reductions and how many of them were caused by batches of probe
%% losses only (by the sender's own records: it must be 0), losses of
%% packets that were no probe when sent (a lost probe's data resent under
%% its sequence number) that {@link plpmtud:on_lost/4} answered as
%% probes, tail-loss probes, gen_udp sends refused with `emsgsize',
%% `udp_errors' (gen_udp's `{udp_error, Socket, Reason}' messages: an ICMP
%% error of an earlier datagram, counted and otherwise ignored: plpmtud
%% learns from its probes), fragmentable sends, the packet size changes
%% (`{AtMs, Payload}') and the prober's info. The caller's mailbox is left
%% as it was: what the socket sent after it was closed is flushed.
-spec run(options()) -> result().
run(#{server_ip := ServerIp} = Options) ->
    Port = maps:get(port, Options, 7400),
    Total = maps:get(bytes, Options, 5000000),
    Sizing = maps:get(sizing, Options, plpmtud),
    Family = case tuple_size(ServerIp) of 4 -> inet; 8 -> inet6 end,
    Data = stream(Total, maps:get(seed, Options, 1)),
    {ok, Receiver} = plpmtud_example_utp_receiver:start(
                       #{ip => ServerIp, port => Port, total => Total,
                         netns => maps:get(server_netns, Options, undefined)}),
    try
        {ok, Socket} = open(Family, ServerIp, Port, maps:get(client_netns, Options, undefined)),
        try
            ok = plpmtud_socket:set_df(Socket, df(Sizing)),
            H = prober(Sizing, Family, maps:get(probe_interval, Options, 30000),
                       maps:get(probe_sizes, Options, 4)),
            Rtt = handshake(Socket, 5),
            ok = plpmtud:on_rtt(H, Rtt),
            Now = plpmtud:now_ms(),
            case {plpmtud:connected(H, Now, #{socket => Socket}), Sizing} of
                {Events, _} when is_list(Events) -> ok;
                {{error, {no_df, _}}, {fixed, _}} -> ok
            end,
            Pieces = Family =:= inet6 orelse maps:get(ipv4_fragments, Options, df_off) =:= pieces,
            S0 = #s{socket = Socket, h = H, sizing = Sizing, pieces = Pieces,
                    handshake_rtt = Rtt, srtt = Rtt, rttvar = Rtt / 2,
                    rto = min(?MAX_RTO, max(?MIN_RTO, 3 * Rtt)),
                    data = Data, total = Total, flight = gb_trees:empty(),
                    rtx = gb_sets:empty(), ps = plpmtud:packet_size(H),
                    base_ps = plpmtud:base_size(H),
                    cwnd = 16 * 1024, events = lists:keysort(1, maps:get(events, Options, [])),
                    started = Now, last_progress = Now,
                    stall_ms = maps:get(stall_ms, Options, 5000),
                    deadline = Now + maps:get(max_ms, Options, 120000)},
            S = loop(S0),
            finish(S, Receiver, erlang:crc32(Data))
        after
            gen_udp:close(Socket),
            flush(Socket)
        end
    after
        plpmtud_example_utp_receiver:stop(Receiver)
    end.

%% What the closed socket left in the caller's mailbox.
flush(Socket) ->
    receive
        {udp, Socket, _, _, _} -> flush(Socket);
        {udp_error, Socket, _} -> flush(Socket);
        {udp_passive, Socket} -> flush(Socket)
    after 0 ->
        ok
    end.

stream(Total, Seed) ->
    {Bytes, _} = rand:bytes_s(Total, rand:seed_s(exsss, Seed)),
    Bytes.

open(Family, Ip, Port, Netns) ->
    NsOpts = case Netns of
        undefined -> [];
        Name -> [{netns, "/run/netns/" ++ Name}]
    end,
    case gen_udp:open(0, [binary, Family, {active, ?ACTIVE}, {recbuf, 1 bsl 20},
                          {sndbuf, 4 bsl 20} | NsOpts]) of
        {ok, Socket} ->
            ok = gen_udp:connect(Socket, Ip, Port),
            {ok, Socket};
        {error, _} = Error ->
            Error
    end.

%% The connection's handshake: a SYN the receiver acknowledges, resent
%% every 200 ms. Its round-trip time (ms, rounded up) goes to the prober
%% before the connection counts as up, so that probe timeouts follow the
%% path from the first probe on.
handshake(_Socket, 0) ->
    erlang:error(no_handshake);
handshake(Socket, Tries) ->
    T0 = erlang:monotonic_time(microsecond),
    ok = gen_udp:send(Socket, <<?SYN, ?EXT_NONE, 0:16, 0:32, 0:32, 0:32, 0:32>>),
    receive
        {udp, Socket, _Ip, _Port, <<?STATE, _/binary>>} ->
            (erlang:monotonic_time(microsecond) - T0 + 999) div 1000
    after 200 ->
        handshake(Socket, Tries - 1)
    end.

df({fixed, 1296}) -> want;
df(_Sizing) -> probe.

%% The transport feeds every RTT sample (its own queue included) to the
%% prober, so a probe timeout can follow the path closely: 20 ms at least.
%% Each size goes as 3 padded data packets at once (probe_copies), whose
%% losses SACK reports, and the search ends within 2 bytes; a round probes
%% `probe_sizes' sizes at once (option, default 4: the probes are data
%% packets, so more sizes cost no extra datagram).
prober(Sizing, Family, Interval, Sizes) ->
    Base = #{packet_overhead => ?UDP + ?HEADER, padding_overhead => ?PADDING_OVERHEAD,
             family => Family, probe_timeout_mode => rtt, mtu_probe_interval => Interval,
             black_hole_threshold => 1, min_probe_timeout => 20,
             probe_copies => 3, probe_sizes => Sizes, search_threshold => 2},
    case Sizing of
        plpmtud ->
            {ok, Probing} = plpmtud:new(Base#{mtu_initial => 1344}),
            Probing;
        {fixed, Payload} ->
            %% disabled_mtu is in IP bytes, like every MTU of the configuration.
            {ok, H} = plpmtud:new(Base),
            Ip = Payload + maps:get(overhead, plpmtud:info(H)),
            {ok, Fixed} = plpmtud:new(Base#{mtu_discovery_enabled => false, disabled_mtu => Ip,
                                            mtu_ceiling => max(Ip, 1500)}),
            Fixed
    end.

%% --- the sender's loop ---------------------------------------------------

loop(#s{acked = Total, total = Total} = S) ->
    S;
loop(S0) ->
    Now = plpmtud:now_ms(),
    case Now - S0#s.last_progress > S0#s.stall_ms orelse Now > S0#s.deadline of
        true ->
            S0;
        false ->
            S = tail_probe(fill(losses(tick(events(S0), Now), Now)), Now),
            Socket = S#s.socket,
            Wait = max(0, min(S#s.next_tick, pto_at(S)) - plpmtud:now_ms()),
            receive
                {udp, Socket, _Ip, _Port, Datagram} ->
                    loop(on_datagram(Datagram, S));
                {udp_passive, Socket} ->
                    ok = inet:setopts(Socket, [{active, ?ACTIVE}]),
                    loop(S);
                {udp_error, Socket, _Reason} ->
                    loop(S#s{udp_errors = S#s.udp_errors + 1})
            after Wait ->
                loop(S)
            end
    end.

%% An event's fun runs in the sender's process: the path changes at a
%% known point of the stream, and the sender waits meanwhile (as in a
%% pause of its scheduler).
events(#s{events = [{Fraction, Fun} | Rest], acked = Acked, total = Total} = S)
  when Acked >= Fraction * Total ->
    _ = Fun(),
    events(S#s{events = Rest, event_ms = [plpmtud:now_ms() - S#s.started | S#s.event_ms]});
events(S) ->
    S.

%% The prober's timer, then the retransmission timer, every TICK_MS.
tick(#s{next_tick = Next} = S, Now) when Now < Next ->
    S;
tick(#s{h = H} = S0, Now) ->
    S1 = answer(plpmtud:on_tick(H, Now), S0, Now),
    rto_check(S1#s{next_tick = Now + ?TICK_MS}, Now).

%% The probe in flight timed out: its data goes again, unpadded; the
%% prober has counted the loss and the window is not touched.
probe_timed_out(Seq, #s{pkts = Pkts} = S) ->
    case Pkts of
        #{Seq := #pkt{where = flight, wire = Wire} = P} ->
            to_rtx(Seq, P, S#s{probe_bytes = S#s.probe_bytes + Wire});
        _ -> S
    end.

rto_check(#s{flight = Flight, pkts = Pkts, rto = Rto} = S, Now) ->
    case gb_trees:is_empty(Flight) of
        true ->
            S;
        false ->
            {_Tx, Seq} = gb_trees:smallest(Flight),
            #pkt{sent = Sent} = maps:get(Seq, Pkts),
            case Now - Sent >= Rto of
                true ->
                    Lost = gb_trees:values(Flight),
                    S1 = lost_batch(Lost, timeout, S, Now),
                    S1#s{rto = min(S1#s.rto * 2, ?MAX_RTO)};
                false ->
                    S
            end
    end.

%% The tail-loss probe (RFC 8985's TLP, RFC 9002's PTO): when nothing was
%% sent for a probe timeout while packets are in flight, and no ack came
%% (the window is full of packets the path may have dropped, for instance
%% because its MTU fell), one packet of at most the base size goes: new
%% data if any is left, else the oldest packet in flight, resent. Its ack
%% tells the packets sent before it lost (see losses/2) long before the
%% retransmission timeout; the base size gets it through any path. It
%% answers nothing for the prober.
tail_probe(S, Now) ->
    case Now >= pto_at(S) of
        false ->
            S;
        true ->
            S1 = S#s{ptos = S#s.ptos + 1, tail_probes = S#s.tail_probes + 1},
            case S1#s.next_off < S1#s.total of
                true ->
                    send_new(min(S1#s.total - S1#s.next_off, S1#s.base_ps), none, S1);
                false ->
                    oldest_data_again(gb_trees:iterator(S1#s.flight), S1)
            end
    end.

%% The oldest packet in flight that is no probe goes again: a probe's fate
%% is the prober's to tell (a resend under its id would be taken for its
%% ack). Nothing goes when only probes are in flight.
oldest_data_again(Iter, #s{pkts = Pkts} = S) ->
    case gb_trees:next(Iter) of
        none ->
            S;
        {_Tx, Seq, Next} ->
            case maps:get(Seq, Pkts) of
                #pkt{probe = true} -> oldest_data_again(Next, S);
                _ -> resend(Seq, to_flight_rtx(Seq, S))
            end
    end.

%% When the tail-loss probe is due: a probe timeout (RFC 9002: SRTT + 4
%% RTTVAR + 1 ms, the receiver acks at once) after the last send, doubled
%% for each probe that got no answer; never later than the RTO. (RFC
%% 8985's 2 SRTT stalled the lab's drop to 1280 longer: 16-19 ms against
%% 10-12 ms, 7 transfers each.) After two unanswered tail-loss probes only
%% the retransmission timeout acts (`infinity': none due).
pto_at(#s{flight_bytes = 0}) ->
    infinity;
pto_at(#s{ptos = N}) when N >= ?MAX_TAIL_PROBES ->
    infinity;
pto_at(#s{srtt = Srtt, rttvar = Var, ptos = N, rto = Rto, last_sent = Last}) ->
    Last + min(Rto, max(?MIN_PTO, ceil(Srtt + 4 * Var) + 1) bsl N).

%% Packet Seq leaves the flight for a resend without being declared lost.
to_flight_rtx(Seq, S) ->
    S1 = to_rtx(Seq, maps:get(Seq, S#s.pkts), S),
    S1#s{rtx = gb_sets:delete(Seq, S1#s.rtx)}.

%% --- sending -------------------------------------------------------------

%% Retransmissions first, then new data, while the window has room; one
%% probe may go when it is full.
fill(#s{rtx = Rtx} = S) ->
    case gb_sets:is_empty(Rtx) of
        false ->
            {Seq, Rtx1} = gb_sets:take_smallest(Rtx),
            #pkt{data = Data} = maps:get(Seq, S#s.pkts),
            case room(byte_size(Data), S) of
                true -> fill(resend(Seq, S#s{rtx = Rtx1}));
                false -> fill_new(S, true)
            end;
        true ->
            fill_new(S, false)
    end.

fill_new(#s{next_off = Off, total = Total} = S, _Blocked) when Off >= Total ->
    S;
fill_new(#s{h = H} = S, Blocked) ->
    {Len, Padding, ProbeShaped} = plan(plpmtud:probe_size(H), S),
    case Blocked orelse not room(Len, S) of
        false -> fill(send_new(Len, Padding, S));
        true when ProbeShaped -> send_new(Len, Padding, S);
        true -> S
    end.

room(Bytes, #s{flight_bytes = 0}) -> Bytes >= 0;
room(Bytes, #s{flight_bytes = F, cwnd = Cwnd}) -> F + Bytes =< Cwnd.

%% The next segment: at the packet size, or padded up to the probe size
%% when a probe is due (cut at the probe size if that is smaller), and
%% whether it is shaped as the due probe.
plan(nil, #s{next_off = Off, total = Total, ps = Ps}) ->
    {min(Total - Off, Ps), none, false};
plan(Probe, #s{h = H, next_off = Off, total = Total, ps = Ps}) ->
    Remaining = Total - Off,
    Len = min(Remaining, Ps),
    Cut = Probe - ?PADDING_OVERHEAD,
    case plpmtud:probe_padding(H, Len) of
        _ when Len >= Probe -> {Probe, none, true};
        nil when Cut > 0, Cut =< Remaining -> {Cut, plpmtud:probe_padding(H, Cut), true};
        nil -> {Len, none, false};
        Padding -> {Len, Padding, true}
    end.

send_new(Len, Padding, #s{h = H, next_off = Off} = S) ->
    Seq = S#s.next_seq,
    Data = binary:part(S#s.data, Off, Len),
    {Datagram, Wire, Extra} = case Padding of
        none ->
            {[header(Seq, ?EXT_NONE), Data], Len, 0};
        _ ->
            {[header(Seq, ?EXT_PADDING), <<?EXT_NONE, Padding:16>>, binary:copy(<<0>>, Padding), Data],
             Len + ?PADDING_OVERHEAD + Padding, ?PADDING_OVERHEAD + Padding}
    end,
    Now = plpmtud:now_ms(),
    S1 = S#s{next_seq = Seq + 1, next_off = Off + Len, packets = S#s.packets + 1},
    P = #pkt{data = Data, wire = Wire, seen = Wire, tx = S1#s.txc, sent = Now},
    case send(fun() -> gen_udp:send(S#s.socket, Datagram) end, Wire, S1) of
        {{error, emsgsize}, S2} ->
            Queued = S2#s{pkts = (S2#s.pkts)#{Seq => P#pkt{where = rtx, wire = Len, seen = Len}},
                          rtx = gb_sets:add(Seq, S2#s.rtx)},
            refused(Wire, Queued, Now);
        {_Sent, S2} ->
            IsProbe = plpmtud:on_send(H, Seq, Wire, Now) =:= probe,
            in_flight(Seq, P#pkt{probe = IsProbe},
                      S2#s{probes = S2#s.probes + bool(IsProbe),
                           probe_bytes = S2#s.probe_bytes + bool(IsProbe) * Extra})
    end.

%% A send, once more if gen_udp refuses it: a connected socket reports an
%% earlier datagram's ICMP error as emsgsize on the next send, so only a
%% second refusal is the kernel refusing this packet.
send(Send, Bytes, S) ->
    case Send() of
        {error, emsgsize} ->
            Late = S#s{late_refusals = S#s.late_refusals + 1},
            case Send() of
                ok -> {ok, sent(Bytes, Late)};
                Again -> {Again, Late}
            end;
        ok ->
            {ok, sent(Bytes, S)};
        Other ->
            {Other, S}
    end.

sent(Bytes, S) -> S#s{bytes_sent = S#s.bytes_sent + Bytes}.

%% A retransmission: the same bytes, never padded, in a form every path
%% carries: a packet bigger than the base size goes in pieces of at most
%% the base size the receiver joins (the fragment extension; always on
%% IPv6), or on IPv4 with DF off for routers to fragment. A packet that was
%% lost once so never stalls the stream again, whatever the PLPMTU (a path
%% whose MTU fell, a check still running). The prober learns nothing from
%% the fate of such a resend (size 0).
resend(Seq, #s{pkts = Pkts, base_ps = Base, socket = Socket} = S) ->
    #pkt{data = Data, count = Count} = P = maps:get(Seq, Pkts),
    Len = byte_size(Data),
    Now = plpmtud:now_ms(),
    S1 = S#s{packets = S#s.packets + 1, retransmissions = S#s.retransmissions + 1},
    {Sent, S2} = case Len > Base of
        true when S#s.pieces ->
            pieces(Seq, Data, Base, S1#s{fragmentable = S1#s.fragmentable + 1});
        true ->
            send(fun() -> plpmtud_socket:send_fragmentable(Socket, [header(Seq, ?EXT_NONE), Data]) end,
                 Len, S1#s{fragmentable = S1#s.fragmentable + 1});
        false ->
            send(fun() -> gen_udp:send(Socket, [header(Seq, ?EXT_NONE), Data]) end, Len, S1)
    end,
    Seen = case Len > Base of
        true -> 0;
        false -> Len
    end,
    S3 = in_flight(Seq, P#pkt{wire = Len, seen = Seen, probe = false, tx = S2#s.txc, sent = Now,
                              count = Count + 1}, S2),
    case Sent of
        {error, emsgsize} -> refused(Len, S3, Now);
        _ -> S3
    end.

%% Packet Seq in pieces of at most the packet size, each with the fragment
%% extension (`<<Next:8, 2:8, Index:8, Count:8>>'): the same sequence
%% number, the same bytes once the receiver joins them.
pieces(Seq, Data, Ps, #s{socket = Socket} = S) ->
    Len = byte_size(Data),
    Count = ceil_div(Len, Ps - ?FRAGMENT_OVERHEAD),
    Size = ceil_div(Len, Count),
    lists:foldl(
      fun(I, {Result, Acc}) ->
              Off = I * Size,
              Chunk = binary:part(Data, Off, min(Size, Len - Off)),
              Datagram = [header(Seq, ?EXT_FRAGMENT), <<?EXT_NONE, 2, I, Count>>, Chunk],
              {R, Acc1} = send(fun() -> gen_udp:send(Socket, Datagram) end,
                               byte_size(Chunk) + ?FRAGMENT_OVERHEAD,
                               Acc#s{fragments = Acc#s.fragments + 1}),
              {case Result of ok -> R; _ -> Result end, Acc1}
      end, {ok, S}, lists:seq(0, Count - 1)).

ceil_div(A, B) -> (A + B - 1) div B.

%% gen_udp refused the packet twice: the prober learns the kernel's MTU.
%% The packet waits in the retransmission queue, to go at the new packet
%% size (in pieces if it is bigger).
refused(Bytes, #s{h = H, socket = Socket} = S, Now) ->
    answer(plpmtud:on_send_refused(H, Socket, emsgsize, Bytes, Now),
           S#s{refused = S#s.refused + 1}, Now).

in_flight(Seq, #pkt{wire = Wire, tx = Tx} = P, S) ->
    S#s{pkts = (S#s.pkts)#{Seq => P#pkt{where = flight}},
        flight = gb_trees:insert(Tx, Seq, S#s.flight),
        flight_bytes = S#s.flight_bytes + Wire,
        last_sent = P#pkt.sent,
        txc = Tx + 1}.

to_rtx(Seq, #pkt{tx = Tx, wire = Wire} = P, S) ->
    S#s{pkts = (S#s.pkts)#{Seq => P#pkt{where = rtx}},
        flight = gb_trees:delete(Tx, S#s.flight),
        flight_bytes = S#s.flight_bytes - Wire,
        rtx = gb_sets:add(Seq, S#s.rtx)}.

header(Seq, Ext) ->
    <<?DATA, Ext, 0:16, 0:32, Seq:32, 0:32, 0:32>>.

bool(true) -> 1;
bool(false) -> 0.

%% --- acks and losses -----------------------------------------------------

on_datagram(<<?STATE, Ext, _Conn:16, _Wnd:32, _Seq:32, Next:32, _:32, Rest/binary>>, S0) ->
    Now = plpmtud:now_ms(),
    Sacked = case {Ext, Rest} of
        {?EXT_SACK, <<_NextExt, Len, Bitmap:(Len * 8)/little, _/binary>>} ->
            sacked(Bitmap, Next + 1, Len * 8, S0#s.pkts);
        _ -> []
    end,
    Cumulative = case Next > S0#s.base of
        true -> lists:seq(S0#s.base, Next - 1);
        false -> []
    end,
    S1 = lists:foldl(fun(Seq, S) -> acked(Seq, S, Now) end, S0, Cumulative ++ Sacked),
    S2 = case Next > S1#s.base of
        true -> progress(S1#s{base = Next}, Now);
        false -> S1
    end,
    losses(S2, Now);
on_datagram(_Other, S) ->
    S.

%% The stream moved: the longest time without progress so far, and when it ended.
progress(#s{last_progress = Last, stall = {Longest, _}} = S, Now) when Now - Last > Longest ->
    S#s{last_progress = Now, stall = {Now - Last, Now - S#s.started}};
progress(S, Now) ->
    S#s{last_progress = Now}.

%% The packets still unacknowledged whose bit is set (bit I: First + I).
sacked(Bitmap, First, Bits, Pkts) ->
    [Seq || Seq <- maps:keys(Pkts), Seq >= First, Seq < First + Bits,
            (Bitmap bsr (Seq - First)) band 1 =:= 1].

acked(Seq, #s{pkts = Pkts, h = H} = S, Now) ->
    case maps:take(Seq, Pkts) of
        error ->
            S;
        {#pkt{data = Data, wire = Wire, seen = Seen, tx = Tx, where = Where} = P, Pkts1} ->
            S1 = case Where of
                flight -> S#s{flight = gb_trees:delete(Tx, S#s.flight),
                              flight_bytes = S#s.flight_bytes - Wire};
                rtx -> S#s{rtx = gb_sets:delete(Seq, S#s.rtx)}
            end,
            S2 = rtt(P, S1, Now),
            S3 = grow(Wire, S2#s{pkts = Pkts1, acked = S2#s.acked + byte_size(Data), ptos = 0,
                                 top3 = top3(Tx, S2#s.top3)}),
            answer(plpmtud:on_ack(H, Seq, Seen, Now), S3, Now)
    end.

top3(Tx, Top) -> lists:sublist(lists:reverse(lists:sort([Tx | Top])), 3).

%% RFC 6298, from packets sent once only (Karn); every sample also goes to
%% the prober, so that probe timeouts follow the RTT under load.
rtt(#pkt{count = 1, sent = Sent}, S, Now) ->
    R = Now - Sent,
    {Srtt, Var} = case S#s.srtt of
        undefined -> {R, R / 2};
        Old -> {0.875 * Old + 0.125 * R, 0.75 * S#s.rttvar + 0.25 * abs(Old - R)}
    end,
    ok = plpmtud:on_rtt(S#s.h, R),
    S#s{srtt = Srtt, rttvar = Var,
        rto = min(?MAX_RTO, max(?MIN_RTO, round(Srtt + 4 * Var)))};
rtt(_P, S, _Now) ->
    S.

grow(Bytes, #s{cwnd = Cwnd, ssthresh = Ssthresh} = S) when Cwnd < Ssthresh ->
    S#s{cwnd = min(?MAX_CWND, Cwnd + Bytes)};
grow(Bytes, #s{cwnd = Cwnd, ps = Ps} = S) ->
    S#s{cwnd = min(?MAX_CWND, Cwnd + max(1, Bytes * Ps div Cwnd))}.

%% A packet is lost when three packets sent after it were acknowledged
%% (uTP's rule), or when a packet sent after it was acknowledged and it has
%% been in flight for SRTT plus a quarter of it, at least 1 ms (RACK, RFC
%% 8985: a path that reorders less than that). Checked on every ack and
%% every turn of the loop.
losses(#s{top3 = []} = S, _Now) ->
    S;
losses(#s{top3 = [Latest | _] = Top, flight = Flight, pkts = Pkts, srtt = Srtt} = S, Now) ->
    Third = case Top of
        [_, _, T] -> T;
        _ -> -1
    end,
    Old = Now - ceil(Srtt + max(1, Srtt / 4)),
    First = gb_trees:next(gb_trees:iterator(Flight)),
    case lost_before(First, Latest, Third, Old, Pkts, []) of
        [] -> S;
        Lost -> lost_batch(Lost, sack, S, Now)
    end.

lost_before({Tx, Seq, Iter}, Latest, Third, Old, Pkts, Acc)
  when Tx < Third; Tx < Latest, (map_get(Seq, Pkts))#pkt.sent =< Old ->
    lost_before(gb_trees:next(Iter), Latest, Third, Old, Pkts, [Seq | Acc]);
lost_before(_Next, _Latest, _Third, _Old, _Pkts, Acc) ->
    lists:reverse(Acc).

%% One batch of losses: one call to the prober, one decision on the window.
lost_batch(Seqs, Reason, #s{h = H, pkts = Pkts} = S0, Now) ->
    Lost = [{Seq, maps:get(Seq, Pkts)} || Seq <- Seqs],
    {Probes, Events} = plpmtud:on_lost(H, [{Seq, P#pkt.seen} || {Seq, P} <- Lost], Reason, Now),
    S1 = lists:foldl(fun({Seq, P}, S) -> to_rtx(Seq, P, S) end, S0, Lost),
    Data = [L || {Seq, _} = L <- Lost, not lists:member(Seq, Probes)],
    ProbeBytes = lists:sum([P#pkt.wire || {Seq, P} <- Lost, lists:member(Seq, Probes)]),
    S2 = S1#s{probe_bytes = S1#s.probe_bytes + ProbeBytes},
    S3 = case Data of
        [] -> S2;
        _ -> decrease(Reason, Lost, S2)
    end,
    answer(Events, S3, Now).

decrease(Reason, Lost, #s{cwnd = Cwnd, ps = Ps} = S) ->
    Min = 2 * max(Ps, 576),
    Fresh = lists:any(fun({_, #pkt{tx = Tx}}) -> Tx >= S#s.recover_tx end, Lost),
    case Reason =:= timeout orelse Fresh of
        false ->
            S;
        true ->
            Ssthresh = max(Min, Cwnd div 2),
            NewCwnd = case Reason of
                timeout -> Min;
                sack -> Ssthresh
            end,
            ByProbes = lists:all(fun({_, #pkt{probe = Probe}}) -> Probe end, Lost),
            S#s{cwnd = NewCwnd, ssthresh = Ssthresh, recover_tx = S#s.txc,
                reductions = S#s.reductions + 1,
                probe_reductions = S#s.probe_reductions + bool(ByProbes)}
    end.

%% --- the packet size -----------------------------------------------------

%% Acts on the prober's answer, event by event: new segments follow the
%% packet size it announces (packets in flight keep theirs: those the path
%% drops are found lost, see losses/2, and resent in a form every path
%% carries; a fall that is only a check, a black-hole suspicion, so costs
%% nothing when the check passes); a probe that timed out has its data
%% resent; the first search's end is noted.
answer([], S, _Now) ->
    S;
answer([{mtu_changed, _Old, New, _Reason} | Rest], S, Now) ->
    answer(Rest, S#s{ps = New, changes = [{Now - S#s.started, New} | S#s.changes]}, Now);
answer([{probe_lost, Seq, _Size, timeout} | Rest], S, Now) ->
    answer(Rest, probe_timed_out(Seq, S), Now);
answer([{search_complete, _Size} | Rest], #s{sizing = plpmtud, search_done = undefined} = S,
       Now) ->
    answer(Rest, S#s{search_done = Now - S#s.started}, Now);
answer([{fallback, _Size, _NextInMs} | Rest], #s{sizing = plpmtud, search_done = undefined} = S,
       Now) ->
    answer(Rest, S#s{search_done = Now - S#s.started}, Now);
answer([_Event | Rest], S, Now) ->
    answer(Rest, S, Now).

%% --- the result ----------------------------------------------------------

finish(S, Receiver, CrcSent) ->
    Completed = S#s.acked =:= S#s.total,
    CrcReceived = receive
        {utp_received, Receiver, Crc, _Bytes} -> Crc
    after
        case Completed of true -> 2000; false -> 0 end -> undefined
    end,
    Now = plpmtud:now_ms(),
    Time = max(1, Now - S#s.started),
    Stall = case Completed of
        true -> S#s.stall;
        false -> max(S#s.stall, {Now - S#s.last_progress, Time})
    end,
    Info = plpmtud:info(S#s.h),
    #{completed => Completed,
      identical => Completed andalso CrcReceived =:= CrcSent,
      time_ms => Time,
      goodput_mb_s => round(S#s.acked / Time / 10) / 100,
      payload_at_end => S#s.ps,
      packets => S#s.packets,
      retransmissions => S#s.retransmissions,
      tail_probes => S#s.tail_probes,
      probes => S#s.probes,
      window_reductions => S#s.reductions,
      probe_window_reductions => S#s.probe_reductions,
      handshake_rtt_ms => S#s.handshake_rtt,
      search_complete_ms => S#s.search_done,
      longest_stall_ms => element(1, Stall),
      longest_stall_end_ms => element(2, Stall),
      event_ms => lists:reverse(S#s.event_ms),
      bytes_sent => S#s.bytes_sent,
      probe_bytes => S#s.probe_bytes,
      late_refusals => S#s.late_refusals,
      udp_errors => S#s.udp_errors,
      bytes_acked => S#s.acked,
      crc_sent => CrcSent,
      crc_received => CrcReceived,
      send_refused => S#s.refused,
      fragmentable_sends => S#s.fragmentable,
      fragments_sent => S#s.fragments,
      size_changes => lists:reverse(S#s.changes),
      prober => maps:without([history], Info)}.
