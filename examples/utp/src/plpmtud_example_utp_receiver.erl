%%% @doc The receiving end of {@link plpmtud_example_utp}: an example, not
%%% part of plpmtud's API.
%%%
%%% It delivers the data packets of one stream in sequence order, strips
%%% the padding extension of probes, keeps the CRC-32 of the bytes
%%% delivered so far and acknowledges every datagram it gets with the next
%%% sequence number it needs plus a selective-ACK bitmap of the packets it
%%% holds beyond it (see {@link plpmtud_example_utp} for the wire format).
%%% A packet that comes in pieces (the fragment extension) is joined
%%% before it counts: at most `MAX_PARTIAL' packets wait for their pieces,
%%% each at most `PARTIAL_MS'; one that stays incomplete is dropped (the
%%% sender resends it).
%%% When `Total' bytes are delivered it tells its owner
%%% `{utp_received, Pid, Crc32, Bytes}' and goes on acknowledging (the
%%% sender may still miss the last acks) until it is told to stop.
-module(plpmtud_example_utp_receiver).

-export([start/1, stop/1]).

-include("plpmtud_example_utp.hrl").

-define(MAX_PARTIAL, 256).
-define(PARTIAL_MS, 2000).
%% Selective ACKs cover at most this many packets beyond the cumulative ack.
-define(SACK_BITS, 1024).
-define(ACTIVE, 200).

-record(r, {socket :: gen_udp:socket(),
            owner :: pid(),
            total :: non_neg_integer(),
            next = 0 :: non_neg_integer(),
            held = #{} :: #{non_neg_integer() => binary()},
            partial = #{} :: #{non_neg_integer() => {pos_integer(), #{byte() => binary()}, integer()}},
            top = -1 :: integer(),
            delivered = 0 :: non_neg_integer(),
            crc = 0 :: non_neg_integer(),
            reported = false :: boolean()}).

%% @doc Starts a receiver owned by the calling process and waits (at most 5
%% s) until its socket is open. `Options': `ip' (the address to bind),
%% `port', `total' (stream bytes), and `netns' (a namespace name under
%% `/run/netns', or `undefined' for the caller's own).
-spec start(#{ip := inet:ip_address(), port := inet:port_number(),
              total := non_neg_integer(), netns => string() | undefined}) ->
          {ok, pid()} | {error, term()}.
start(#{ip := Ip, port := Port, total := Total} = Options) ->
    Owner = self(),
    Netns = maps:get(netns, Options, undefined),
    {Pid, Ref} = spawn_monitor(fun() -> init(Owner, Ip, Port, Total, Netns) end),
    receive
        {utp_receiver_ready, Pid} ->
            erlang:demonitor(Ref, [flush]),
            {ok, Pid};
        {'DOWN', Ref, process, Pid, Reason} ->
            {error, Reason}
    after 5000 ->
        erlang:demonitor(Ref, [flush]),
        exit(Pid, kill),
        {error, timeout}
    end.

%% @doc Stops the receiver `Pid' (its socket closes with it); waits at most
%% 2 s.
-spec stop(pid()) -> ok.
stop(Pid) ->
    Ref = erlang:monitor(process, Pid),
    Pid ! {utp_receiver_stop, self()},
    receive
        {'DOWN', Ref, process, Pid, _} -> ok
    after 2000 ->
        exit(Pid, kill),
        receive {'DOWN', Ref, process, Pid, _} -> ok after 1000 -> ok end
    end.

init(Owner, Ip, Port, Total, Netns) ->
    Family = case tuple_size(Ip) of 4 -> inet; 8 -> inet6 end,
    NsOpts = case Netns of
        undefined -> [];
        Name -> [{netns, "/run/netns/" ++ Name}]
    end,
    Opts = [binary, Family, {ip, Ip}, {active, ?ACTIVE}, {recbuf, 4 bsl 20},
            {sndbuf, 1 bsl 20}, {reuseaddr, true} | NsOpts],
    case gen_udp:open(Port, Opts) of
        {ok, Socket} ->
            Owner ! {utp_receiver_ready, self()},
            loop(#r{socket = Socket, owner = Owner, total = Total, crc = erlang:crc32(<<>>)});
        {error, Reason} ->
            exit({open_failed, Reason})
    end.

loop(#r{socket = Socket, owner = Owner} = R) ->
    receive
        {udp, Socket, Ip, Port, Datagram} ->
            R1 = on_datagram(Datagram, R),
            _ = gen_udp:send(Socket, Ip, Port, ack(R1)),
            loop(report(R1));
        {udp_passive, Socket} ->
            ok = inet:setopts(Socket, [{active, ?ACTIVE}]),
            loop(R);
        {utp_receiver_stop, Owner} ->
            gen_udp:close(Socket);
        _Other ->
            loop(R)
    end.

on_datagram(<<?DATA, Ext, _Conn:16, _Wnd:32, Seq:32, _Ack:32, _Reserved:32, Rest/binary>>, R) ->
    case strip(Ext, Rest, whole) of
        {ok, Data, whole} -> hold(Seq, Data, R);
        {ok, Piece, {Index, Count}} -> piece(Seq, Index, Count, Piece, R);
        error -> R
    end;
on_datagram(_Other, R) ->
    R.

%% The padding extension (3 bytes of header: next extension, 16-bit length)
%% and its bytes go; the data is what follows. The fragment extension
%% (next extension, length 2, index, count) says the data is one piece.
strip(?EXT_NONE, Data, Kind) ->
    {ok, Data, Kind};
strip(?EXT_PADDING, <<Next, Len:16, _Padding:Len/binary, Rest/binary>>, Kind) ->
    strip(Next, Rest, Kind);
strip(?EXT_FRAGMENT, <<Next, 2, Index, Count, Rest/binary>>, whole) when Index < Count ->
    strip(Next, Rest, {Index, Count});
strip(_Ext, _Rest, _Kind) ->
    error.

%% One piece of packet Seq: when all its pieces are here, the packet is
%% joined and held as if it had come whole.
piece(Seq, _Index, _Count, _Piece, #r{next = Next, held = Held} = R)
  when Seq < Next; is_map_key(Seq, Held) ->
    R;
piece(Seq, Index, Count, Piece, R0) ->
    Now = erlang:monotonic_time(millisecond),
    #r{partial = Partial} = R = expire(R0, Now),
    case Partial of
        #{Seq := {Count, Pieces, Deadline}} ->
            joined(Seq, Count, Pieces#{Index => Piece}, Deadline, R);
        #{Seq := _OtherCount} ->
            R;
        _ when map_size(Partial) >= ?MAX_PARTIAL ->
            R;
        _ ->
            joined(Seq, Count, #{Index => Piece}, Now + ?PARTIAL_MS, R)
    end.

joined(Seq, Count, Pieces, _Deadline, #r{partial = Partial} = R) when map_size(Pieces) =:= Count ->
    Data = iolist_to_binary([maps:get(I, Pieces) || I <- lists:seq(0, Count - 1)]),
    hold(Seq, Data, R#r{partial = maps:remove(Seq, Partial)});
joined(Seq, Count, Pieces, Deadline, #r{partial = Partial} = R) ->
    R#r{partial = Partial#{Seq => {Count, Pieces, Deadline}}}.

expire(#r{partial = Partial} = R, _Now) when map_size(Partial) =:= 0 ->
    R;
expire(#r{partial = Partial} = R, Now) ->
    R#r{partial = maps:filter(fun(_Seq, {_, _, Deadline}) -> Deadline > Now end, Partial)}.

hold(Seq, _Data, #r{next = Next} = R) when Seq < Next ->
    R;
hold(Seq, Data, #r{next = Seq} = R) ->
    deliver(R#r{next = Seq + 1, delivered = R#r.delivered + byte_size(Data),
                crc = erlang:crc32(R#r.crc, Data)});
hold(Seq, Data, #r{held = Held, top = Top} = R) ->
    R#r{held = Held#{Seq => Data}, top = max(Top, Seq)}.

deliver(#r{next = Next, held = Held} = R) ->
    case maps:take(Next, Held) of
        {Data, Held1} ->
            deliver(R#r{next = Next + 1, held = Held1,
                        delivered = R#r.delivered + byte_size(Data),
                        crc = erlang:crc32(R#r.crc, Data)});
        error ->
            R
    end.

report(#r{reported = false, delivered = Total, total = Total, owner = Owner, crc = Crc} = R) ->
    Owner ! {utp_received, self(), Crc, Total},
    R#r{reported = true};
report(R) ->
    R.

%% The cumulative ack is the next sequence number needed; bit I of the
%% bitmap (least significant bit first in each byte, as uTP) says packet
%% Next + 1 + I is held: the bitmap is the little-endian integer whose bit
%% I is set, a multiple of 4 bytes, built from the held packets alone.
ack(#r{next = Next, held = Held, top = Top}) when map_size(Held) > 0, Top > Next ->
    Bits = min(Top - Next, ?SACK_BITS),
    Bytes = ((Bits + 31) div 32) * 4,
    Int = maps:fold(fun(Seq, _, Acc) when Seq - Next - 1 < Bytes * 8 -> Acc bor (1 bsl (Seq - Next - 1));
                       (_Seq, _, Acc) -> Acc
                    end, 0, Held),
    <<?STATE, ?EXT_SACK, 0:16, 0:32, 0:32, Next:32, 0:32, ?EXT_NONE, Bytes, Int:(Bytes * 8)/little>>;
ack(#r{next = Next}) ->
    <<?STATE, ?EXT_NONE, 0:16, 0:32, 0:32, Next:32, 0:32>>.
