%%% @doc Both ends of a bulk transfer with the real aiutp, one per VM, for
%%% the namespace lab (test/plpmtud/aiutp_lab_test.exs, bench/aiutp.sh).
%%%
%%% The server accepts one connection, reads `Bytes' bytes, answers with
%%% their SHA-256 and exits; the client connects, sends `Bytes' random bytes,
%%% waits for the answer and prints one Erlang term (`#{...}.') with the
%%% time, both digests and, for the patched aiutp, its `aiutp_pmtud'
%%% counters and the prober's info. Every wait is bounded: a VM that has not
%%% finished after `MaxMs' prints `#{completed => false, ...}.' and halts.
-module(aiutp_lab).
-include("aiutp.hrl").

-export([server/1, client/1]).

%% @doc `[Port, Bytes, MaxMs]' as strings (from `erl -run').
server([Port, Bytes, MaxMs]) ->
    watchdog(list_to_integer(MaxMs), server),
    {ok, _} = application:ensure_all_started(aiutp),
    {ok, Sock} = aiutp:open(list_to_integer(Port)),
    ok = aiutp:listen(Sock),
    io:format("listening~n"),
    {ok, Conn} = aiutp:accept(Sock),
    {Got, Digest} = read(Conn, list_to_integer(Bytes), 0, crypto:hash_init(sha256)),
    ok = aiutp:send(Conn, term_to_binary({Got, Digest})),
    timer:sleep(2000),
    halt(0).

%% @doc `[Ip, Port, Bytes, MaxMs]' as strings.
client([Ip, Port, Bytes, MaxMs]) ->
    Watchdog = watchdog(list_to_integer(MaxMs), client),
    {ok, Addr} = inet:parse_address(Ip),
    N = list_to_integer(Bytes),
    {ok, _} = application:ensure_all_started(aiutp),
    {ok, Sock} = aiutp:open(0, [{udp, [family(Addr)]}]),
    Data = crypto:strong_rand_bytes(N),
    {ok, {utp, _, Channel} = Conn} = aiutp:connect(Sock, Addr, list_to_integer(Port)),
    Watchdog ! {channel, Channel},
    T0 = erlang:monotonic_time(millisecond),
    ok = send_all(Conn, Data),
    {ok, Answer} = recv_all(Conn, <<>>),
    Ms = erlang:monotonic_time(millisecond) - T0,
    {Got, Digest} = binary_to_term(Answer),
    Result = #{completed => true, ms => Ms, bytes_sent => N, bytes_received => Got,
               identical => Got =:= N andalso Digest =:= crypto:hash(sha256, Data)},
    io:format("~p.~n", [maps:merge(Result, pmtud(Channel))]),
    halt(0).

send_all(Conn, <<Chunk:65536/binary, Rest/binary>>) ->
    ok = aiutp:send(Conn, Chunk),
    send_all(Conn, Rest);
send_all(Conn, Last) ->
    aiutp:send(Conn, Last).

read(_Conn, Left, Got, Ctx) when Left =< 0 ->
    {Got, crypto:hash_final(Ctx)};
read(Conn, Left, Got, Ctx) ->
    ok = aiutp:active(Conn, true),
    receive
        {utp_data, Conn, Data} ->
            read(Conn, Left - byte_size(Data), Got + byte_size(Data),
                 crypto:hash_update(Ctx, Data));
        {utp_closed, Conn, _Reason} ->
            {Got, crypto:hash_final(Ctx)}
    end.

%% The answer is one small term; read until it decodes.
recv_all(Conn, Acc) ->
    ok = aiutp:active(Conn, true),
    Data = receive {utp_data, Conn, D} -> D end,
    Bin = <<Acc/binary, Data/binary>>,
    try binary_to_term(Bin) of
        _ -> {ok, Bin}
    catch
        error:badarg -> recv_all(Conn, Bin)
    end.

%% The patched aiutp's counters and prober info; none for the unmodified one.
pmtud(Channel) ->
    {_StateName, #{pcb := PCB}} = sys:get_state(Channel),
    report(PCB).

report(PCB) ->
    case code:which(aiutp_pmtud) of
        non_existing -> #{patched => false};
        _ -> maps:put(patched, true, aiutp_pmtud:report(PCB))
    end.

family(Addr) when tuple_size(Addr) =:= 8 -> inet6;
family(_Addr) -> inet.

%% Halts the VM after `MaxMs'; a client's watchdog, told the channel, first
%% prints what the connection looked like (window, timers, prober).
watchdog(MaxMs, Role) ->
    spawn(fun() ->
              Deadline = erlang:monotonic_time(millisecond) + MaxMs,
              Channel = receive {channel, C} -> C
                        after MaxMs -> undefined
                        end,
              timer:sleep(max(0, Deadline - erlang:monotonic_time(millisecond))),
              io:format("~p.~n", [maps:merge(stuck(Channel),
                                             #{completed => false, role => Role, ms => MaxMs})]),
              halt(3)
          end).

%% The oldest packets of the send buffer: sequence number, payload bytes,
%% transmissions, whether a resend is due.
first_in_flight(_Buf, -1, _N) -> [];
first_in_flight(_Buf, _Iter, 0) -> [];
first_in_flight(Buf, Iter, N) ->
    #aiutp_packet_wrap{packet = #aiutp_packet{seq_nr = Seq}, payload = Payload,
                       transmissions = T, need_resend = R} = aiutp_buffer:data(Iter, Buf),
    [{Seq, Payload, T, R} | first_in_flight(Buf, aiutp_buffer:next(Iter, Buf), N - 1)].

stuck(undefined) -> #{};
stuck(Channel) ->
    try
        {_StateName, #{pcb := PCB}} = sys:get_state(Channel, 1000),
        Fields = record_info(fields, aiutp_pcb),
        Pcb = maps:from_list(lists:zip(Fields, tl(tuple_to_list(PCB)))),
        Buf = maps:get(outbuf, Pcb),
        maps:merge(report(PCB),
                   maps:put(in_flight, first_in_flight(Buf, aiutp_buffer:head(Buf), 12),
                            maps:with([state, cur_window, cur_window_packets, max_window,
                                       max_window_user, retransmit_count, rto, fast_timeout,
                                       seq_nr], Pcb)))
    catch _:Reason -> #{stuck_state => iolist_to_binary(io_lib:format("~0p", [Reason]))}
    end.
