defmodule PLPMTUD.TelemetryTest do
  # Not async: it loads and unloads a module named :telemetry for the node.
  use ExUnit.Case, async: false

  import ExUnit.CaptureLog

  alias PLPMTUD.{Prober, Socket}

  @sender [size_unit: :ip, probe_timeout_mode: :fixed, probe_timeout: 50, mtu_probe_interval: 200]
  @key {__MODULE__, :listener}

  # A stand-in for the telemetry package, loaded only here: forwards every
  # event to the test process that registered itself.
  defp load_telemetry! do
    [{:telemetry, _}] =
      Code.compile_quoted(
        quote do
          defmodule :telemetry do
            @moduledoc false
            def execute(event, measurements, metadata) do
              case :persistent_term.get(unquote(@key), nil) do
                pid when is_pid(pid) -> send(pid, {:telemetry, event, measurements, metadata})
                nil -> :ok
              end

              :ok
            end
          end
        end
      )

    :persistent_term.put(@key, self())

    on_exit(fn ->
      :persistent_term.erase(@key)
      :code.purge(:telemetry)
      :code.delete(:telemetry)
      :code.purge(:telemetry)
    end)
  end

  defp path(path_mtu) do
    spawn_link(fn -> path_loop(path_mtu) end)
  end

  defp path_loop(path_mtu) do
    receive do
      {:path_mtu, mtu} ->
        path_loop(mtu)

      {:probe, prober, id, size} ->
        if size <= path_mtu, do: Prober.on_ack(prober, id, size)
        path_loop(path_mtu)
    end
  end

  defp start_with_path(path_mtu, config) do
    path = path(path_mtu)

    sender = fn size ->
      id = System.unique_integer([:positive])
      send(path, {:probe, self(), id, size})
      {:ok, id}
    end

    prober =
      start_supervised!({Prober, config: config, probe_sender: sender, subscribe: [self()]})

    {prober, path}
  end

  defp flush do
    receive do
      _ -> flush()
    after
      0 -> :ok
    end
  end

  test "without a :telemetry module nothing is emitted and nothing fails" do
    refute PLPMTUD.Telemetry.available?()
    assert :ok = PLPMTUD.Telemetry.execute([:plpmtud, :test], %{}, %{})
    {prober, _} = start_with_path(1200, Keyword.put(@sender, :mtu_ceiling, 1300))
    assert_receive {:plpmtud, ^prober, {:search_complete, _}}, 2_000
    refute_received {:telemetry, _, _, _}
  end

  test "prober events: mtu_changed, search_complete, black_hole, ptb rejected" do
    load_telemetry!()
    assert PLPMTUD.Telemetry.available?()
    config = Keyword.merge(@sender, mtu_ceiling: 1400, mtu_probe_interval: 60_000)
    {prober, path} = start_with_path(1400, config)

    assert_receive {:telemetry, [:plpmtud, :prober, :mtu_changed],
                    %{mtu: new, previous_mtu: old} = measurements,
                    %{prober: ^prober, peer: nil, reason: :probe_acked}},
                   2_000

    assert new > old
    assert map_size(measurements) == 2

    assert_receive {:telemetry, [:plpmtud, :prober, :search_complete], %{mtu: mtu},
                    %{prober: ^prober, peer: nil}},
                   2_000

    assert mtu in 1384..1400

    # A PTB quoting no probe of ours is rejected.
    assert [{:ptb, 1000, verdict} | _] = Prober.on_ptb(prober, 1000, 123_456_789)
    assert verdict != :accepted

    assert_receive {:telemetry, [:plpmtud, :ptb, :rejected], %{mtu: 1000},
                    %{prober: ^prober, verdict: ^verdict}}

    send(path, {:path_mtu, 1200})
    flush()

    log =
      capture_log(fn ->
        for seq <- 1..3 do
          assert {[], _} = Prober.on_lost(prober, [{seq, mtu}], :timeout)
          Process.sleep(55)
        end

        assert_receive {:telemetry, [:plpmtud, :prober, :black_hole], %{lost_mtu: ^mtu},
                        %{prober: ^prober}},
                       2_000

        assert_receive {:plpmtud, ^prober, {:search_complete, _}}, 3_000
      end)

    assert log =~ "black hole confirmed"
    assert log =~ inspect(prober)
  end

  test "fallback: an event each time, a Logger warning at most once a minute" do
    load_telemetry!()

    log =
      capture_log(fn ->
        {prober, _} = start_with_path(100, @sender)

        assert_receive {:telemetry, [:plpmtud, :prober, :fallback],
                        %{mtu: 576, next_search_in_ms: 400}, %{prober: ^prober}},
                       2_000

        assert_receive {:telemetry, [:plpmtud, :prober, :fallback],
                        %{mtu: 576, next_search_in_ms: 800}, %{prober: ^prober}},
                       3_000

        # The console backend writes asynchronously: give a second warning
        # time to show.
        _ = Prober.info(prober)
        Process.sleep(200)
      end)

    assert [_one] = Regex.scan(~r/fell back to MTU 576/, log)
  end

  test "a send the kernel refuses as too big: [:plpmtud, :socket, :emsgsize]" do
    load_telemetry!()
    {:ok, server} = Socket.open(0, ip: {127, 0, 0, 1})
    {:ok, {_, port}} = Socket.sockname(server)
    {:ok, socket} = Socket.open(0, ip: {127, 0, 0, 1}, connect: {{127, 0, 0, 1}, port}, df: :do)
    big = :binary.copy(<<0>>, 66_000)

    assert {:error, {:emsgsize, _}} = Socket.send(socket, big)

    assert_receive {:telemetry, [:plpmtud, :socket, :emsgsize], %{size: 66_000},
                    %{socket: ^socket, dest: nil}}

    assert {:error, {:emsgsize, _}} = Socket.send_to(socket, {127, 0, 0, 1}, port, big)

    assert_receive {:telemetry, [:plpmtud, :socket, :emsgsize], %{size: 66_000},
                    %{socket: ^socket, dest: {{127, 0, 0, 1}, ^port}}}

    assert :ok = Socket.send(socket, "fits")
    refute_receive {:telemetry, _, _, _}, 50
  end
end
