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
      {:config, [%{}]},
      {:connected, [p]},
      {:connected, [p, 0]},
      {:connected, [p, 0, %{hint: 1400}]},
      {:packet_size, [p]},
      {:probe_size, [p]},
      {:base_size, [p]},
      {:probe_padding, [p, 500]},
      {:on_send, [p, 1, 1038]},
      {:on_send, [p, 1, 1038, 0]},
      {:on_send, [p, 1, 1038, "quote", 0]},
      {:on_ack, [p, 1, 1038]},
      {:on_ack, [p, 1, 1038, 0]},
      {:on_lost, [p, [{1, 1038}], :timeout]},
      {:on_lost, [p, [1], :dup_ack, 0]},
      {:on_ptb, [p, 900, 1]},
      {:on_ptb, [p, 900, "quote", 0]},
      {:on_send_refused, [p, nil, {:emsgsize, 1300}, 1400]},
      {:on_send_refused, [p, nil, {:emsgsize, nil}, 1400, 0]},
      {:on_rtt, [p, 10]},
      {:on_tick, [p]},
      {:on_tick, [p, 0]},
      {:deadline, [p]},
      {:set_enabled, [p, true]},
      {:set_enabled, [p, true, 0]},
      {:probe_now, [p]},
      {:probe_now, [p, 0]},
      {:info, [p]}
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
      {:connected, [h, 0, %{socket: s}]},
      {:connected, [h, 0, %{hint: 1000}]},
      {:probe_padding, [h, 500]},
      {:on_rtt, [h, 12]},
      {:on_lost, [h, [{1, 500}], :sack, 0]},
      {:on_send_refused, [h, s, :emsgsize, 1400, 0]},
      {:on_send_refused, [h, {s, {{127, 0, 0, 1}, port}}, :emsgsize, 1400, 0]},
      {:on_send_refused, [h, :undefined, {:emsgsize, 1300}, 1400, 0]},
      {:packet_size, [h]},
      {:base_size, [h]},
      {:probe_size, [h]},
      {:on_send, [h, 1, 990, 0]},
      {:on_send, [h, 1, 990, "quote", 0]},
      {:on_ack, [h, 1, 990, 0]},
      {:on_tick, [h, 0]},
      {:on_ptb, [h, 900, :undefined, 0]},
      {:on_ptb, [h, 900, "quote", 0]},
      {:deadline, [h]},
      {:set_enabled, [h, false, 0]},
      {:probe_now, [h, 0]},
      {:info, [h]}
    ]
  end

  # The Prober's client functions (the server argument is tested apart).
  defp prober_calls(server) do
    [
      {:set_enabled, [server, true]},
      {:subscribe, [server, self()]},
      {:unsubscribe, [server, self()]},
      {:on_send, [server, 1, 1038]},
      {:on_ack, [server, 1, 1038]},
      {:on_lost, [server, [{1, 1038}], :timeout]},
      {:on_rtt, [server, 10]},
      {:on_ptb, [server, 900, 1]},
      {:on_send_refused, [server, 1400, 1300]}
    ]
  end

  # Values a position takes by design: a quote is any binary, a loss batch
  # of bare numbers is a list of integers, and the socket of a refusal
  # that carries the kernel's MTU is not used.
  defp valid?(fun, args, position, value) do
    quote? =
      (fun == :on_send and is_binary(Enum.at(args, position))) or
        (fun == :on_ptb and position == 2)

    (quote? and is_binary(value)) or (fun == :on_lost and position == 1 and value == [1, 2]) or
      (fun == :on_send_refused and position == 1 and match?({:emsgsize, _}, Enum.at(args, 2)))
  end

  # Every call with each position replaced by each bad value: the outcomes
  # other than ArgumentError (or an error tuple from a constructor). A pid
  # is a valid subscriber.
  defp misbehaving(module, calls, positions) do
    for {fun, args} <- calls,
        position <- positions.(args),
        value <- bad_values(),
        not (is_pid(value) and fun in [:subscribe, :unsubscribe]),
        not valid?(fun, args, position, value),
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
    assert %{state: :disabled, packet_ip: 576} = PLPMTUD.info(p)
    assert PLPMTUD.info(p).stats |> Map.values() |> Enum.all?(&(&1 == 0))
    assert PLPMTUD.info(p).invariants == :ok
    assert PLPMTUD.core_version() =~ ~r/^\d+\.\d+\.\d+$/
    assert is_integer(PLPMTUD.now_ms())
    # Another prober works as ever.
    assert [{:search_started, 1472}, {:probe_due, 1010}] = PLPMTUD.connected(bystander, 0)
    :probe = PLPMTUD.on_send(bystander, 0, 1010, 0)

    assert [{:probe_acked, 0, 1010, 1}, {:mtu_changed, 548, 1010, :probe_acked} | _] =
             PLPMTUD.on_ack(bystander, 0, 1010, 1)

    assert PLPMTUD.packet_size(bystander) == 1010
  end

  test "plpmtud_socket's gen_udp helpers raise badarg for every bad argument" do
    {:ok, sink} = :gen_udp.open(0, [:binary, ip: {127, 0, 0, 1}])
    {:ok, port} = :inet.port(sink)
    {:ok, s} = :gen_udp.open(0, [:binary, ip: {127, 0, 0, 1}, active: false])
    :ok = :gen_udp.connect(s, {127, 0, 0, 1}, port)

    calls = [
      {:set_df, [s, :probe]},
      {:df, [s]},
      {:kernel_mtu, [s]},
      {:kernel_mtu, [s, {{127, 0, 0, 1}, port}]},
      {:send_fragmentable, [s, "x"]},
      {:send_fragmentable, [s, {{127, 0, 0, 1}, port}, "x"]}
    ]

    assert misbehaving(:plpmtud_socket, calls, &all_positions/1) == []
  end

  test "plpmtud (Erlang): every export raises badarg or returns an error tuple" do
    {:ok, h} = :plpmtud.new(%{packet_overhead: 28})
    calls = erlang_calls(h)
    exported = :plpmtud.module_info(:exports) -- [module_info: 0, module_info: 1, now_ms: 0]
    assert exported -- for({fun, args} <- calls, do: {fun, length(args)}) == []
    assert misbehaving(:plpmtud, calls, &all_positions/1) == []
    assert %{state: :disabled, packet: 528, probe: nil} = :plpmtud.info(h)
    assert :plpmtud.info(h).stats |> Map.values() |> Enum.all?(&(&1 == 0))
    [_ | _] = :plpmtud.connected(h, 0)
    assert :probe = :plpmtud.on_send(h, 0, 990, 0)
    assert [_, {:mtu_changed, 528, 990, :probe_acked} | _] = :plpmtud.on_ack(h, 0, 990, 1)
  end

  test "PLPMTUD.Prober: bad arguments raise in the caller; the prober lives on untouched" do
    {:ok, prober} = Prober.start_link(config: [packet_overhead: 28])
    calls = prober_calls(prober)

    queries_and_callbacks = [
      child_spec: 1,
      start_link: 1,
      packet_size: 1,
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
    assert %{state: :searching, packet_ip: 576} = Prober.info(prober)
    assert Prober.info(prober).stats.stale_events == 0
    assert :sys.get_state(prober).subscribers == %{}
    :probe = Prober.on_send(prober, 5, 990)

    assert [{:probe_acked, 5, 990, _}, {:mtu_changed, 528, 990, :probe_acked} | _] =
             Prober.on_ack(prober, 5, 990)

    assert Prober.packet_size(prober) == 990

    for options <- [[config: :nope], [config: [mtu_floor: :big]]] do
      assert call_bounded(Prober, :start_link, [options]) == :error_tuple, inspect(options)
    end

    for options <- [[clock: 1], [colour: :red]] do
      assert call_bounded(Prober, :start_link, [options]) == :argument_error, inspect(options)
    end
  end
end
