defmodule PLPMTUD.ProberSendFailureTest do
  use ExUnit.Case, async: false

  alias PLPMTUD.{Prober, Responder, Socket}
  alias PLPMTUD.Test.Lab

  @moduletag :netns
  @moduletag timeout: 60_000

  # A short heartbeat: a prober that retried at its heartbeat pace instead
  # of backing off would show it too.
  @heartbeat 20

  defp start_prober(ns) do
    start_supervised!({Responder, netns: ns.server}, id: :responder)

    start_supervised!(
      {Prober,
       [
         peer: {Lab.addresses().server4, Responder.default_port()},
         heartbeat: @heartbeat,
         socket_options: [netns: ns.client],
         config: [probe_timeout_mode: :fixed, probe_timeout: 100],
         subscribe: [self()]
       ]},
      restart: :temporary
    )
  end

  defp nft!(ns, script) do
    path = Path.join(System.tmp_dir!(), "#{ns}.nft")
    File.write!(path, script)

    try do
      {out, status} =
        System.cmd("ip", ["netns", "exec", ns, "nft", "-f", path], stderr_to_stdout: true)

      assert status == 0, out
    after
      File.rm(path)
    end
  end

  defp drain_send_failed(prober, count \\ 0) do
    receive do
      {:plpmtud, ^prober, {:send_failed, _}} -> drain_send_failed(prober, count + 1)
    after
      0 -> count
    end
  end

  test "sends refused by the kernel (EPERM) are retried once a second, not in a loop" do
    ns = Lab.up!("plsf")
    prober = start_prober(ns)
    assert_receive {:plpmtud, ^prober, {:search_complete, 1350}}, 5_000

    # Every datagram the client sends to the responder is dropped on the way
    # out: sendmsg answers EPERM for each heartbeat and probe.
    nft!(ns.client, """
    table inet plsf {
      chain out {
        type filter hook output priority 0; policy accept;
        udp dport #{Responder.default_port()} drop
      }
    }
    """)

    assert_receive {:plpmtud, ^prober, {:send_failed, :eperm}}, 1_000
    _ = drain_send_failed(prober)
    {:reductions, before} = Process.info(prober, :reductions)
    Process.sleep(2_000)
    {:reductions, later} = Process.info(prober, :reductions)
    failed = drain_send_failed(prober)

    # One retry a second: 2 in 2 s, 3 with the edges (was ~1 850).
    assert failed in 1..3, "#{failed} send_failed events in 2 s"
    assert later - before < 50_000, "#{later - before} reductions in 2 s"

    # Sends work again: heartbeats resume and the prober keeps its PLPMTU.
    nft!(ns.client, "delete table inet plsf\n")
    Process.sleep(1_500)
    assert drain_send_failed(prober) <= 1
    assert Prober.packet_size(prober) == 1350
    assert Process.alive?(prober)
  end

  test "a prober whose socket is closed under it exits, telling its subscribers" do
    ns = Lab.up!("plsc")
    prober = start_prober(ns)
    assert_receive {:plpmtud, ^prober, {:search_complete, 1350}}, 5_000
    ref = Process.monitor(prober)

    socket = :sys.get_state(prober).source_state.socket
    :ok = Socket.close(socket)

    assert_receive {:plpmtud, ^prober, {:send_failed, :closed}}, 1_000
    assert_receive {:DOWN, ^ref, :process, ^prober, {:shutdown, :socket_closed}}, 1_000
    assert drain_send_failed(prober) == 0
  end
end
