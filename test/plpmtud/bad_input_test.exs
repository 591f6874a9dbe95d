defmodule PLPMTUD.BadInputTest do
  # Every public function of PLPMTUD, the Erlang facade :plpmtud and the
  # PLPMTUD.Prober client API, called with each argument replaced in turn by
  # values no argument accepts: each call must raise ArgumentError (or, for
  # the constructors, return an error tuple) and leave every prober working.
  use ExUnit.Case, async: true

  alias PLPMTUD.Prober
  alias PLPMTUD.Test.BadValues

  defp bad_values, do: BadValues.never_valid() ++ [make_ref(), self(), fn -> 1 end]

  # Valid calls of every PLPMTUD function that takes arguments, on `p`.
  defp elixir_calls(p) do
    [
      {:new, [[]]},
      {:connected, [p]},
      {:connected, [p, 0]},
      {:connected_with_hint, [p, 1400]},
      {:connected_with_hint, [p, 1400, 0]},
      {:next_probe, [p]},
      {:probe_sent, [p, 1, 1038]},
      {:probe_sent, [p, 1, 1038, 0]},
      {:acked, [p, 1]},
      {:acked, [p, 1, 0]},
      {:lost, [p, 1, :timeout]},
      {:lost, [p, 1, :dup_ack, 0]},
      {:probe?, [p, 1]},
      {:packet_acked, [p, 1000]},
      {:packet_acked, [p, 1000, 0]},
      {:packet_lost, [p, 1000]},
      {:packet_lost, [p, 1000, 0]},
      {:rtt_sample, [p, 10]},
      {:ptb, [p, 900, 1]},
      {:ptb, [p, 900, 1, 0]},
      {:emsgsize, [p, 900]},
      {:emsgsize, [p, 900, 0]},
      {:claim_probe, [p, 1, 1038]},
      {:claim_probe, [p, 1, 1038, 0]},
      {:overhead, [p]},
      {:tick, [p]},
      {:tick, [p, 0]},
      {:deadline, [p]},
      {:probe_timeout, [p]},
      {:probe_now, [p]},
      {:probe_now, [p, 0]},
      {:set_enabled, [p, true]},
      {:set_enabled, [p, true, 0]},
      {:payload_for, [p, 1038]},
      {:ip_for, [p, 1010]},
      {:send_refused, [p, 1400, nil]},
      {:send_refused, [p, 1400, 1300, 0]},
      {:mtu, [p]},
      {:payload_size, [p]},
      {:state, [p]},
      {:stats, [p]},
      {:history, [p]},
      {:info, [p]},
      {:check, [p]}
    ]
  end

  defp erlang_calls(h) do
    {:ok, sink} = :gen_udp.open(0, [:binary, ip: {127, 0, 0, 1}, active: false])
    {:ok, port} = :inet.port(sink)
    {:ok, s} = :gen_udp.open(0, [:binary, ip: {127, 0, 0, 1}, active: false])
    :ok = :gen_udp.connect(s, {127, 0, 0, 1}, port)

    [
      {:new, [%{}]},
      {:config, [%{}]},
      {:connected, [h, 0]},
      {:connected, [h, 0, s]},
      {:probe_padding, [h, 500]},
      {:ip_size, [h, 500]},
      {:on_rtt, [h, 12]},
      {:on_lost_batch, [h, [{1, 500}], :sack, 0]},
      {:on_send_refused, [h, s, :emsgsize, 1400, 0]},
      {:on_send_refused, [h, {s, {{127, 0, 0, 1}, port}}, :emsgsize, 1400, 0]},
      {:set_df, [s, :probe]},
      {:df, [s]},
      {:kernel_mtu, [s]},
      {:kernel_mtu, [s, {{127, 0, 0, 1}, port}]},
      {:send_fragmentable, [s, "x"]},
      {:send_fragmentable, [s, {{127, 0, 0, 1}, port}, "x"]},
      {:packet_size, [h]},
      {:base_size, [h]},
      {:probe_size, [h]},
      {:on_send, [h, 1, 990, 0]},
      {:on_ack, [h, 1, 990, 0]},
      {:on_lost, [h, 1, :sack, 0]},
      {:on_lost, [h, 1, :timeout, 990, 0]},
      {:on_tick, [h, 0]},
      {:on_emsgsize, [h, 900, 0]},
      {:on_ptb, [h, 900, :undefined, 0]},
      {:is_probing, [h]},
      {:info, [h]},
      {:reset, [h, 0]}
    ]
  end

  # The Prober's client functions (the server argument is tested apart).
  defp prober_calls(server) do
    [
      {:set_enabled, [server, true]},
      {:subscribe, [server, self()]},
      {:unsubscribe, [server, self()]},
      {:probe_sent, [server, 1, 1038]},
      {:acked, [server, 1]},
      {:lost, [server, 1, :timeout]},
      {:probe?, [server, 1]},
      {:packet_acked, [server, 1000]},
      {:packet_lost, [server, 1000]},
      {:rtt_sample, [server, 10]},
      {:ptb, [server, 900, 1]},
      {:emsgsize, [server, 900]}
    ]
  end

  # Every call with each position replaced by each bad value: the outcomes
  # other than ArgumentError (or an error tuple from a constructor). A pid
  # is a valid subscriber.
  defp misbehaving(module, calls, positions) do
    for {fun, args} <- calls,
        position <- positions.(args),
        value <- bad_values(),
        not (is_pid(value) and fun in [:subscribe, :unsubscribe]),
        # A datagram's data is any iodata, and some "bad" values are iodata.
        not (fun == :send_fragmentable and position == length(args) - 1 and iodata?(value)),
        outcome = call_bounded(module, fun, List.replace_at(args, position, value)),
        outcome != :argument_error and not (fun in [:new, :config] and outcome == :error_tuple) do
      {fun, position, value, outcome}
    end
  end

  defp all_positions(args), do: Enum.to_list(0..(length(args) - 1)//1)

  defp iodata?(value) do
    is_integer(IO.iodata_length(value))
  rescue
    ArgumentError -> false
  end

  # Runs one call in a process of its own: it must end within a second.
  defp call_bounded(module, fun, args) do
    task =
      Task.async(fn ->
        try do
          case apply(module, fun, args) do
            {:error, _} -> :error_tuple
            other -> {:returned, other}
          end
        rescue
          ArgumentError -> :argument_error
          other -> {:raised, other}
        catch
          kind, reason -> {kind, reason}
        end
      end)

    case Task.yield(task, 1_000) || Task.shutdown(task, :brutal_kill) do
      {:ok, outcome} -> outcome
      nil -> :hung
    end
  end

  defp covered?(module, calls, except) do
    exported = module.__info__(:functions) |> Enum.reject(fn {_, arity} -> arity == 0 end)
    called = for {fun, args} <- calls, do: {fun, length(args)}
    exported -- (called ++ except)
  end

  test "PLPMTUD: every function raises ArgumentError for every bad argument" do
    {:ok, p} = PLPMTUD.new()
    {:ok, bystander} = PLPMTUD.new()
    calls = elixir_calls(p)
    assert covered?(PLPMTUD, calls, []) == []
    assert misbehaving(PLPMTUD, calls, &all_positions/1) == []
    # Nothing reached the prober: it is as new.
    assert %{state: :disabled, mtu: 576} = PLPMTUD.info(p)
    assert PLPMTUD.stats(p) |> Map.values() |> Enum.all?(&(&1 == 0))
    assert PLPMTUD.check(p) == :ok
    assert PLPMTUD.core_version() =~ ~r/^\d+\.\d+\.\d+$/
    assert is_integer(PLPMTUD.now_ms())
    # Another prober works as ever.
    assert [{:search_started, 1500}, {:probe_due, 1038, 1010}] = PLPMTUD.connected(bystander, 0)
    :ok = PLPMTUD.probe_sent(bystander, 0, 1038, 0)

    assert [{:probe_acked, 0, 1038, 1}, {:mtu_changed, 576, 1038, :probe_acked, 1010} | _] =
             PLPMTUD.acked(bystander, 0, 1)

    assert PLPMTUD.mtu(bystander) == 1038
  end

  test "plpmtud (Erlang): every export raises badarg or returns an error tuple" do
    {:ok, h} = :plpmtud.new(%{packet_overhead: 28})
    calls = erlang_calls(h)
    exported = :plpmtud.module_info(:exports) -- [module_info: 0, module_info: 1, now_ms: 0]
    assert exported -- for({fun, args} <- calls, do: {fun, length(args)}) == []
    assert misbehaving(:plpmtud, calls, &all_positions/1) == []
    assert %{state: :disabled, packet_size: 528, probe_size: :none} = :plpmtud.info(h)
    assert :plpmtud.info(h).stats |> Map.values() |> Enum.all?(&(&1 == 0))
    :ok = :plpmtud.connected(h, 0)
    assert :probe = :plpmtud.on_send(h, 0, 990, 0)
    assert {:changed, 990} = :plpmtud.on_ack(h, 0, 990, 1)
  end

  test "PLPMTUD.Prober: bad arguments raise in the caller; the prober lives on untouched" do
    {:ok, prober} = Prober.start_link(config: [packet_overhead: 28])
    calls = prober_calls(prober)

    queries_and_callbacks = [
      child_spec: 1,
      start_link: 1,
      mtu: 1,
      payload_size: 1,
      state: 1,
      stats: 1,
      history: 1,
      info: 1,
      handle: 1,
      probe_now: 1,
      subscribe: 1,
      unsubscribe: 1,
      init: 1,
      handle_call: 3,
      handle_cast: 2,
      handle_info: 2,
      handle_continue: 2,
      terminate: 2,
      code_change: 3,
      __struct__: 1
    ]

    assert covered?(Prober, calls, queries_and_callbacks) == []
    assert misbehaving(Prober, calls, &Enum.drop(all_positions(&1), 1)) == []
    assert %{state: :searching, mtu: 576} = Prober.info(prober)
    assert Prober.stats(prober).stale_events == 0
    assert :sys.get_state(prober).subscribers == %{}
    :ok = Prober.probe_sent(prober, 5, 1038)

    assert [{:probe_acked, 5, 1038, _}, {:mtu_changed, 576, 1038, :probe_acked, 990} | _] =
             Prober.acked(prober, 5)

    assert Prober.mtu(prober) == 1038

    for options <- [[config: :nope], [config: [mtu_floor: :big]], [clock: 1], [colour: :red]] do
      assert call_bounded(Prober, :start_link, [options]) == :argument_error, inspect(options)
    end
  end
end
