defmodule PLPMTUD.ProberTest do
  use ExUnit.Case, async: true

  alias PLPMTUD.Prober

  # Sizes in IP bytes (the RFC's numbers); the payload unit is the facade's tests' business.
  @fast [size_unit: :ip, probe_timeout_mode: :fixed, probe_timeout: 20, mtu_probe_interval: 300]
  # A probe timeout with room for a busy machine.
  @sender [size_unit: :ip, probe_timeout_mode: :fixed, probe_timeout: 50, mtu_probe_interval: 200]

  # A transport stand-in: answers {:probe_due, size} by sending the probe and
  # acknowledging it when it fits `path_mtu`; lost ones time out in the prober.
  defp transport(path_mtu) do
    parent = self()

    spawn_link(fn ->
      receive do
        {:prober, prober} -> transport_loop(prober, path_mtu, parent, 1)
      end
    end)
  end

  defp transport_loop(prober, path_mtu, parent, id) do
    receive do
      {:plpmtud, ^prober, {:probe_due, size}} ->
        :probe = Prober.on_send(prober, id, size)
        send(parent, {:sent, size})

        if size <= path_mtu,
          do: [{:probe_acked, ^id, ^size, _rtt} | _] = Prober.on_ack(prober, id, size)

        transport_loop(prober, path_mtu, parent, id + 1)

      {:plpmtud, ^prober, event} ->
        send(parent, {:event, event})
        transport_loop(prober, path_mtu, parent, id)
    end
  end

  defp start_connected(path_mtu, config) do
    t = transport(path_mtu)
    prober = start_supervised!({Prober, config: config, subscribe: [t]})
    # Events sent before this wait in the transport's mailbox.
    send(t, {:prober, prober})
    prober
  end

  # A path that carries `path_mtu` bytes and answers each probe that fits by
  # calling Prober.on_ack/3 (after `delay` ms); bigger probes vanish. The path
  # MTU can change: {:path_mtu, mtu}. Tells the test process what it saw.
  # No delay by default: a sleep is a timer, and a machine busy enough to
  # fire it late (a CPU quota exhausted by a concurrent build stalls timers
  # for 100+ ms) would have the prober time the probe out first.
  defp responder(path_mtu, delay \\ 0) do
    parent = self()
    spawn_link(fn -> responder_loop(path_mtu, delay, parent) end)
  end

  defp responder_loop(path_mtu, delay, parent) do
    receive do
      {:path_mtu, mtu} ->
        responder_loop(mtu, delay, parent)

      {:probe, prober, id, size} ->
        send(parent, {:sent, size})

        if size <= path_mtu do
          if delay > 0, do: Process.sleep(delay)
          Prober.on_ack(prober, id, size)
        end

        responder_loop(path_mtu, delay, parent)
    end
  end

  # A probe sender over `responder`: runs in the prober process.
  defp sender(responder) do
    fn size ->
      id = System.unique_integer([:positive])
      send(responder, {:probe, self(), id, size})
      {:ok, id}
    end
  end

  defp start_with_sender(path_mtu, config, extra \\ []) do
    r = responder(path_mtu, Keyword.get(extra, :delay, 0))

    options =
      [config: config, probe_sender: sender(r), subscribe: [self()]]
      |> Keyword.merge(Keyword.delete(extra, :delay))

    {start_supervised!({Prober, options}), r}
  end

  # Polls `fun` every 5 ms until it returns a truthy value, for at most `ms`.
  defp eventually(fun, ms \\ 1_000) do
    Enum.reduce_while(1..div(ms, 5), nil, fn _, _ ->
      case fun.() do
        falsy when falsy in [nil, false] ->
          Process.sleep(5)
          {:cont, nil}

        value ->
          {:halt, value}
      end
    end) || flunk("condition not met within #{ms} ms")
  end

  describe "fed by a transport ({:probe_due, size})" do
    test "search completes with a simulated responder and keeps the result" do
      prober = start_connected(1400, @fast)
      assert_receive {:event, {:search_complete, mtu}}, 3_000
      assert mtu in 1384..1400
      assert Prober.packet_size(prober) == mtu
      assert %{state: :search_complete, packet_ip: ^mtu, overhead: 28} = Prober.info(prober)
    end

    test "three timeouts of a size lower the ceiling; one does not" do
      prober = start_connected(1000, @fast)
      assert_receive {:sent, 1038}, 1_000
      assert_receive {:sent, 1038}, 1_000
      assert_receive {:sent, 1038}, 1_000
      assert_receive {:sent, 806}, 1_000
      assert Prober.info(prober).limit == 1037
      assert_receive {:event, {:search_complete, mtu}}, 3_000
      assert mtu in 984..1000
    end

    test "fallback after three failed sizes and a failed check, with the interval doubled" do
      prober = start_connected(100, @fast)
      assert_receive {:event, {:fallback, 576, 600}}, 3_000
      assert Prober.info(prober).state == :error
      assert Prober.packet_size(prober) == 576
      assert Prober.info(prober).stats.fallbacks == 1
    end

    test "re-probe after the interval keeps the current MTU until a larger one is confirmed" do
      prober = start_connected(1400, @fast)
      assert_receive {:event, {:search_complete, mtu}}, 3_000
      flush()
      assert_receive {:sent, _}, 1_000
      assert Prober.packet_size(prober) == mtu
      assert_receive {:event, {:search_complete, ^mtu}}, 3_000
      assert Prober.info(prober).stats.searches_completed >= 2
    end

    test "disabled discovery never asks for a probe and keeps the fixed size" do
      prober =
        start_connected(
          1500,
          Keyword.merge(@fast, mtu_discovery_enabled: false, disabled_mtu: 1344)
        )

      refute_receive {:sent, _}, 300
      assert Prober.packet_size(prober) == 1344
      assert Prober.info(prober).state == :disabled
      assert Prober.probe_now(prober) == []

      assert Prober.set_enabled(prober, true) == [
               {:mtu_changed, 1344, 576, :initial},
               {:search_started, 1500},
               {:probe_due, 1038}
             ]

      assert_receive {:event, {:mtu_changed, 1344, 576, :initial}}, 1_000
      assert_receive {:event, {:search_started, 1500}}, 1_000
      assert_receive {:sent, 1038}, 1_000
    end

    test "a due size is announced once, and again after its probe is lost" do
      prober = start_supervised!({Prober, config: @fast, subscribe: [self()]})
      assert_receive {:plpmtud, ^prober, {:search_started, 1500}}, 500
      assert_receive {:plpmtud, ^prober, {:probe_due, 1038}}, 500
      assert Prober.on_ack(prober, 3, 600) == []
      refute_received {:plpmtud, ^prober, {:probe_due, _}}
      assert Prober.on_send(prober, 7, 1038) == :probe
      assert_receive {:plpmtud, ^prober, {:probe_lost, 7, 1038, :timeout}}, 500
      assert_receive {:plpmtud, ^prober, {:probe_due, 1038}}, 100
      assert Prober.info(prober).stats.probes_lost_timeout == 1
    end
  end

  describe "with a probe sender" do
    test "search to completion; subscribers see every change, never a :probe_due" do
      # Answers 3 ms after each probe, like a path across a LAN; nothing is
      # lost below the ceiling, so the long timeout costs nothing.
      config = Keyword.merge(@sender, probe_timeout: 1_000, mtu_ceiling: 1400)
      {prober, _} = start_with_sender(1400, config, delay: 3)
      assert_receive {:plpmtud, ^prober, {:search_started, 1400}}, 1_000
      assert_receive {:plpmtud, ^prober, {:probe_acked, _id, 988, _rtt}}, 1_000
      assert_receive {:plpmtud, ^prober, {:mtu_changed, 576, 988, :probe_acked}}, 1_000
      assert_receive {:plpmtud, ^prober, {:search_complete, mtu}}, 3_000
      assert mtu in 1384..1400
      assert_received {:plpmtud, ^prober, {:mtu_changed, _, ^mtu, :probe_acked}}
      refute_received {:plpmtud, ^prober, {:probe_due, _}}
      assert %{packet: ^mtu, state: :search_complete} = Prober.info(prober)

      assert %{probes_sent: n, probes_acked: n, probes_lost_timeout: 0} =
               Prober.info(prober).stats
    end

    test "a size lost three times lowers the ceiling; the MTU never exceeds the path" do
      {prober, _} = start_with_sender(1000, @sender)
      for _ <- 1..3, do: assert_receive({:sent, 1038}, 500)
      assert_receive {:sent, 806}, 500
      assert Prober.info(prober).limit == 1037
      assert Prober.info(prober).stats.probes_lost_timeout == 3
      assert_receive {:plpmtud, ^prober, {:search_complete, mtu}}, 3_000
      assert mtu in 984..1000

      assert [] ==
               for({:plpmtud, _, {:mtu_changed, _, new, _}} <- flush(), new > 1000, do: new)
    end

    test "fallback after three failed sizes, then the next search waits the doubled interval" do
      {prober, _} = start_with_sender(100, @sender)
      assert_receive {:plpmtud, ^prober, {:fallback, 576, 400}}, 2_000
      fell_back_at = System.monotonic_time(:millisecond)
      flush()
      assert %{state: :error, packet: 576} = Prober.info(prober)
      assert_receive {:sent, 1038}, 1_000
      waited = System.monotonic_time(:millisecond) - fell_back_at
      assert waited >= 390, "searched again after #{waited} ms"
      assert_receive {:plpmtud, ^prober, {:fallback, 576, 800}}, 2_000
      assert Prober.info(prober).stats.fallbacks == 2
    end

    test "re-probe after the interval keeps the old MTU meanwhile and finds a larger one" do
      {prober, responder} = start_with_sender(1200, Keyword.put(@sender, :mtu_ceiling, 1300))
      assert_receive {:plpmtud, ^prober, {:search_complete, old}}, 2_000
      assert old in 1184..1200
      flush()

      # The path is unchanged: every larger size fails, and the MTU stays put.
      assert_receive {:sent, size}, 1_000
      assert size > old
      assert Prober.packet_size(prober) == old
      assert Prober.info(prober).state == :searching
      assert_receive {:plpmtud, ^prober, {:search_complete, ^old}}, 2_000
      assert [] == for({:plpmtud, _, {:mtu_changed, _, _, _}} = m <- flush(), do: m)
      assert Prober.info(prober).stats.searches_completed == 2

      # The path grows: the next re-probe finds it.
      send(responder, {:path_mtu, 1300})
      assert_receive {:plpmtud, ^prober, {:search_complete, new}}, 2_000
      assert new in 1284..1300

      for {:plpmtud, ^prober, {:mtu_changed, _, mtu, _}} <- flush(),
          do: assert(mtu > old, "dropped to #{mtu} while re-probing")
    end

    test "full-size data lost in three bursts: a black hole is confirmed and the search restarts" do
      # No re-probe in between: starting a search clears the loss bursts.
      config = Keyword.merge(@sender, mtu_ceiling: 1400, mtu_probe_interval: 60_000)
      {prober, responder} = start_with_sender(1400, config)
      assert_receive {:plpmtud, ^prober, {:search_complete, mtu}}, 2_000
      send(responder, {:path_mtu, 1200})

      # Bursts are told apart by the probe timeout (50 ms).
      for seq <- 1..3 do
        assert {[], _} = Prober.on_lost(prober, [{seq, mtu}], :timeout)
        Process.sleep(55)
      end

      assert_receive {:plpmtud, ^prober, {:black_hole_suspected, ^mtu}}, 2_000
      assert_receive {:plpmtud, ^prober, {:black_hole_confirmed, ^mtu}}, 2_000
      assert_receive {:plpmtud, ^prober, {:mtu_changed, ^mtu, 576, :black_hole}}, 100
      assert_receive {:plpmtud, ^prober, {:search_complete, new}}, 3_000
      assert new in 1184..1200
      assert %{black_hole_checks: 1, black_holes: 1} = Prober.info(prober).stats
    end

    test "disabled: the sender is never called and the fixed size holds" do
      config = Keyword.merge(@sender, mtu_discovery_enabled: false, disabled_mtu: 1344)
      {prober, _} = start_with_sender(1500, config)
      refute_receive {:sent, _}, 300

      assert %{packet: 1344, state: :disabled, packet_ip: 1344, overhead: 28} =
               Prober.info(prober)

      assert Prober.info(prober).stats.probes_sent == 0
    end

    test "a sender that fails is reported and retried" do
      test = self()

      failing = fn size ->
        send(test, {:asked, size})
        {:error, :ehostunreach}
      end

      prober =
        start_supervised!({Prober, config: @sender, probe_sender: failing, subscribe: [self()]})

      assert_receive {:plpmtud, ^prober, {:send_failed, :ehostunreach}}, 500
      assert_receive {:asked, 1038}, 100
      assert_receive {:asked, 1038}, 1_500
      assert Prober.info(prober).stats.probes_sent == 0
    end
  end

  test "the :clock option stamps every event; timers follow it" do
    clock = :atomics.new(1, signed: false)
    :atomics.put(clock, 1, 1_000)
    test = self()

    sender = fn size ->
      send(test, {:probe, size})
      {:ok, 1}
    end

    prober =
      start_supervised!(
        {Prober, config: @fast, clock: fn -> :atomics.get(clock, 1) end, probe_sender: sender}
      )

    assert_receive {:probe, 1038}, 500
    assert Prober.info(prober).deadline == 1_020
    # The clock stands still: the probe never times out.
    Process.sleep(60)
    assert Prober.info(prober).stats.probes_lost_timeout == 0
    :atomics.put(clock, 1, 1_020)
    assert_receive {:probe, 1038}, 500
    assert Prober.info(prober).stats.probes_lost_timeout == 1
    :atomics.put(clock, 1, 1_025)
    assert [{:probe_acked, 1, 1038, 5} | _] = Prober.on_ack(prober, 1, 1038)
    assert [_, %{at: 1_025, old: 576, new: 1038}] = Prober.info(prober).history
  end

  test "handle/1 reads the prober without a process hop" do
    {prober, _} = start_with_sender(1400, @sender)
    assert_receive {:plpmtud, ^prober, {:search_complete, mtu}}, 3_000
    handle = Prober.handle(prober)
    assert PLPMTUD.packet_size(handle) == mtu
    assert PLPMTUD.packet_size(handle) == Prober.packet_size(prober)
    assert PLPMTUD.probe_size(handle) == nil
  end

  test "a subscriber that exits is dropped and the prober lives on" do
    config = Keyword.put(@fast, :disabled_mtu, 1344)
    prober = start_supervised!({Prober, config: config, connected: false})
    subscriber = spawn(fn -> Process.sleep(:infinity) end)
    :ok = Prober.subscribe(prober, subscriber)
    :ok = Prober.subscribe(prober)
    :ok = Prober.subscribe(prober)
    ref = Process.monitor(subscriber)
    Process.exit(subscriber, :kill)
    assert_receive {:DOWN, ^ref, :process, ^subscriber, :killed}
    assert eventually(fn -> map_size(:sys.get_state(prober).subscribers) == 1 end)
    assert Prober.probe_now(prober) == []
    assert Prober.set_enabled(prober, false) == [{:mtu_changed, 576, 1344, :disabled}]
    assert_receive {:plpmtud, ^prober, {:mtu_changed, 576, 1344, :disabled}}, 100
    :ok = Prober.unsubscribe(prober)
    assert :sys.get_state(prober).subscribers == %{}
    assert Process.alive?(prober)
  end

  test "a subscriber that dies while events flow does not take the prober down" do
    subscriber = spawn(fn -> Process.sleep(:infinity) end)
    r = responder(1400)

    prober =
      start_supervised!(
        {Prober, config: @sender, probe_sender: sender(r), subscribe: [subscriber, self()]}
      )

    Process.exit(subscriber, :kill)
    assert_receive {:plpmtud, ^prober, {:search_complete, _}}, 3_000
    assert Map.keys(:sys.get_state(prober).subscribers) == [self()]
  end

  test "a named prober is restarted by its supervisor and found under its name" do
    name = :"prober_#{System.unique_integer([:positive])}"
    start_supervised!({Prober, name: name, config: @fast})
    old = Process.whereis(name)
    Process.exit(old, :kill)
    new = eventually(fn -> (pid = Process.whereis(name)) && pid != old && pid end)
    assert Prober.info(name).state == :searching
    assert Prober.packet_size(new) == 576
  end

  test "an unnamed prober is restarted by its supervisor" do
    {:ok, sup} = Supervisor.start_link([{Prober, config: @fast}], strategy: :one_for_one)
    [{Prober, old, :worker, _}] = Supervisor.which_children(sup)
    Process.exit(old, :kill)

    new =
      eventually(fn ->
        case Supervisor.which_children(sup) do
          [{Prober, pid, :worker, _}] when is_pid(pid) and pid != old -> pid
          _ -> nil
        end
      end)

    assert Prober.info(new).state == :searching
    Supervisor.stop(sup)
  end

  test "invalid configuration is refused with a precise error" do
    # Refused in the caller: no process starts, and the caller (not
    # trapping exits) lives on.
    assert {:error, {:invalid_config, :mtu_floor, "mtu_floor must be at most 1500, got 2000"}} =
             Prober.start_link(config: [mtu_floor: 2000])

    refute_receive {:EXIT, _, _}

    assert {:error, {:invalid_config, :mtu_flor, "unknown plpmtud option mtu_flor"}} =
             Prober.start_link(config: [mtu_flor: 1])

    assert {:error, {:invalid_config, :mtu_floor, "mtu_floor must be" <> _}} =
             Prober.start_link(config: [mtu_floor: "576"])

    assert_raise ArgumentError, ~r/:clock/, fn -> Prober.start_link(clock: 5) end
    assert_raise ArgumentError, ~r/:probe_sender/, fn -> Prober.start_link(probe_sender: :no) end
    assert_raise ArgumentError, ~r/unknown keys/, fn -> Prober.start_link(colour: :red) end
  end

  test "under a supervisor, a bad configuration is a start failure with the reason" do
    assert {:error, {{:invalid_config, :mtu_floor, _}, _}} =
             start_supervised({Prober, config: [mtu_floor: 2000]})

    assert {:error, {{:invalid_config, :mtu_flor, _}, _}} =
             start_supervised({Prober, config: [mtu_flor: 1]})
  end

  defp flush do
    receive do
      message -> [message | flush()]
    after
      0 -> []
    end
  end

  test "fed by a transport: the calls mirror the facade's, with its answers and checks" do
    prober = start_supervised!({Prober, config: @fast, subscribe: [self()]})
    assert_receive {:plpmtud, ^prober, {:probe_due, 1038}}, 500
    assert Prober.on_send(prober, 9, 1000) == :normal
    assert Prober.on_send(prober, 7, 1038) == :probe

    assert {[7], [{:probe_lost, 7, 1038, :dup_ack}, {:probe_due, 1038}]} =
             Prober.on_lost(prober, [{9, 1000}, 7], :sack)

    assert_receive {:plpmtud, ^prober, {:probe_lost, 7, 1038, :dup_ack}}, 100
    assert Prober.on_send(prober, 8, 1038) == :probe
    assert Prober.on_ptb(prober, 900, 8) == [{:ptb, 900, :accepted}, {:probe_due, 900}]
    assert Prober.on_send(prober, 10, 900) == :probe
    assert [{:emsgsize, 800, :accepted} | _] = Prober.on_send_refused(prober, 900, 800)
    assert Prober.on_rtt(prober, 5) == :ok
    assert Prober.info(prober).invariants == :ok
    assert_raise ArgumentError, fn -> Prober.on_lost(prober, [{1, -1}], :sack) end
    assert_raise ArgumentError, fn -> Prober.on_lost(prober, [1], :eaten) end
    assert_raise ArgumentError, fn -> Prober.on_ptb(prober, 900, :x) end
    assert_raise ArgumentError, fn -> Prober.on_send_refused(prober, 900, -1) end
  end
end
