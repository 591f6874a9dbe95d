defmodule PLPMTUD.StartFailureTest do
  use ExUnit.Case, async: true

  alias PLPMTUD.{Prober, Responder, Socket}

  @missing_netns "plpmtud-no-such-netns"

  # Runs `start` in a process that does not trap exits and lives on for a
  # while after it: returns what `start` returned, and fails when the
  # process died (an exit through the link of a process that stopped).
  defp survives(start) do
    parent = self()

    {pid, ref} =
      spawn_monitor(fn ->
        {:trap_exit, false} = Process.info(self(), :trap_exit)
        result = start.()
        send(parent, {:result, self(), result})
        Process.sleep(200)
      end)

    assert_receive {:DOWN, ^ref, :process, ^pid, reason}, 5_000
    assert reason == :normal, "the caller died: #{inspect(reason)}"
    assert_received {:result, ^pid, result}
    result
  end

  defp responder! do
    responder = start_supervised!({Responder, port: 0, ip: {127, 0, 0, 1}})
    {_ip, port} = Responder.address(responder)
    port
  end

  describe "Prober.start_link/1" do
    test "a host name that does not resolve is {:error, reason}, the caller lives on" do
      assert {:error, :nxdomain} =
               survives(fn -> Prober.start_link(peer: {"no-such.invalid", 4000}) end)

      assert {:error, :nxdomain} =
               survives(fn -> Prober.start_link(peer: {~c"no-such.invalid", 4000}) end)
    end

    test "a missing netns is {:error, :enoent}, the caller lives on" do
      start = fn ->
        Prober.start_link(peer: {{127, 0, 0, 1}, 4000}, socket_options: [netns: @missing_netns])
      end

      assert {:error, :enoent} = survives(start)
    end

    test "a configuration out of range is {:error, reason}, the caller lives on" do
      start = fn -> Prober.start_link(peer: {"localhost", 4000}, config: [mtu_floor: 2000]) end
      assert {:error, {:invalid_config, :mtu_floor, _}} = survives(start)
    end

    test "under a supervisor, a host name that does not resolve is a start failure" do
      assert {:error, {:nxdomain, _}} = start_supervised({Prober, peer: {"no-such.invalid", 1}})
    end

    for host <- ["localhost", ~c"localhost"] do
      test "the host name #{inspect(host)} is resolved and probed on loopback" do
        port = responder!()
        config = [probe_timeout_mode: :fixed, probe_timeout: 200]

        prober =
          start_supervised!(
            {Prober, peer: {unquote(host), port}, config: config, subscribe: [self()]}
          )

        assert_receive {:plpmtud, ^prober, {:search_complete, mtu}}, 10_000
        assert mtu == Prober.packet_size(prober)
        assert %{unit: :ip, packet_ip: ^mtu} = Prober.info(prober)
        assert [%{peer: {{127, 0, 0, 1}, ^port}}] = probers_of(prober)

        {:ok, {{127, 0, 0, 1}, ^port}} =
          Socket.peername(:sys.get_state(prober).source_state.socket)
      end
    end
  end

  describe "Responder.start_link/1" do
    test "a port in use is {:error, {:open_failed, :eaddrinuse}}, the caller lives on" do
      port = responder!()
      start = fn -> Responder.start_link(port: port, ip: {127, 0, 0, 1}) end
      assert {:error, {:open_failed, :eaddrinuse}} = survives(start)
    end

    test "a missing netns is {:error, {:open_failed, :enoent}}, the caller lives on" do
      start = fn -> Responder.start_link(port: 0, netns: @missing_netns) end
      assert {:error, {:open_failed, :enoent}} = survives(start)
    end

    test "under a supervisor, a port in use is a start failure" do
      port = responder!()

      assert {:error, {{:open_failed, :eaddrinuse}, _}} =
               start_supervised(
                 Supervisor.child_spec({Responder, port: port, ip: {127, 0, 0, 1}}, id: :second)
               )
    end

    test "unknown options raise ArgumentError in the caller" do
      assert_raise ArgumentError, ~r/colour/, fn -> Responder.start_link(colour: :red) end
    end
  end

  defp probers_of(prober) do
    for {pid, peer} <- Registry.lookup(PLPMTUD.Registry, :probers),
        pid == prober,
        do: %{peer: peer}
  end
end
