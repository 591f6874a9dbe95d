defmodule PLPMTUD.NifSafetyTest do
  # Not async: the leak test compares the VM's memory before and after.
  use ExUnit.Case, async: false

  alias :plpmtud_nif, as: Native
  alias PLPMTUD.Test.BadValues

  # Valid arguments for every NIF; each position is replaced in turn by each bad value.
  defp valid_calls(p, s) do
    lo = {127, 0, 0, 1}
    {:ok, gen_udp} = :gen_udp.open(0, ip: lo)
    {:ok, fd} = :inet.getfd(gen_udp)
    fd = {:fd, fd}
    cache = Native.cache_new(100, 1_000)
    reassembler = Native.reassembler_new(8, 65_536, 1_000)
    {:ok, big} = :plpmtud_fragment.split(:binary.copy(<<1>>, 70_000), 1, 1_400)
    joiner = Native.reassembler_new(8, 1_000_000, 1_000)
    {:join, job} = big |> Enum.map(&Native.reassembler_push(joiner, 0, &1)) |> List.last()

    [
      {:prober_new, [%{}]},
      {:prober_connected, [p, 0, nil]},
      {:prober_connected, [p, 0, 1400]},
      {:prober_size, [p, :packet]},
      {:prober_size, [p, :probe]},
      {:prober_padding_for, [p, 500]},
      {:prober_sent, [p, 0, 1, 1010, nil]},
      {:prober_sent, [p, 0, 2, 1010, <<0::256>>]},
      {:prober_acked, [p, 0, 1, 1010]},
      {:prober_lost, [p, 0, :timeout, [{4, 1010}, {5, nil}]]},
      {:prober_ptb, [p, 0, 900, nil]},
      {:prober_ptb, [p, 0, 900, 2]},
      {:prober_ptb, [p, 0, 900, <<0::256>>]},
      {:prober_send_refused, [p, 0, 1400, nil]},
      {:prober_send_refused, [p, 0, 1400, 1300]},
      {:prober_rtt, [p, 10]},
      {:prober_tick, [p, 0]},
      {:prober_deadline, [p]},
      {:prober_set_enabled, [p, 0, true]},
      {:prober_probe_now, [p, 0]},
      {:prober_snapshot, [p]},
      {:cache_new, [100, 1000]},
      {:cache_lookup, [cache, 0, lo]},
      {:cache_record, [cache, 0, lo, 1400, :probe_success]},
      {:cache_remove, [cache, lo]},
      {:cache_snapshot, [cache, 0]},
      {:reassembler_new, [8, 65_536, 1_000]},
      {:reassembler_push, [reassembler, 0, "fragment"]},
      {:reassembler_join, [job]},
      {:reassembler_stats, [reassembler]},
      {:overhead_of, [[:ipv4, :udp]]},
      {:standard_mtus, []},
      {:socket_open, [lo, 0, nil, :probe, false, true, false, nil, false, false, nil, nil]},
      {:rate_limiter_new, [10, 10]},
      {:wire_probe, [1, 1400, 1372]},
      {:wire_ack, [1, 1372]},
      {:wire_parse, ["PLPD"]},
      {:socket_send, [s, nil, "x", false]},
      {:socket_send, [s, nil, "x", true]},
      {:socket_send, [fd, {lo, 9}, "x", true]},
      {:socket_send, [s, {lo, 9}, "x", false]},
      {:socket_send, [s, {lo, 9}, ["x"], false]},
      {:socket_recv, [s, :wait]},
      {:socket_recv, [s, :cancel]},
      {:socket_recv, [s, :nowait]},
      {:socket_ready, [s, :ready_input]},
      {:socket_ready, [s, :ready_error]},
      {:socket_start, [s, self()]},
      {:socket_setopt, [s, :active, false]},
      {:socket_setopt, [s, :gso, true]},
      {:socket_setopt, [fd, :df, :probe]},
      {:socket_setopt, [s, :df, :do]},
      {:socket_info, [s, {:path_mtu, nil}]},
      {:socket_info, [fd, {:path_mtu, {lo, 9}}]},
      {:socket_info, [fd, :df]},
      {:socket_info, [s, :df]},
      {:socket_info, [s, :sockname]},
      {:socket_info, [s, :peername]},
      {:socket_info, [s, :stats]}
    ]
  end

  # Calls that must not run with a live, valid handle replaced (they close or hand over).
  @last [:socket_close, :socket_controlling_process, :socket_attach, :rate_limiter_allow]

  test "every NIF returns or raises ArgumentError for every bad argument, and the VM works on" do
    {:ok, p} = PLPMTUD.new()
    {:ok, s} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, active: false)
    {:ok, closed} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1})
    PLPMTUD.Socket.close(closed)
    {:ok, other_prober} = PLPMTUD.new()
    {:ok, bystander} = PLPMTUD.new()
    bad = BadValues.edge_values() ++ [make_ref(), self(), closed, other_prober, s]
    # The NIFs: the module's exports but the loader's own functions.
    exported =
      (Native.module_info(:exports) -- [module_info: 0, module_info: 1, status: 0])
      |> Keyword.keys()
      |> MapSet.new()

    calls = valid_calls(p, s)

    covered =
      MapSet.new(
        Enum.map(calls, &elem(&1, 0)) ++
          @last ++ [:core_version, :config_keys, :config_table_entries, :load_nif]
      )

    assert MapSet.subset?(exported, covered),
           "untested NIFs: #{inspect(MapSet.difference(exported, covered))}"

    outcomes =
      for {fun, args} <- calls,
          args != [],
          position <- 0..(length(args) - 1),
          value <- bad,
          reduce: %{} do
        acc ->
          outcome = call_bounded(fun, List.replace_at(args, position, value))
          Map.update(acc, outcome, [{fun, position, value}], &[{fun, position, value} | &1])
      end

    assert Map.keys(outcomes) -- [:returned, :argument_error] == [],
           inspect(Map.drop(outcomes, [:returned, :argument_error]), limit: 20)

    assert length(outcomes.argument_error) > 500

    # Closing, handing over and attaching, with bad values, last.
    for value <- bad do
      for {fun, args} <- [
            {:socket_controlling_process, [value, self()]},
            {:socket_controlling_process, [closed, value]},
            {:socket_attach, [value, :probe, true]},
            {:socket_attach, [0, value, true]},
            {:rate_limiter_allow, [Native.rate_limiter_new(1, 1), value, {1, 2, 3, 4}]},
            {:socket_close, [value]}
          ] do
        try do
          apply(Native, fun, args)
        rescue
          ArgumentError -> :ok
        end
      end
    end

    # A prober nobody touched, and the VM, still work.
    assert [{:search_started, 1472}, {:probe_due, 1010}] = PLPMTUD.connected(bystander, 0)
    assert PLPMTUD.probe_size(bystander) == 1010
  end

  # Runs one call in a process of its own: it must return or raise
  # ArgumentError within a second (anything else is reported as is).
  defp call_bounded(fun, args) do
    task =
      Task.async(fn ->
        try do
          apply(Native, fun, args)
          :returned
        rescue
          ArgumentError -> :argument_error
          other -> {:raised, other}
        end
      end)

    case Task.yield(task, 1_000) || Task.shutdown(task, :brutal_kill) do
      {:ok, outcome} -> outcome
      nil -> :hung
    end
  end

  test "every list-taking function raises ArgumentError for improper lists and wrong-typed elements" do
    {:ok, s} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, active: false)
    {:ok, sink} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, active: false)
    {:ok, {_, sink_port}} = PLPMTUD.Socket.sockname(sink)
    dest = {{127, 0, 0, 1}, sink_port}

    # Each public function whose NIF decodes a list, with a valid list and
    # lists that must be refused: improper ones and wrong-typed elements.
    cases = [
      {&PLPMTUD.Cache.group_mtu/1, [{10, 0, 0, 1}], [:x, "10.0.0.1", {10, 0, 0, 256}]},
      {&PLPMTUD.Overhead.overhead/1, [:ipv4, :udp], ["udp", :no_such_layer, 1]},
      {&PLPMTUD.Overhead.payload_budget(1500, &1), [:ipv4, :udp], ["udp", 1]},
      {&PLPMTUD.Socket.send_batch(s, &1, dest), ["a", "b"], [:a, 1, ~c"ab", <<1::1>>]},
      {&PLPMTUD.Socket.send_batch(s, &1), ["a"], [:a, 1]}
    ]

    for {fun, valid, bad_elements} <- cases do
      assert outcome(fun, valid) == :returned

      lists =
        BadValues.improper_lists() ++
          [valid ++ :tail, [hd(valid) | hd(valid)]] ++
          for(e <- bad_elements, do: valid ++ [e]) ++ for(e <- bad_elements, do: [e | valid])

      for list <- lists do
        assert outcome(fun, list) == :argument_error, "#{inspect(fun)} with #{inspect(list)}"
      end
    end

    # A refused batch sent nothing: the sink got only the valid batches.
    received = Stream.repeatedly(fn -> PLPMTUD.Socket.recv(sink, 100) end)
    assert received |> Enum.take_while(&match?({:ok, _}, &1)) |> length() == 2
  end

  defp outcome(fun, arg) do
    fun.(arg)
    :returned
  rescue
    ArgumentError -> :argument_error
  end

  test "10 000 probers and 1 000 sockets created and dropped: memory returns to its baseline" do
    measure = fn ->
      :erlang.garbage_collect()
      Process.sleep(50)
      :erlang.memory(:total)
    end

    churn = fn ->
      Task.async(fn ->
        for _ <- 1..10_000, do: {:ok, _} = PLPMTUD.new()

        for _ <- 1..1_000 do
          {:ok, s} = PLPMTUD.Socket.open(0, ip: {127, 0, 0, 1}, active: false)
          PLPMTUD.Socket.close(s)
        end

        :ok
      end)
      |> Task.await(60_000)
    end

    churn.()
    baseline = measure.()
    churn.()
    churn.()
    after_churn = measure.()
    growth = after_churn - baseline
    assert growth < max(baseline * 0.05, 2_000_000), "grew by #{growth} bytes from #{baseline}"
  end
end
