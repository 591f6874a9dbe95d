defmodule PLPMTUD.ProberTest do
  use ExUnit.Case, async: true

  alias PLPMTUD.Prober

  @fast [probe_timeout_mode: :fixed, probe_timeout: 20, mtu_probe_interval: 300]

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
        :ok = Prober.probe_sent(prober, id, size)
        send(parent, {:sent, size})
        if size <= path_mtu, do: Prober.acked(prober, id)
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

  test "search completes with a simulated responder and keeps the result" do
    prober = start_connected(1400, @fast)
    assert_receive {:event, {:search_complete, mtu}}, 3_000
    assert mtu in 1384..1400
    assert Prober.mtu(prober) == mtu
    assert Prober.state(prober) == :search_complete
    assert Prober.payload_size(prober) == mtu - 28
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
    assert Prober.state(prober) == :error
    assert Prober.mtu(prober) == 576
    assert Prober.stats(prober).fallbacks == 1
  end

  test "re-probe after the interval keeps the current MTU until a larger one is confirmed" do
    prober = start_connected(1400, @fast)
    assert_receive {:event, {:search_complete, mtu}}, 3_000
    assert_receive {:sent, _}, 1_000
    assert Prober.mtu(prober) == mtu
    assert_receive {:event, {:search_complete, ^mtu}}, 3_000
    assert Prober.stats(prober).searches_completed >= 2
  end

  test "disabled discovery never asks for a probe and keeps the fixed size" do
    prober =
      start_connected(
        1500,
        Keyword.merge(@fast, mtu_discovery_enabled: false, disabled_mtu: 1344)
      )

    refute_receive {:sent, _}, 300
    assert Prober.mtu(prober) == 1344
    assert Prober.state(prober) == :disabled
    assert Prober.probe_now(prober) == false
    :ok = Prober.set_enabled(prober, true)
    assert_receive {:sent, 1038}, 1_000
  end

  test "a subscriber that exits is dropped and the prober lives on" do
    prober = start_supervised!({Prober, config: @fast, connected: false})
    subscriber = spawn(fn -> Process.sleep(:infinity) end)
    :ok = Prober.subscribe(prober, subscriber)
    :ok = Prober.subscribe(prober)
    Process.exit(subscriber, :kill)
    Process.sleep(20)
    assert map_size(:sys.get_state(prober).subscribers) == 1
    assert Prober.probe_now(prober) == false
    :ok = Prober.unsubscribe(prober)
    assert :sys.get_state(prober).subscribers == %{}
  end

  test "a named prober is restarted by its supervisor" do
    name = :"prober_#{System.unique_integer([:positive])}"
    start_supervised!({Prober, name: name, config: @fast})
    old = Process.whereis(name)
    Process.exit(old, :kill)
    Process.sleep(50)
    new = Process.whereis(name)
    assert is_pid(new) and new != old
    assert Prober.state(name) == :searching
  end

  test "invalid configuration is refused with a precise error" do
    Process.flag(:trap_exit, true)

    assert {:error, {:invalid_config, :mtu_floor, "mtu_floor must be at most 1500, got 2000"}} =
             Prober.start_link(config: [mtu_floor: 2000])

    assert_raise ArgumentError, ~r/unknown plpmtud option/, fn ->
      Prober.start_link(config: [mtu_flor: 1])
    end
  end
end
