%%% @doc An Erlang-only consumer of plpmtud for the namespace lab
%%% (test/plpmtud/erlang_ptb_lab_test.exs): run in a VM whose code path
%%% holds plpmtud's Erlang modules and no Elixir, it opens a
%%% plpmtud_socket with DF in the lab's client namespace, sends the
%%% prober's first probe (above the path's MTU), receives the ICMP
%%% Packet-Too-Big as a `plpmtud_ptb' message, gives it to the prober with
%%% plpmtud:on_ptb/4 (the quoted bytes, matched against what was sent) and
%%% prints what happened, one `key=value' a line.
-module(plpmtud_ptb_consumer).

-export([main/1]).

%% @doc `[Netns, ServerIp, Port]': the client namespace's name (a binary),
%% the server's address and a UDP port there. Halts the VM: status 0 after
%% printing the verdict, 1 when no report came.
-spec main([term()]) -> no_return().
main([Netns, Server, Port]) ->
    Elixir = [M || {M, _} <- code:all_loaded(), lists:prefix("Elixir.", atom_to_list(M))],
    ElixirPaths = [P || P <- code:get_path(), string:find(P, "elixir") =/= nomatch],
    out("elixir_kernel", code:which('Elixir.Kernel')),
    out("elixir_modules_loaded", length(Elixir)),
    out("elixir_code_paths", length(ElixirPaths)),
    {ok, S} = plpmtud_socket:open(0, [{connect, {Server, Port}}, {df, probe}, {netns, Netns}]),
    out("socket_module", code:which(plpmtud_socket)),
    {ok, H} = plpmtud:new(#{family => inet, packet_overhead => 8, mtu_floor => 1280}),
    [{search_started, _} | _] = plpmtud:connected(H, plpmtud:now_ms(), #{socket => S}),
    Size = plpmtud:probe_size(H),
    Seq = 1,
    Probe = <<Seq:64, (rand:bytes(Size - 8))/binary>>,
    probe = plpmtud:on_send(H, Seq, Size, Probe, plpmtud:now_ms()),
    ok = plpmtud_socket:send(S, Probe),
    out("probe_payload", Size),
    receive
        {plpmtud_ptb, S, #{mtu := IpMtu, quoted := <<QuotedSeq:64, _/binary>> = Quoted} = Report} ->
            out("ptb_mtu", IpMtu),
            out("ptb_offender", inet:ntoa(maps:get(offender, Report))),
            out("quoted_seq", QuotedSeq),
            [{ptb, IpMtu, Verdict} | _] = plpmtud:on_ptb(H, IpMtu, Quoted, plpmtud:now_ms()),
            out("verdict", Verdict),
            out("probe_size_after", plpmtud:probe_size(H)),
            out("elixir_kernel_after", code:which('Elixir.Kernel')),
            ok = plpmtud_socket:close(S),
            erlang:halt(0)
    after 5000 ->
        out("ptb", none),
        erlang:halt(1)
    end.

out(Key, Value) ->
    io:format("~s=~0tp~n", [Key, Value]).
